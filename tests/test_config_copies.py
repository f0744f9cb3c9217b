"""Configs, copies and summaries: get_config/from_config, __repr__, pickling and deepcopy of every layer and of
Sequential, and model.summary() (the contract's section "Configuration, copies, summary")."""

from __future__ import annotations

import copy
import json
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import rnnfast as rf

FEATURES = 4


def layer_makers():
    """(id, make(input_size)) for a layer of every class and the variants that change its weights or engine."""
    return [
        ("simple_rnn", lambda d: rf.SimpleRNN(5, input_size=d, return_sequences=True)),
        ("simple_rnn_relu_ln", lambda d: rf.SimpleRNN(5, activation="relu", layer_norm=True, input_size=d)),
        ("lstm", lambda d: rf.LSTM(6, input_size=d, return_sequences=True)),
        ("lstm_peephole_ln", lambda d: rf.LSTM(6, peephole=True, layer_norm=True, input_size=d)),
        ("lstm_dropout", lambda d: rf.LSTM(6, dropout=0.3, recurrent_dropout=0.2, seed=4, input_size=d)),
        ("gru", lambda d: rf.GRU(5, input_size=d, return_sequences=True, go_backwards=True)),
        ("gru_reset_before", lambda d: rf.GRU(5, reset_after=False, input_size=d)),
        ("gru_ln_float64", lambda d: rf.GRU(5, layer_norm=True, dtype="float64", input_size=d)),
        ("bidirectional", lambda d: rf.Bidirectional(rf.LSTM(4, return_sequences=True, input_size=d),
                                                     merge_mode="ave")),
        ("dense", lambda d: rf.Dense(3, activation="tanh", input_size=d)),
        ("time_distributed", lambda d: rf.TimeDistributed(rf.Dense(3, input_size=d))),
    ]


MAKERS = layer_makers()
IDS = [name for name, _ in MAKERS]


def run(layer, x):
    out = layer(x)
    return out if isinstance(out, np.ndarray) else np.concatenate([np.ravel(o) for o in out])


def inputs(dtype="float32", batch=3, time=7):
    return np.random.default_rng(0).normal(size=(batch, time, FEATURES)).astype(dtype)


@pytest.mark.parametrize("make", [m for _, m in MAKERS], ids=IDS)
@pytest.mark.parametrize("built", [False, True])
def test_config_round_trip(make, built):
    layer = make(FEATURES if built else None)
    config = layer.get_config()
    json.dumps(config)  # JSON-serialisable
    other = type(layer).from_config(config)
    assert type(other) is type(layer)
    assert other.get_config() == config
    assert other.built == layer.built
    assert repr(other) == repr(layer)
    if built:
        assert {k: v.shape for k, v in other.get_weights().items()} == {k: v.shape for k, v in
                                                                         layer.get_weights().items()}


def test_repr_names_the_options_that_differ_from_their_defaults():
    assert repr(rf.LSTM(8)) == "LSTM(8)"
    assert repr(rf.LSTM(8, peephole=True, layer_norm=True, dropout=0.25, input_size=3)) == \
        "LSTM(8, input_size=3, dropout=0.25, layer_norm=True, peephole=True)"
    assert repr(rf.SimpleRNN(2, activation="relu")) == "SimpleRNN(2, activation='relu')"
    assert repr(rf.GRU(2, reset_after=False, dtype="float64")) == "GRU(2, dtype='float64', reset_after=False)"
    assert repr(rf.Dense(1)) == "Dense(1)" and repr(rf.Dense(1, activation="relu")) == "Dense(1, activation='relu')"
    assert repr(rf.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(rf.Bidirectional(rf.GRU(3), merge_mode="sum")) == "Bidirectional(GRU(3), merge_mode='sum')"
    assert repr(rf.TimeDistributed(rf.Dense(2))) == "TimeDistributed(Dense(2))"
    variants = [rf.LSTM(4), rf.LSTM(4, peephole=True), rf.LSTM(4, layer_norm=True), rf.LSTM(4, dropout=0.1),
                rf.LSTM(4, recurrent_dropout=0.1), rf.LSTM(4, stateful=True), rf.LSTM(4, unit_forget_bias=False)]
    assert len({repr(v) for v in variants}) == len(variants)


def test_names_as_keras_gives_them():
    first, second = rf.LSTM(3), rf.LSTM(3)
    assert first.name.startswith("lstm") and second.name.startswith("lstm_") and first.name != second.name
    assert rf.SimpleRNN(2).name.startswith("simple_rnn") and rf.TimeDistributed(rf.Dense(1)).name.startswith(
        "time_distributed")
    assert all(other.name == first.name for other in copies(first))
    after = rf.LSTM(3)  # copies take no number of their own
    assert int(after.name.rsplit("_", 1)[1]) == int(second.name.rsplit("_", 1)[1]) + 1


def test_user_subclasses_of_any_name():
    class LSTM(rf.LSTM):
        pass

    class Custom(rf.Dense):
        pass

    class Custom(rf.Dense):  # noqa: F811 (a notebook cell run twice)
        pass

    assert LSTM(2).name.startswith("lstm") and isinstance(Custom(1), rf.Dense)


def test_every_layer_is_a_layer():
    for _, make in MAKERS:
        assert isinstance(make(FEATURES), rf.Layer)
    assert isinstance(rf.Embedding(5, 2), rf.Layer)


def test_sequential_config_round_trip():
    model = rf.Sequential([rf.Embedding(20, 4), rf.LSTM(6, return_sequences=True, layer_norm=True),
                           rf.Bidirectional(rf.GRU(3)), rf.Dense(2, activation="softmax")])
    config = model.get_config()
    json.dumps(config)
    other = rf.Sequential.from_config(config)
    assert other.get_config() == config
    assert [type(layer) for layer in other.layers] == [type(layer) for layer in model.layers]
    with pytest.raises(ValueError, match="layers"):
        rf.Sequential.from_config({"layer": []})
    with pytest.raises(ValueError, match="unknown class"):
        rf.Sequential.from_config({"layers": [{"class": "Conv1D", "config": {}}]})


def copies(obj):
    return [pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)]


def shares_buffers(a, b):
    return any(np.shares_memory(u, v) for u in a.trainable_weights.values() for v in b.trainable_weights.values())


@pytest.mark.parametrize("make", [m for _, m in MAKERS], ids=IDS)
def test_copies_predict_bit_identically(make):
    layer = make(FEATURES)
    x = inputs(layer.get_config().get("dtype", "float32") if "dtype" in layer.get_config() else "float32")
    expected = run(layer, x)
    for other in copies(layer):
        assert not shares_buffers(layer, other)
        assert np.array_equal(run(other, x), expected)
        assert all(np.array_equal(v, other.get_weights()[k]) for k, v in layer.get_weights().items())


@pytest.mark.parametrize("make", [m for _, m in MAKERS], ids=IDS)
def test_unbuilt_copies_build_alike(make):
    layer = make(None)
    for other in copies(layer):
        assert not other.built
        assert other.get_config() == layer.get_config()


def test_equal_layers_give_equal_results_wherever_their_buffers_sit():
    """Layers with equal weights, built at different times (their engines' buffers elsewhere in memory), give
    bit-identical outputs and gradients."""
    x = inputs(batch=5, time=9)
    for options in ({}, {"layer_norm": True}, {"layer_norm": True, "peephole": True}):
        layers = [rf.LSTM(7, return_sequences=True, input_size=FEATURES, **options) for _ in range(6)]
        for layer in layers[1:]:
            layer.set_weights(layers[0].get_weights())
        outs = [layer(x, training=True) for layer in layers]
        grads = [layer.backward(np.ones_like(outs[0])) for layer in layers]
        for out, g in zip(outs[1:], grads[1:]):
            assert np.array_equal(out, outs[0])
            assert all(np.array_equal(g[k], grads[0][k]) for k in ("x", "kernel", "recurrent_kernel", "bias"))


def test_copies_carry_states_and_dropout_generator():
    x = inputs()
    stateful = rf.GRU(5, stateful=True, input_size=FEATURES)
    stateful(x)
    for other in copies(stateful):
        assert np.array_equal(other.states[0], stateful.states[0])
        assert np.array_equal(other(x), copy.deepcopy(stateful)(x))
    dropping = rf.LSTM(6, dropout=0.4, recurrent_dropout=0.3, seed=2, input_size=FEATURES)
    dropping(x, training=True)
    for other in copies(dropping):
        with pytest.raises(ValueError, match="backward"):
            other.backward(np.zeros((3, 6)))  # a copy has no pending backward
        other(x, training=True)
        twin = copy.deepcopy(dropping)
        twin(x, training=True)
        assert all(np.array_equal(other.dropout_masks[k], twin.dropout_masks[k]) for k in twin.dropout_masks)
    streaming = rf.LSTM(4, input_size=FEATURES)
    streaming.step(x[:, 0])
    for other in copies(streaming):
        assert np.array_equal(other.step(x[:, 1]), copy.deepcopy(streaming).step(x[:, 1]))


def compiled_model():
    rng = np.random.default_rng(1)
    x, y = inputs(batch=8), rng.normal(size=(8, 2))
    model = rf.Sequential([rf.LSTM(6, return_sequences=True, layer_norm=True), rf.GRU(5), rf.Dense(2)])
    model.compile("mse", rf.optimizers.Adam(1e-2, clipnorm=1.0))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    return model, x, y


def test_model_copies_predict_and_train_alike():
    model, x, y = compiled_model()
    expected = model.predict(x)
    for other in copies(model):
        assert np.array_equal(other.predict(x), expected)
        assert other.optimizer.iterations == model.optimizer.iterations
        assert other.optimizer.get_config() == model.optimizer.get_config()
        state, other_state = model.optimizer.get_state(), other.optimizer.get_state()
        assert sorted(state) == sorted(other_state)
        assert all(np.array_equal(state[k], other_state[k]) for k in state)
        for a, b in zip(model.layers, other.layers):
            assert not shares_buffers(a, b)
    first, second = copy.deepcopy(model), copy.deepcopy(model)
    h1 = first.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False).history
    h2 = second.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False).history
    assert h1 == h2
    assert np.array_equal(first.predict(x), second.predict(x))
    assert np.array_equal(model.predict(x), expected)  # the original is untouched by its copies' training


def _predict_in_child(model, x):
    return model.predict(x)


def test_model_goes_to_a_process_pool():
    model, x, _ = compiled_model()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert np.array_equal(pool.submit(_predict_in_child, model, x).result(), model.predict(x))


def test_summary_rows_and_totals():
    model = rf.Sequential([rf.LSTM(8, return_sequences=True, input_size=3), rf.Bidirectional(rf.GRU(4)),
                           rf.Dense(2)])
    model(inputs()[..., :3])
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for layer in model.layers:
        assert f"{layer.name} ({type(layer).__name__})" in text
    for shape in ("(None, None, 8)", "(None, 8)", "(None, 2)"):
        assert shape in text
    counts = [layer.count_params() for layer in model.layers]
    assert counts == [4 * 8 * (3 + 8 + 1), 2 * 3 * 4 * (8 + 4 + 2), 8 * 2 + 2]
    assert f"Total params: {sum(counts):,}" in text and model.count_params() == sum(counts)
    unbuilt = rf.Sequential([rf.Embedding(30, 4), rf.GRU(3, return_sequences=True), rf.GRU(3)])
    lines.clear()
    unbuilt.summary(print_fn=lines.append)
    assert all(f"{layer.name} (" in "\n".join(lines) for layer in unbuilt.layers)
    assert len({layer.name for layer in unbuilt.layers}) == 3


class CountingCell:
    """A NumPy cell with a config: h_t = tanh(x_t·W + h_{t-1}·U)."""

    state_size = 3

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def get_config(self):
        return {"scale": self.scale}

    def build(self, input_size, rng):
        self.w = {"kernel": rng.normal(size=(input_size, 3)) * self.scale, "recurrent_kernel": np.eye(3) * 0.5}

    def get_weights(self):
        return dict(self.w)

    def set_weights(self, weights):
        self.w = {k: np.array(v) for k, v in weights.items()}

    def step(self, x_t, states):
        h = np.tanh(x_t @ self.w["kernel"] + states[0] @ self.w["recurrent_kernel"])
        return [h], (x_t, states[0], h)

    def step_backward(self, d_new, cache):
        x_t, h_prev, h = cache
        da = d_new[0] * (1 - h * h)
        return (da @ self.w["kernel"].T, [da @ self.w["recurrent_kernel"].T],
                {"kernel": x_t.T @ da, "recurrent_kernel": h_prev.T @ da})


def test_custom_cell_weights_set_on_the_cell_survive_training():
    layer = rf.RNN(CountingCell(), input_size=FEATURES, return_sequences=True, dtype="float64")
    model = rf.Sequential([layer, rf.Dense(1, dtype="float64")])
    model.compile("mse", rf.optimizers.SGD(1e-12))
    x = inputs(dtype="float64")
    model.summary(print_fn=lambda _: None)  # reads every layer's weights
    layer.cell.set_weights({"kernel": np.full((FEATURES, 3), 0.25), "recurrent_kernel": np.eye(3) * 0.1})
    model.train_on_batch(x, np.zeros((3, 7, 1)))
    np.testing.assert_allclose(layer.get_weights()["kernel"], 0.25, atol=1e-9)


def test_custom_cell_config_and_copies():
    layer = rf.RNN(CountingCell(0.5), input_size=FEATURES, return_sequences=True, seed=3)
    config = layer.get_config()
    json.dumps(config)
    assert config["cell"]["config"] == {"scale": 0.5}
    rebuilt = rf.RNN.from_config(config)
    assert isinstance(rebuilt.cell, CountingCell) and rebuilt.cell.scale == 0.5
    x = inputs(dtype="float64")
    for other in copies(layer):
        assert np.array_equal(other(x), layer(x))
    with pytest.raises(ValueError, match="not a class of cells"):
        rf.RNN.from_config({**config, "cell": {"class": "os.system", "config": {}}})
