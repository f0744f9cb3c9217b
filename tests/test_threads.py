"""Threads: the multi-threaded engine, and calls from many Python threads at once.

The team: shapes large enough that a call runs on a team of threads (each thread owns a slice of the units;
H = 72 leaves a partial panel), checked against the one-thread engine, the NumPy reference and directional
finite differences. Tolerances: against one thread, float64 rtol 1e-12 / atol 1e-13 and float32 rtol 1e-5 /
atol 1e-6, atol scaled by each array's largest magnitude (the post-loop products are split differently across
threads); against the reference, float64 rtol 1e-10 / atol 1e-12; directional derivatives (float64, step 1e-6)
rtol 1e-6.

Python threads (the GIL released in every call): inference and training on layers of their own, inference on
one shared layer, streams of their own and copies of one shared C++ model, all give what serial runs give.
THREADS × ROUNDS calls of each kind; float64, tolerance 1e-12 (a call that finds the thread pool busy runs on its
own thread, which may split a product differently from a serial run: rounding, not a race).
"""

import threading

import numpy as np
import pytest
import reference
from conftest import CELLS, make_layer
from test_streaming_model import saved

import rnnfast as rf

BATCH, TIME, FEATURES, UNITS = 13, 23, 5, 72  # 23 steps: three input chunks of 9 steps
OPTIONS = [
    {"return_sequences": True},
    {"return_sequences": True, "go_backwards": True, "time_major": True},
    {"return_sequences": False, "go_backwards": True},
]


def inputs(cell, options, dtype, rng, lengths=True):
    layer = make_layer(cell, UNITS, FEATURES, dtype=dtype, return_state=True, **options)
    # make_layer's ±0.6 weights make 72 units over 23 steps explode; a quarter keeps the dynamics stable.
    layer.set_weights({k: v * 0.25 for k, v in layer.get_weights().items()})
    shape = (TIME, BATCH, FEATURES) if options.get("time_major") else (BATCH, TIME, FEATURES)
    x = rng.normal(size=shape)
    n_states = 2 if cell[3] == "lstm" else 1
    state = [rng.normal(size=(BATCH, UNITS)) * 0.5 for _ in range(n_states)]
    lens = rng.integers(0, TIME + 1, size=BATCH) if lengths else None
    return layer, x, state, lens


def forward_backward(layer, x, state, lengths, seed=5):
    outputs = layer(x, initial_state=state, lengths=lengths, training=True)
    rng = np.random.default_rng(seed)
    seeds = [rng.normal(size=o.shape) for o in outputs]
    return outputs, layer.backward(seeds), seeds


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "last")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_team_matches_one_thread(cell, options, dtype, restore_threads):
    layer, x, state, lengths = inputs(cell, options, dtype, np.random.default_rng(1))
    results = {}
    for threads in (1, 2):
        rf.set_num_threads(threads)
        outputs, grads, _ = forward_backward(layer, x, state, lengths)
        inference = layer(x, initial_state=state, lengths=lengths)
        results[threads] = (outputs, grads, inference)
    (out1, grads1, inf1), (out2, grads2, inf2) = results[1], results[2]

    def same(b, a, name=""):
        scale = float(np.max(np.abs(a), initial=1.0))
        tol = {"rtol": 1e-12, "atol": 1e-13 * scale} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6 * scale}
        np.testing.assert_allclose(b, a, **tol, err_msg=name)

    for a, b in zip(out1 + inf1, out2 + inf2):
        same(b, a)
    for name in grads1:
        pairs = zip(grads1[name], grads2[name]) if name == "initial_state" else [(grads1[name], grads2[name])]
        for a, b in pairs:
            same(b, a, name)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "last")
def test_team_matches_reference(cell, options, restore_threads):
    rf.set_num_threads(2)
    layer, x, state, lengths = inputs(cell, options, "float64", np.random.default_rng(2))
    out, *finals = layer(x, initial_state=state, lengths=lengths)
    ref_out, ref_finals = reference.run(cell[3], layer.get_weights(), x, initial_state=state, lengths=lengths,
                                        **options, **cell[4])
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    for got, want in zip(finals, ref_finals):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_team_directional_derivatives(cell, restore_threads):
    """d/dε L(p + ε v) at ε = 0, by central differences, against Σ grad(p)⊙v, for x, states and every weight."""
    rf.set_num_threads(2)
    rng = np.random.default_rng(3)
    layer, x, state, lengths = inputs(cell, {"return_sequences": True}, "float64", rng)
    _, grads, seeds = forward_backward(layer, x, state, lengths)
    weights = layer.get_weights()

    def loss(x_, state_, weights_):
        layer.set_weights(weights_)
        return sum(float(np.sum(s * o)) for s, o in zip(seeds, layer(x_, initial_state=state_, lengths=lengths)))

    def check(analytic, perturb, value):
        v = rng.normal(size=value.shape)
        numeric = (loss(*perturb(value + 1e-6 * v)) - loss(*perturb(value - 1e-6 * v))) / 2e-6
        np.testing.assert_allclose(numeric, float(np.sum(analytic * v)), rtol=1e-6, atol=1e-8)

    check(grads["x"], lambda p: (p, state, weights), x)
    for k, s in enumerate(state):
        check(grads["initial_state"][k], lambda p, k=k: (x, [p if j == k else s_ for j, s_ in enumerate(state)],
                                                          weights), s)
    for name, value in weights.items():
        check(grads[name], lambda p, name=name: (x, state, {**weights, name: p}), value)


def test_concurrent_calls_from_python_threads(cell, restore_threads):
    """Calls racing for the pool (the loser runs on its own thread) give the same results as serial calls."""
    rf.set_num_threads(2)
    rng = np.random.default_rng(4)
    layers_inputs = [inputs(cell, {"return_sequences": True}, "float64", rng) for _ in range(4)]
    expected = [layer(x, initial_state=s, lengths=n) for layer, x, s, n in layers_inputs]
    got: list = [None] * len(layers_inputs)
    errors: list = []

    def work(i):
        try:
            layer, x, s, n = layers_inputs[i]
            for _ in range(5):
                got[i] = layer(x, initial_state=s, lengths=n)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(layers_inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for want, have in zip(expected, got):
        for a, b in zip(want, have):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)


def test_team_with_dropout_matches_the_reference(cell, restore_threads):
    """Dropout masks on a team: each thread masks its slice of h_{t-1} and of the recurrent gradient."""
    rf.set_num_threads(2)
    options = {"return_sequences": True, "dropout": 0.3, "recurrent_dropout": 0.4}
    layer, x, state, lengths = inputs(cell, options, "float64", np.random.default_rng(4))
    out, *finals = layer(x, initial_state=state, lengths=lengths, training=True)
    masks = layer.dropout_masks
    ref_out, ref_finals = reference.run(cell[3], layer.get_weights(), x, initial_state=state, lengths=lengths,
                                        return_sequences=True, input_mask=masks["input"],
                                        recurrent_mask=masks["recurrent"], **cell[4])
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    for got, want in zip(finals, ref_finals):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    seeds = [np.random.default_rng(5).normal(size=o.shape) for o in (out, *finals)]
    team = layer.backward(seeds)
    rf.set_num_threads(1)
    alone = layer.backward(seeds)  # recomputes the forward with the same masks, on one thread
    for name in ("x", "kernel", "recurrent_kernel", "bias"):
        scale = float(np.max(np.abs(alone[name]), initial=1.0))
        np.testing.assert_allclose(team[name], alone[name], rtol=1e-12, atol=1e-13 * scale, err_msg=name)


# ---- calls from many Python threads at once ----------------------------------------------------------------
THREADS = 8
ROUNDS = 50
TOL = {"rtol": 1e-12, "atol": 1e-12}


def work_items(tmp_path):
    rng = np.random.default_rng(0)
    cells = [CELLS[i % len(CELLS)] for i in range(THREADS)]
    # Large enough steps that serial calls run on the team of threads, small enough to be quick.
    own = [make_layer(c, 96, 8, seed=i, return_sequences=True) for i, c in enumerate(cells)]
    trained = [make_layer(c, 24, 8, seed=100 + i, return_sequences=True, recurrent_dropout=0.2)
               for i, c in enumerate(cells)]
    shared = make_layer(CELLS[2], 96, 8, seed=7, return_sequences=True)
    streamed = [make_layer(c, 16, 8, seed=200 + i) for i, c in enumerate(cells)]
    xs = [rng.normal(size=(6, 15, 8)) for _ in range(THREADS)]
    dys = [rng.normal(size=(6, 15, 24)) for _ in range(THREADS)]
    model = rf.Sequential([rf.GRU(12, return_sequences=True, seed=1, dtype="float64"),
                           rf.Dense(2, seed=2, dtype="float64")])
    model.predict(xs[0])
    model.save(tmp_path / "m.safetensors")
    cpp_model = rf.StreamingModel(tmp_path / "m.safetensors", dtype="float64")
    return own, trained, shared, streamed, xs, dys, cpp_model


def one_round(k, own, trained, shared, streamed, xs, dys, cpp_model):
    """Everything thread k does in one round: fresh state each time, so every round gives the same results."""
    x, dy = xs[k], dys[k]
    layer = trained[k]
    layer._mask_rng = np.random.default_rng([k, 1])  # the same dropout masks in every round
    layer(x, training=True)
    grads = layer.backward(dy)
    streamed[k].reset_step()
    steps = np.stack([streamed[k].step(x[:, t]) for t in range(x.shape[1])], axis=1)
    stream = cpp_model.copy()
    stream.reset()
    cpp_steps = np.concatenate([stream.step(x[k % x.shape[0], t]) for t in range(x.shape[1])])
    return [own[k](x), shared(x), grads["x"], grads["recurrent_kernel"], steps, cpp_steps, cpp_model.predict(x)]


def test_threads_at_once_equal_serial_runs(tmp_path):
    items = work_items(tmp_path)
    serial = [one_round(k, *items) for k in range(THREADS)]
    failures: list[str] = []
    calls = [0] * THREADS
    start = threading.Barrier(THREADS)

    def thread(k):
        start.wait()  # all at once
        for _ in range(ROUNDS):
            got = one_round(k, *items)
            calls[k] += 1
            for i, (g, want) in enumerate(zip(got, serial[k])):
                if not np.allclose(g, want, **TOL):
                    failures.append(f"thread {k}, result {i}: max difference {np.abs(g - want).max():.3g}")
                    return

    threads = [threading.Thread(target=thread, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert sum(calls) == THREADS * ROUNDS


def test_threads_give_the_same_results_as_serial_runs():
    rng = np.random.default_rng(7)
    layer = rf.LSTM(32, input_size=8, return_sequences=True, seed=0)
    inputs = [rng.normal(size=(4, 30, 8)).astype(np.float32) for _ in range(8)]
    serial = [layer(x) for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(5):
            results[i] = layer(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_streams_of_one_model_on_threads(tmp_path):
    _, _, path = saved(tmp_path, "variants", "float64")
    model = rf.StreamingModel(path, dtype="float64")
    signals = [np.sin(np.arange(150)[:, None] * 0.01 * (k + 1) + np.arange(3)) for k in range(6)]

    def run(stream, signal, out, k):
        out[k] = np.concatenate([stream.step(signal[t]) for t in range(len(signal))])

    alone, together = {}, {}
    for k, signal in enumerate(signals):
        run(model.copy(), signal, alone, k)
    threads = [threading.Thread(target=run, args=(model.copy(), s, together, k)) for k, s in enumerate(signals)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A race would differ at the scale of the outputs.
    for k in alone:
        np.testing.assert_allclose(together[k], alone[k], rtol=1e-7, atol=1e-8)
