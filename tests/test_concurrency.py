"""Many Python threads at once (the GIL released in every call): inference and training on layers of their own,
inference on one shared layer, streams of their own and copies of one shared C++ model, all give what serial
runs give. THREADS × ROUNDS calls of each kind; float64, tolerance 1e-12 (a call that finds the thread pool busy
runs on its own thread, which may split a product differently from a serial run: rounding, not a race)."""

from __future__ import annotations

import threading

import numpy as np
from conftest import CELLS, make_layer

import rnnfast as rf

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
