"""The engine against the pure-NumPy reference, on random cases with every option.

Tolerances: float64 rtol 1e-10 / atol 1e-12; float32 atol 2e-5 (single-precision rounding over ≤ 12 steps).
"""

import numpy as np
import pytest
import reference
from conftest import make_layer

import rnnfast as rf

OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_sequences": True, "time_major": True},
    {"return_sequences": True, "go_backwards": True},
    {"go_backwards": True, "time_major": True},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("use_state", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_matches_reference(cell, options, use_lengths, use_state, dtype):
    rng = np.random.default_rng(7)
    batch, time, features, units = 4, 9, 5, 6
    layer = make_layer(cell, units, features, dtype=dtype, return_state=True, **options)
    shape = (time, batch, features) if options.get("time_major") else (batch, time, features)
    x = rng.normal(size=shape)
    n_states = 2 if cell[3] == "lstm" else 1
    state = [rng.normal(size=(batch, units)) * 0.5 for _ in range(n_states)] if use_state else None
    lengths = np.array([9, 1, 0, 5]) if use_lengths else None

    out, *finals = layer(x, initial_state=state, lengths=lengths)
    ref_out, ref_finals = reference.run(
        cell[3], {k: v.astype(np.float64) for k, v in layer.get_weights().items()}, x,
        initial_state=state, lengths=lengths, **options, **cell[4],
    )
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 0, "atol": 2e-5}
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, ref_out, **tol)
    for got, want in zip(finals, ref_finals):
        np.testing.assert_allclose(got, want, **tol)


def test_long_sequence_matches_reference(cell):
    rng = np.random.default_rng(3)
    layer = make_layer(cell, 8, 3, return_sequences=True)
    x = rng.normal(size=(2, 200, 3))
    ref, _ = reference.run(cell[3], layer.get_weights(), x, return_sequences=True, **cell[4])
    np.testing.assert_allclose(layer(x), ref, rtol=1e-9, atol=1e-11)


ONE_SEQUENCE_OPTIONS = [
    {"return_sequences": True},
    {},
    {"return_sequences": True, "go_backwards": True, "time_major": True},
]


@pytest.mark.parametrize("options", ONE_SEQUENCE_OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize("units", [5, 130])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_sequence_inference_matches_reference(cell, options, units, threads, dtype, restore_threads):
    # Batch-1 inference of a plain cell runs on the stacked-step kernels, its units split among the team when a
    # step is large enough (130 units: LSTM and GRU). 300 steps span three chunks of x·W; 5 and 130 units leave
    # partial SIMD packets. Tolerances as above; float32 atol 2e-4 (300 steps: the layer-normalised LSTM drifts most).
    rng = np.random.default_rng(11)
    rf.set_num_threads(threads)
    layer = make_layer(cell, units, 3, dtype=dtype, return_state=True, **options)
    weights = layer.get_weights()  # U scaled to a contraction, so that rounding does not grow over the steps
    weights["recurrent_kernel"] = weights["recurrent_kernel"] * (2.0 / np.sqrt(units))
    layer.set_weights(weights)
    x = rng.normal(size=(300, 1, 3) if options.get("time_major") else (1, 300, 3))
    n_states = 2 if cell[3] == "lstm" else 1
    state = [rng.normal(size=(1, units)) * 0.5 for _ in range(n_states)]
    out, *finals = layer(x, initial_state=state)
    weights = {k: v.astype(np.float64) for k, v in layer.get_weights().items()}
    ref_out, ref_finals = reference.run(cell[3], weights, x, initial_state=state, **options, **cell[4])
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 0, "atol": 2e-4}
    np.testing.assert_allclose(out, ref_out, **tol)
    for got, want in zip(finals, ref_finals):
        np.testing.assert_allclose(got, want, **tol)
