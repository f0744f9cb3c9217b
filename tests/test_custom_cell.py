"""rnnfast.RNN with cells written in NumPy: re-implementations of the built-in LSTM and GRU (reset_after) cells,
run through RNN, must match the C++ layers with the same weights — outputs, states and every gradient — with
lengths, go_backwards, time_major, stateful and Bidirectional. Tolerance (float64): rtol 1e-10, atol 1e-12.
"""

import numpy as np
import pytest

import rnnfast as rf

TOL = {"rtol": 1e-10, "atol": 1e-12}


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


class NumpyLSTMCell:
    """Keras' LSTM cell (gate order i, f, c, o) with its backward step."""

    def __init__(self, units):
        self.units = units
        self.state_size = [units, units]
        self.w = {}

    def build(self, input_size, rng):
        g = 4 * self.units
        self.w = {"kernel": rng.uniform(-0.5, 0.5, (input_size, g)),
                  "recurrent_kernel": rng.uniform(-0.5, 0.5, (self.units, g)), "bias": rng.uniform(-0.5, 0.5, g)}

    def get_weights(self):
        return self.w

    def set_weights(self, weights):
        self.w = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}

    def step(self, x, states):
        h, c = states
        n = self.units
        a = x @ self.w["kernel"] + h @ self.w["recurrent_kernel"] + self.w["bias"]
        i, f, g, o = sigmoid(a[:, :n]), sigmoid(a[:, n:2 * n]), np.tanh(a[:, 2 * n:3 * n]), sigmoid(a[:, 3 * n:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        return [h_new, c_new], (x, h, c, i, f, g, o, c_new)

    def step_backward(self, d_new, cache):
        x, h, c, i, f, g, o, c_new = cache
        dh, dc = d_new
        t = np.tanh(c_new)
        dc = dc + dh * o * (1 - t**2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g**2), dh * t * o * (1 - o)], 1)
        grads = {"kernel": x.T @ da, "recurrent_kernel": h.T @ da, "bias": da.sum(0)}
        return da @ self.w["kernel"].T, [da @ self.w["recurrent_kernel"].T, dc * f], grads


class NumpyGRUCell:
    """Keras' GRU cell with reset_after (bias rows: input, recurrent)."""

    def __init__(self, units):
        self.units = units
        self.state_size = units
        self.w = {}

    def build(self, input_size, rng):
        g = 3 * self.units
        self.w = {"kernel": rng.uniform(-0.5, 0.5, (input_size, g)),
                  "recurrent_kernel": rng.uniform(-0.5, 0.5, (self.units, g)), "bias": rng.uniform(-0.5, 0.5, (2, g))}

    def get_weights(self):
        return self.w

    def set_weights(self, weights):
        self.w = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}

    def step(self, x, states):
        (h,) = states
        n = self.units
        xw = x @ self.w["kernel"] + self.w["bias"][0]
        hu = h @ self.w["recurrent_kernel"] + self.w["bias"][1]
        z, r = sigmoid(xw[:, :n] + hu[:, :n]), sigmoid(xw[:, n:2 * n] + hu[:, n:2 * n])
        hh = np.tanh(xw[:, 2 * n:] + r * hu[:, 2 * n:])
        return [z * h + (1 - z) * hh], (x, h, z, r, hh, hu[:, 2 * n:])

    def step_backward(self, d_new, cache):
        x, h, z, r, hh, uh = cache
        (dh,) = d_new
        da_h = dh * (1 - z) * (1 - hh**2)
        d_x = np.concatenate([dh * (h - hh) * z * (1 - z), da_h * uh * r * (1 - r), da_h], 1)
        d_u = np.concatenate([d_x[:, :2 * self.units], da_h * r], 1)
        grads = {"kernel": x.T @ d_x, "recurrent_kernel": h.T @ d_u, "bias": np.stack([d_x.sum(0), d_u.sum(0)])}
        d_h = dh * z + d_u @ self.w["recurrent_kernel"].T
        return d_x @ self.w["kernel"].T, [d_h], grads


CELLS = [(NumpyLSTMCell, rf.LSTM, 2), (NumpyGRUCell, rf.GRU, 1)]
OPTIONS = [{"return_sequences": True}, {"go_backwards": True, "return_sequences": True, "time_major": True},
           {"go_backwards": True}]


def pair(cell_cls, layer_cls, **options):
    units, features = 4, 3
    custom = rf.RNN(cell_cls(units), input_size=features, seed=1, dtype="float64", return_state=True, **options)
    builtin = layer_cls(units, input_size=features, dtype="float64", return_state=True, **options)
    builtin.set_weights(custom.get_weights())
    return custom, builtin


@pytest.mark.parametrize("cells", CELLS, ids=["lstm", "gru"])
@pytest.mark.parametrize("options", OPTIONS, ids=["seq", "backwards_tm", "backwards_last"])
def test_numpy_cell_matches_the_engine(cells, options):
    cell_cls, layer_cls, n_states = cells
    custom, builtin = pair(cell_cls, layer_cls, **options)
    rng = np.random.default_rng(0)
    shape = (6, 5, 3) if options.get("time_major") else (5, 6, 3)
    x = rng.normal(size=shape)
    states = [rng.normal(size=(5, 4)) for _ in range(n_states)]
    lengths = np.array([6, 2, 0, 5, 1])
    got = custom(x, initial_state=states, lengths=lengths, training=True)
    want = builtin(x, initial_state=states, lengths=lengths, training=True)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, **TOL)
    seeds = [rng.normal(size=o.shape) for o in got]
    g_custom, g_builtin = custom.backward(seeds), builtin.backward(seeds)
    assert set(g_custom) == set(g_builtin)
    for name in g_builtin:
        pairs = zip(g_custom[name], g_builtin[name]) if name == "initial_state" else [(g_custom[name], g_builtin[name])]
        for a, b in pairs:
            np.testing.assert_allclose(a, b, **TOL, err_msg=name)


@pytest.mark.parametrize("cells", CELLS, ids=["lstm", "gru"])
def test_stateful_and_bidirectional(cells):
    cell_cls, layer_cls, _ = cells
    custom, builtin = pair(cell_cls, layer_cls, stateful=True, return_sequences=True)
    rng = np.random.default_rng(1)
    for _ in range(2):  # the second call starts from the first one's final states
        x = rng.normal(size=(3, 4, 3))
        for a, b in zip(custom(x), builtin(x)):
            np.testing.assert_allclose(a, b, **TOL)
    bi_custom = rf.Bidirectional(rf.RNN(cell_cls(4), input_size=3, seed=2, dtype="float64", return_sequences=True))
    bi_builtin = rf.Bidirectional(layer_cls(4, input_size=3, dtype="float64", return_sequences=True))
    bi_builtin.set_weights(bi_custom.get_weights())
    assert not np.array_equal(bi_custom.get_weights()["forward/kernel"], bi_custom.get_weights()["backward/kernel"])
    x = rng.normal(size=(3, 5, 3))
    lengths = np.array([5, 3, 1])
    np.testing.assert_allclose(bi_custom(x, lengths=lengths, training=True),
                               bi_builtin(x, lengths=lengths, training=True), **TOL)
    dy = rng.normal(size=(3, 5, 8))
    g1, g2 = bi_custom.backward(dy), bi_builtin.backward(dy)
    for name in ("x", "forward/kernel", "backward/recurrent_kernel", "backward/bias"):
        np.testing.assert_allclose(g1[name], g2[name], **TOL, err_msg=name)


def test_a_cell_without_the_protocol_is_refused():
    with pytest.raises(TypeError, match="step_backward"):
        rf.RNN(type("Half", (), {"state_size": 3, "build": lambda s, n, r: None, "get_weights": lambda s: {},
                                 "set_weights": lambda s, w: None, "step": lambda s, x, st: None})())
