"""The engine against the pure-NumPy reference, on random cases with every option.

Tolerances: float64 rtol 1e-10 / atol 1e-12; float32 atol 2e-5 (single-precision rounding over ≤ 12 steps).
"""

import numpy as np
import pytest
from conftest import make_layer

import reference

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
