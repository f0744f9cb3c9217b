"""A small, slow, obviously-correct NumPy reference of the recurrent layers (forward only).

Written from the equations in the README, one sequence and one step at a time, independently of the engine's
whole-sequence schedule. Gradients are checked against finite differences and PyTorch instead.
"""

from __future__ import annotations

import numpy as np


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def simple_rnn_step(w, x, state, activation):
    (h,) = state
    a = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    return (np.tanh(a) if activation == "tanh" else np.maximum(a, 0.0),)


def lstm_step(w, x, state):
    h, c = state
    n = h.shape[-1]
    a = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    i, f, g, o = sigmoid(a[:n]), sigmoid(a[n : 2 * n]), np.tanh(a[2 * n : 3 * n]), sigmoid(a[3 * n :])
    c = f * c + i * g
    return o * np.tanh(c), c


def gru_step(w, x, state, reset_after):
    (h,) = state
    n = h.shape[-1]
    k, u = w["kernel"], w["recurrent_kernel"]
    if reset_after:
        xw = x @ k + w["bias"][0]
        hu = h @ u + w["bias"][1]
        z = sigmoid(xw[:n] + hu[:n])
        r = sigmoid(xw[n : 2 * n] + hu[n : 2 * n])
        hh = np.tanh(xw[2 * n :] + r * hu[2 * n :])
    else:
        xw = x @ k + w["bias"]
        z = sigmoid(xw[:n] + h @ u[:, :n])
        r = sigmoid(xw[n : 2 * n] + h @ u[:, n : 2 * n])
        hh = np.tanh(xw[2 * n :] + (r * h) @ u[:, 2 * n :])
    return (z * h + (1.0 - z) * hh,)


def make_step(kind, **options):
    if kind == "simple_rnn":
        return lambda w, x, s: simple_rnn_step(w, x, s, options.get("activation", "tanh"))
    if kind == "lstm":
        return lstm_step
    if kind == "gru":
        return lambda w, x, s: gru_step(w, x, s, options.get("reset_after", True))
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
            state = step(weights, x[b, t], state)
            ys[b, position] = state[0]
        for k in range(n_states):
            finals[k][b] = state[k]
    if time_major:
        ys = ys.transpose(1, 0, 2)
    return (ys if return_sequences else finals[0].copy()), finals
