"""Numerical robustness and resources: sequences of 100,000 steps run forward and backward (full BPTT for small
layers, truncated BPTT through fit) without NaN; a float32 state kept by a saturated gate over 10,000 steps stays
within 1e-4 of float64; NaN and inf inputs propagate or are refused on request;
10,000 forward/backward calls grow no memory; an absurdly large call raises MemoryError before allocating."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CELLS, make_layer

import rnnfast as rf
from rnnfast._engine import core as _core

LONG = 100_000


@pytest.mark.parametrize("cell", [c for c in CELLS if c[0] in ("simple_tanh", "lstm", "gru", "lstm_ln",
                                                               "gru_reset_before")], ids=lambda c: c[0])
def test_a_hundred_thousand_steps_forward_and_backward(cell):
    layer = make_layer(cell, 8, 2, dtype="float32", return_sequences=True, return_state=True)
    x = np.random.default_rng(0).normal(size=(2, LONG, 2)).astype(np.float32) * 3
    out, *states = layer(x, training=True)
    assert out.shape == (2, LONG, 8) and np.isfinite(out).all() and all(np.isfinite(s).all() for s in states)
    grads = layer.backward([np.ones_like(out)] + [None] * len(states))
    for name, g in grads.items():
        values = g if name != "initial_state" else np.concatenate(g)
        assert np.isfinite(values).all(), name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("stepped", [False, True], ids=["sequence", "step"])
def test_a_saturated_gate_keeps_the_state_in_float32(cell, stepped):
    # A forget gate (LSTM) or update gate (GRU) at σ(20) keeps the state. float32 rounds σ(20) to 1; a σ that
    # stops short of 1 (by 1.2e-7) would decay the kept state by that much every step: 5.9e-4 (LSTM) and 1.3e-3
    # (GRU) after these 10,000 steps, past the bound below, which rounding alone stays well within.
    H, D, T = 8, 1, 10_000
    rng = np.random.default_rng(0)
    gates = 4 if cell == "lstm" else 3
    kernel = rng.standard_normal((D, gates * H)) * 0.1
    recurrent = rng.standard_normal((H, gates * H)) * 0.01
    if cell == "lstm":
        bias = np.zeros(4 * H)
        bias[:H], bias[H:2 * H], bias[2 * H:3 * H] = 20.0, 20.0, 0.5  # i and f saturated; c grows by tanh(0.5)
    else:
        bias = np.zeros((2, 3 * H))
        bias[0, :H] = 20.0  # z saturated: h_t = h_{t-1}
    x = rng.standard_normal((1, T, D))
    h0 = rng.standard_normal((1, H))
    kept = {}
    for dtype in ("float64", "float32"):
        layer = (rf.LSTM if cell == "lstm" else rf.GRU)(H, input_size=D, return_state=True, dtype=dtype)
        layer.set_weights({"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias})
        state = [h0.astype(dtype)] + ([np.zeros((1, H), dtype)] if cell == "lstm" else [])
        if stepped:
            layer.reset_step(state)
            for t in range(T):
                layer.step(x[:, t].astype(dtype))
            kept[dtype] = np.asarray(layer.step_state[-1], np.float64)
        else:
            kept[dtype] = np.asarray(layer(x.astype(dtype), initial_state=state)[-1], np.float64)
    relative = np.max(np.abs(kept["float32"] - kept["float64"]) / np.abs(kept["float64"]))
    assert relative < 1e-4, relative


def test_a_hundred_thousand_steps_with_truncated_bptt():
    rng = np.random.default_rng(1)
    t = np.arange(LONG + 1)
    series = (np.sin(0.01 * t) + 0.1 * rng.normal(size=t.shape)).astype(np.float32)
    x, y = series[None, :-1, None], series[None, 1:, None]
    model = rf.Sequential([rf.GRU(16, return_sequences=True, seed=0), rf.Dense(1, seed=1)])
    model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.01, clipnorm=1.0))
    history = model.fit(x, y, epochs=1, verbose=0, tbptt_steps=1000)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(model.predict(x)).all()


def test_nan_propagates_and_inf_saturates_by_default():
    """As NumPy's arithmetic: a NaN input makes its sequence NaN from that step on; an infinite one drives the
    gate pre-activations to ±inf, where σ and tanh saturate (finite outputs, unless a weight of 0 meets it)."""
    layer = rf.LSTM(4, input_size=2, return_sequences=True, seed=0)
    x = np.zeros((3, 5, 2), np.float32)
    x[0, 2, 0], x[1, 1, 1] = np.nan, np.inf
    out = layer(x)
    assert np.isnan(out[0, 2:]).all() and not np.isnan(out[0, :2]).any()
    assert np.isfinite(out[1]).all() and np.abs(out[1]).max() <= 1
    np.testing.assert_array_equal(out[2], layer(x[2:])[0])  # other rows: exact


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(_core.sanitized, reason="AddressSanitizer's quarantine holds freed memory on purpose")
@pytest.mark.parametrize("cell", [c for c in CELLS if c[0] in ("lstm", "gru_ln")], ids=lambda c: c[0])
def test_ten_thousand_calls_grow_no_memory(cell):
    layer = make_layer(cell, 16, 4, dtype="float32", return_sequences=True, recurrent_dropout=0.2)
    x = np.random.default_rng(0).normal(size=(4, 12, 4)).astype(np.float32)
    d = np.ones((4, 12, 16), np.float32)
    for _ in range(500):  # warm-up: workspaces sized, allocator pools filled
        layer(x, training=True)
        layer.backward(d)
    before = rss_mib()
    for _ in range(10_000):
        layer(x)
        layer(x, training=True)
        layer.backward(d)
        layer.step(x[:, 0])
    assert rss_mib() - before < 4.0  # a leak of even 1 KB per call would show as ~10 MB


def test_absurd_calls_raise_memory_error_before_allocating():
    layer = rf.LSTM(2048, input_size=1, return_sequences=True)
    x = np.zeros((1, 1_000_000, 1), np.float32)  # training would keep ~61 GiB of activations
    with pytest.raises(MemoryError, match="GiB"):
        layer(x, training=True)
    with pytest.raises(MemoryError):
        rf.LSTM(10**7, input_size=1)  # its weights alone: 400 TB
