"""Dense, TimeDistributed, Embedding and Sequential: gradients against finite differences (float64, step 1e-6,
rtol 1e-6 / atol 1e-8), training runs that must reach a loss threshold, truncated BPTT, callbacks and History."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_gradcheck import numeric_gradient

import rnnfast as rf
from rnnfast._engine import core as _core

TOL = {"rtol": 1e-6, "atol": 1e-8}


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu", "sigmoid", "softmax"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_dense_gradients(activation, ndim):
    rng = np.random.default_rng(0)
    layer = rf.Dense(4, activation=activation, input_size=3, dtype="float64", seed=1)
    layer.set_weights({"kernel": rng.normal(size=(3, 4)), "bias": rng.normal(size=4)})
    x = rng.normal(size=(5, 3) if ndim == 2 else (2, 5, 3))
    seed = rng.normal(size=(*x.shape[:-1], 4))
    layer(x, training=True)
    grads = layer.backward(seed)

    def loss():
        return float(np.sum(seed * layer(x)))

    np.testing.assert_allclose(grads["x"], numeric_gradient(loss, x), **TOL)
    weights = layer.get_weights()
    for name, value in weights.items():
        def weight_loss():
            layer.set_weights(weights)
            return loss()
        np.testing.assert_allclose(grads[name], numeric_gradient(weight_loss, value), **TOL, err_msg=name)
        layer.set_weights(weights)


def test_embedding_and_time_distributed():
    emb = rf.Embedding(7, 3, seed=0, dtype="float64")
    ids = np.array([[1, 2, 1], [6, 0, 1]])
    out = emb(ids, training=True)
    np.testing.assert_array_equal(out, emb.get_weights()["embeddings"][ids])
    g = emb.backward(np.ones((2, 3, 3)))
    assert g["x"] is None
    np.testing.assert_array_equal(g["embeddings"][:, 0], [1, 3, 1, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="ids must be in"):
        emb(np.array([[7]]))
    td = rf.TimeDistributed(rf.Dense(2, input_size=3, seed=0))
    x = np.ones((2, 4, 3), dtype=np.float32)
    np.testing.assert_array_equal(td(x), td.layer(x))
    with pytest.raises(ValueError, match="batch, time, features"):
        td(np.ones((2, 3)))


def model_cases():
    return {
        "lstm_stack": lambda: [rf.LSTM(4, return_sequences=True, seed=1, dtype="float64"),
                               rf.GRU(3, seed=2, dtype="float64"), rf.Dense(2, seed=3, dtype="float64")],
        "embedding_bidirectional": lambda: [rf.Embedding(6, 3, seed=1, dtype="float64"),
                                            rf.Bidirectional(rf.LSTM(3, return_sequences=True, seed=2,
                                                                     dtype="float64"), merge_mode="sum"),
                                            rf.TimeDistributed(rf.Dense(2, activation="tanh", seed=3,
                                                                        dtype="float64"))],
    }


@pytest.mark.parametrize("case", list(model_cases()))
def test_sequential_gradients(case):
    rng = np.random.default_rng(2)
    model = rf.Sequential(model_cases()[case]())
    if case == "embedding_bidirectional":
        x = rng.integers(0, 6, size=(3, 5))
        y = rng.normal(size=(3, 5, 2))
    else:
        x = rng.normal(size=(3, 5, 2))
        y = rng.normal(size=(3, 2))
    lengths = np.array([5, 3, 1])
    model.compile(loss="mse", optimizer="sgd")
    loss_fn = model.loss
    out = model(x, lengths=lengths, training=True)
    _, d_out = loss_fn.value_and_gradient(y, out, model._mask(out, lengths))
    grads = model._backward(d_out)
    params = model._parameters()
    assert set(grads) == set(params)
    for name, value in params.items():
        def loss():
            o = model(x, lengths=lengths)
            return loss_fn(y, o, model._mask(o, lengths))
        np.testing.assert_allclose(grads[name], numeric_gradient(loss, value), **TOL, err_msg=name)


def sine_data(n=600, steps=30, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + steps + 1) * 0.2
    s = np.sin(t) + 0.5 * np.sin(2.3 * t) + 0.05 * rng.normal(size=t.size)
    x = np.stack([s[i:i + steps] for i in range(n)])[..., None].astype(np.float32)
    return x, s[steps:steps + n, None].astype(np.float32)


def test_training_reaches_a_loss_threshold():
    x, y = sine_data()
    model = rf.Sequential([rf.GRU(16, seed=0), rf.Dense(1, seed=1)])
    model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.01, clipnorm=1.0))
    history = model.fit(x[:500], y[:500], batch_size=32, epochs=8, validation_data=(x[500:], y[500:]), verbose=0,
                        seed=0)
    naive = float(np.mean((x[500:, -1] - y[500:]) ** 2))
    assert history.history["val_loss"][-1] < 0.5 * naive  # a GRU beats "the next value is the last one"
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x[500:], y[500:]) == pytest.approx(history.history["val_loss"][-1], rel=1e-6)
    assert model.predict(x[:7], batch_size=3).shape == (7, 1)


def test_classification_with_embedding_and_accuracy():
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 8, size=(400, 12))
    labels = (ids == 3).any(axis=1).astype(np.int64)  # does token 3 occur?
    model = rf.Sequential([rf.Embedding(8, 8, seed=0), rf.LSTM(16, seed=1), rf.Dense(2, seed=2)])
    model.compile(loss=rf.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=rf.optimizers.Adam(0.02), metrics=["accuracy"])
    history = model.fit(ids[:300], labels[:300], epochs=10, batch_size=32, validation_data=(ids[300:], labels[300:]),
                        verbose=0, seed=1)
    assert history.history["val_accuracy"][-1] > 0.9
    _loss, accuracy = model.evaluate(ids[300:], labels[300:])
    assert accuracy == pytest.approx(history.history["val_accuracy"][-1])


def test_tbptt_with_one_chunk_equals_full_bptt_and_carries_state():
    x, y = sine_data(n=64, steps=20)
    targets = np.concatenate([x[:, 1:, 0], y], axis=1)[..., None].astype(np.float64)  # the next value, every step

    def layers():
        return (rf.LSTM(8, return_sequences=True, input_size=1, seed=0, dtype="float64"),
                rf.Dense(1, input_size=8, seed=1, dtype="float64"))

    results = []
    for steps in (None, 20, 5):
        model = rf.Sequential(layers())
        model.compile(loss="mse", optimizer=rf.optimizers.SGD(0.1))
        model.fit(x, targets, batch_size=64, epochs=1, shuffle=False, verbose=0, tbptt_steps=steps)
        results.append(model.get_weights())
    for a, b in zip(results[0], results[1]):  # one chunk of the whole sequence: the same single step
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14)
    # Chunks of 5 by hand: each chunk starts from the state the previous one ended in, is backpropagated alone
    # (the gradient reaching its initial state is dropped) and gets its own optimiser step.
    lstm, dense = layers()
    lstm.return_state = True
    optimizer, mse = rf.optimizers.SGD(0.1), rf.losses.MeanSquaredError()
    state = None
    for start in range(0, 20, 5):
        out, h, c = lstm(x[:, start:start + 5], initial_state=state, training=True)
        _, d = mse.value_and_gradient(targets[:, start:start + 5], dense(out, training=True))
        g_dense = dense.backward(d)
        g_lstm = lstm.backward([g_dense["x"], None, None])
        live = {"lstm": lstm.trainable_weights, "dense": dense.trainable_weights}
        params = {f"{layer}/{k}": v for layer, weights in live.items() for k, v in weights.items()}
        grads = {f"lstm/{k}": g_lstm[k] for k in live["lstm"]} | {f"dense/{k}": g_dense[k] for k in live["dense"]}
        optimizer.apply(params, grads)
        lstm.weights_updated()
        dense.weights_updated()
        state = [h, c]
    for got, want in zip(results[2], [lstm.get_weights(), dense.get_weights()]):
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(_core.sanitized, reason="AddressSanitizer's shadow memory and quarantine swamp the measurement")
def test_tbptt_memory_is_bounded_by_the_chunk():
    script = """
import json, numpy as np, rnnfast as rf
from pathlib import Path
def kib(f):
    return int(next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith(f)).split()[1])
x = np.random.default_rng(0).normal(size=(8, 20000, 1)).astype(np.float32)
y = np.roll(x, -1, axis=1)
model = rf.Sequential([rf.LSTM(64, return_sequences=True, seed=0), rf.Dense(1, seed=1)])
model.compile(loss="mse", optimizer="adam")
model.fit(x[:, :200], y[:, :200], epochs=1, verbose=0, tbptt_steps=100)
base = kib("VmRSS:")
Path("/proc/self/clear_refs").write_text("5")
model.fit(x, y, epochs=1, verbose=0, batch_size=8, tbptt_steps=100)
print(json.dumps({"growth_mib": (kib("VmHWM:") - base) / 1024}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    growth = json.loads(done.stdout.strip().splitlines()[-1])["growth_mib"]
    # Full BPTT would keep 20000 steps × 8 rows × (4 gates + 2 states) × 64 units × 4 bytes ≈ 250 MiB.
    assert growth < 40, growth


def test_early_stopping_history_and_errors():
    x, y = sine_data(n=200)
    model = rf.Sequential([rf.SimpleRNN(4, seed=0), rf.Dense(1, seed=1)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y)
    model.compile(loss="mae", optimizer=rf.optimizers.SGD(1e-9))  # learns nothing: no improvement
    stopper = rf.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, verbose=0, callbacks=[stopper])
    assert len(history.epoch) < 20 and stopper.stopped_epoch is not None
    assert set(history.history) == {"loss"}
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="return_state"):
        rf.Sequential([rf.LSTM(3, return_state=True)])
    with pytest.raises(ValueError, match="accuracy needs"):
        model.compile(loss="mse", metrics=["accuracy"])


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
@pytest.mark.parametrize("losses", [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [3.0, 2.0, 2.5, 2.4, 1.0, 1.5, 1.6, 1.7, 1.8],
                                    [float("nan"), 1.0, 1.0, 1.0, 0.5, 0.6, 0.7]])
def test_early_stopping_stops_at_the_epoch_keras_does(patience, losses):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")

    class Model:  # what both callbacks use of a model
        stop_training = False

        def get_weights(self):
            return []

        def set_weights(self, weights):
            pass

    def stopped_at(callback) -> int | None:
        model = Model()
        if isinstance(callback, rf.Callback):
            callback.model = model
        else:
            callback.set_model(model)
        callback.on_train_begin()
        for epoch, value in enumerate(losses):
            callback.on_epoch_end(epoch, {"loss": value})
            if model.stop_training:
                return epoch
        return None

    ours = stopped_at(rf.EarlyStopping(monitor="loss", patience=patience, min_delta=0.01))
    theirs = stopped_at(keras.callbacks.EarlyStopping(monitor="loss", patience=patience, min_delta=0.01))
    assert ours == theirs
