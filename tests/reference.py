"""A small, slow, obviously-correct NumPy reference of the recurrent layers (forward only).

Written from the equations in docs/guide/layers.md, one sequence and one step at a time, independently of the
engine's whole-sequence schedule. Gradients are checked against finite differences and PyTorch instead.

Dropout: `input_mask` (batch, features) multiplies x_t; `recurrent_mask` (batch, units) multiplies h_{t-1} where
a recurrent kernel reads it (h_in below), never in a GRU's carry z⊙h_{t-1}.
"""

from __future__ import annotations

import numpy as np


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def layer_norm(v, w, prefix, eps=1e-3):
    """γ⊙(v − mean)/sqrt(var + ε) + β over the features, biased variance."""
    centred = v - v.mean()
    return w[prefix + "_gamma"] * centred / np.sqrt((centred**2).mean() + eps) + w[prefix + "_beta"]


def simple_rnn_step(w, x, state, h_in, activation):
    a = x @ w["kernel"] + h_in @ w["recurrent_kernel"] + w["bias"]
    if "ln_gamma" in w:
        a = layer_norm(a, w, "ln")
    return (np.tanh(a) if activation == "tanh" else np.maximum(a, 0.0),)


def lstm_step(w, x, state, h_in):
    h, c = state
    n = h.shape[-1]
    if "ln_x_gamma" in w:
        a = layer_norm(x @ w["kernel"], w, "ln_x") + layer_norm(h_in @ w["recurrent_kernel"], w, "ln_h") + w["bias"]
    else:
        a = x @ w["kernel"] + h_in @ w["recurrent_kernel"] + w["bias"]
    if "peephole_i" in w:  # i and f see c_{t-1}, o sees c_t
        a[:n] += w["peephole_i"] * c
        a[n : 2 * n] += w["peephole_f"] * c
    i, f, g = sigmoid(a[:n]), sigmoid(a[n : 2 * n]), np.tanh(a[2 * n : 3 * n])
    c = f * c + i * g
    o = sigmoid(a[3 * n :] + (w["peephole_o"] * c if "peephole_o" in w else 0.0))
    return o * np.tanh(layer_norm(c, w, "ln_c") if "ln_c_gamma" in w else c), c


def gru_step(w, x, state, h_in, reset_after):
    (h,) = state
    n = h.shape[-1]
    k, u = w["kernel"], w["recurrent_kernel"]
    if reset_after:
        xw, hu = x @ k, h_in @ u
        if "ln_x_gamma" in w:
            xw, hu = layer_norm(xw, w, "ln_x"), layer_norm(hu, w, "ln_h")
        xw, hu = xw + w["bias"][0], hu + w["bias"][1]
        z = sigmoid(xw[:n] + hu[:n])
        r = sigmoid(xw[n : 2 * n] + hu[n : 2 * n])
        hh = np.tanh(xw[2 * n :] + r * hu[2 * n :])
    else:
        xw = x @ k + w["bias"]
        z = sigmoid(xw[:n] + h_in @ u[:, :n])
        r = sigmoid(xw[n : 2 * n] + h_in @ u[:, n : 2 * n])
        hh = np.tanh(xw[2 * n :] + (r * h_in) @ u[:, 2 * n :])
    return (z * h + (1.0 - z) * hh,)


def make_step(kind, **options):
    if kind == "simple_rnn":
        return lambda w, x, s, h_in: simple_rnn_step(w, x, s, h_in, options.get("activation", "tanh"))
    if kind == "lstm":
        return lstm_step
    if kind == "gru":
        return lambda w, x, s, h_in: gru_step(w, x, s, h_in, options.get("reset_after", True))
    raise ValueError(kind)


def run(
    kind,
    weights,
    x,
    initial_state=None,
    lengths=None,
    go_backwards=False,
    time_major=False,
    return_sequences=False,
    input_mask=None,
    recurrent_mask=None,
    **options,
):
    """Returns (output, final_states) exactly as the contract defines them."""
    step = make_step(kind, **options)
    x = np.asarray(x, dtype=np.float64)
    if time_major:
        x = x.transpose(1, 0, 2)
    batch, time, _ = x.shape
    units = weights["recurrent_kernel"].shape[0]
    n_states = 2 if kind == "lstm" else 1
    if initial_state is None:
        initial_state = [np.zeros((batch, units))] * n_states
    lengths = [time] * batch if lengths is None else list(lengths)
    ys = np.zeros((batch, time, units))
    finals = [np.zeros((batch, units)) for _ in range(n_states)]
    for b in range(batch):
        state = tuple(np.asarray(s[b], dtype=np.float64) for s in initial_state)
        order = range(lengths[b])
        if go_backwards:
            order = reversed(order)
        for position, t in enumerate(order):
            x_t = x[b, t] if input_mask is None else x[b, t] * input_mask[b]
            h_in = state[0] if recurrent_mask is None else state[0] * recurrent_mask[b]
            state = step(weights, x_t, state, h_in)
            ys[b, position] = state[0]
        for k in range(n_states):
            finals[k][b] = state[k]
    if time_major:
        ys = ys.transpose(1, 0, 2)
    return (ys if return_sequences else finals[0].copy()), finals
