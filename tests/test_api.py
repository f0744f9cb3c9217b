"""The public API: weights and their layouts, initialisation, shapes, options, states and memory layouts."""


import numpy as np
import pytest
from conftest import CELLS, make_layer

import rnnfast as rf

EXPECTED_SHAPES = {
    "simple_tanh": {"kernel": (5, 4), "recurrent_kernel": (4, 4), "bias": (4,)},
    "simple_relu": {"kernel": (5, 4), "recurrent_kernel": (4, 4), "bias": (4,)},
    "lstm": {"kernel": (5, 16), "recurrent_kernel": (4, 16), "bias": (16,)},
    "lstm_peephole": {"kernel": (5, 16), "recurrent_kernel": (4, 16), "bias": (16,), "peephole_i": (4,),
                      "peephole_f": (4,), "peephole_o": (4,)},
    "gru": {"kernel": (5, 12), "recurrent_kernel": (4, 12), "bias": (2, 12)},
    "gru_reset_before": {"kernel": (5, 12), "recurrent_kernel": (4, 12), "bias": (12,)},
}
_LN = {
    "simple_tanh_ln": ("simple_tanh", {"ln_gamma": (4,), "ln_beta": (4,)}),
    "simple_relu_ln": ("simple_relu", {"ln_gamma": (4,), "ln_beta": (4,)}),
    "lstm_ln": ("lstm", {}),
    "lstm_peephole_ln": ("lstm_peephole", {}),
    "gru_ln": ("gru", {"ln_x_gamma": (12,), "ln_x_beta": (12,), "ln_h_gamma": (12,), "ln_h_beta": (12,)}),
}
_LSTM_NORMS = {"ln_x_gamma": (16,), "ln_x_beta": (16,), "ln_h_gamma": (16,), "ln_h_beta": (16,), "ln_c_gamma": (4,),
               "ln_c_beta": (4,)}
for _id, (_base, _norms) in _LN.items():
    EXPECTED_SHAPES[_id] = {**EXPECTED_SHAPES[_base], **(_norms or _LSTM_NORMS)}


def test_weight_shapes_and_default_initialisation(cell):
    _, cls, ctor, _, _ = cell
    layer = cls(4, input_size=5, seed=1, **ctor)
    weights = layer.get_weights()
    assert {k: v.shape for k, v in weights.items()} == EXPECTED_SHAPES[cell[0]]
    assert all(v.dtype == np.float32 for v in weights.values())
    limit = np.sqrt(6 / (5 + weights["kernel"].shape[1]))
    assert np.abs(weights["kernel"]).max() <= limit and np.abs(weights["kernel"]).max() > 0.5 * limit
    u = weights["recurrent_kernel"].astype(np.float64)
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-6)  # orthogonal rows
    expected_bias = np.zeros(weights["bias"].shape, dtype=np.float32)
    if cell[0].startswith("lstm"):
        expected_bias[4:8] = 1.0  # unit_forget_bias
    np.testing.assert_array_equal(weights["bias"], expected_bias)
    for name in ("peephole_i", "peephole_f", "peephole_o"):
        if name in weights:  # glorot_uniform of a (units,) vector: fan_in = fan_out = units
            assert 0 < np.abs(weights[name]).max() <= np.sqrt(6 / 8)
    for name, value in weights.items():  # layer norms start as the identity: γ = 1, β = 0
        if name.startswith("ln_"):
            np.testing.assert_array_equal(value, 1.0 if name.endswith("gamma") else 0.0)


def test_unit_forget_bias_off_and_seeding():
    assert not rf.LSTM(3, input_size=2, unit_forget_bias=False).get_weights()["bias"].any()
    a, b, c = (rf.GRU(3, input_size=2, seed=s).get_weights()["kernel"] for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_get_weights_returns_copies_and_set_weights_round_trips(cell):
    layer = make_layer(cell, 4, 5)
    weights = layer.get_weights()
    weights["kernel"][:] = 0
    assert layer.get_weights()["kernel"].any()
    other = make_layer(cell, 4, 5, seed=3)
    other.set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 3, 5))
    np.testing.assert_allclose(other(x), layer(x), rtol=1e-13, atol=1e-15)


def test_set_weights_builds_an_unbuilt_layer(cell):
    source = make_layer(cell, 4, 5)
    _, cls, ctor, _, _ = cell
    target = cls(4, dtype="float64", **ctor)
    assert not target.built and target.get_weights() == {}
    target.set_weights(source.get_weights())
    assert target.input_size == 5
    x = np.ones((1, 2, 5))
    np.testing.assert_allclose(target(x), source(x), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
def test_output_structure(cell, return_sequences, return_state, time_major):
    _, cls, ctor, _, _ = cell
    layer = cls(4, return_sequences=return_sequences, return_state=return_state, time_major=time_major, **ctor)
    x = np.zeros((7, 3, 5) if time_major else (3, 7, 5), dtype=np.float32)
    result = layer(x)
    assert layer.input_size == 5  # inferred at the first call
    seq_shape = (7, 3, 4) if time_major else (3, 7, 4)
    out = result[0] if return_state else result
    assert out.shape == (seq_shape if return_sequences else (3, 4))
    if return_state:
        assert len(result) == 1 + (2 if cell[3] == "lstm" else 1)
        assert all(s.shape == (3, 4) for s in result[1:])
        if not return_sequences:
            np.testing.assert_array_equal(result[0], result[1])
            assert result[0] is not result[1]


def test_last_output_is_last_valid_step_and_padding_is_zero(cell):
    rng = np.random.default_rng(1)
    layer = make_layer(cell, 4, 3, return_sequences=True, return_state=True)
    x = rng.normal(size=(3, 6, 3))
    lengths = [6, 4, 0]
    seq, h, *_ = layer(x, lengths=lengths)
    assert not seq[1, 4:].any() and not seq[2].any()
    np.testing.assert_array_equal(h[1], seq[1, 3])
    np.testing.assert_array_equal(h[2], 0.0)  # no step: the (zero) initial state
    # lengths equal truncating the sequence
    truncated, h_trunc, *_ = layer(x[1:2, :4])
    np.testing.assert_allclose(seq[1:2, :4], truncated, rtol=1e-12)
    np.testing.assert_allclose(h[1:2], h_trunc, rtol=1e-12)


def test_go_backwards_equals_reversed_input(cell):
    rng = np.random.default_rng(2)
    fwd = make_layer(cell, 4, 3, return_sequences=True)
    bwd = make_layer(cell, 4, 3, return_sequences=True, go_backwards=True)
    x = rng.normal(size=(2, 5, 3))
    np.testing.assert_allclose(bwd(x), fwd(x[:, ::-1]), rtol=1e-12)
    # with lengths, each sequence is reversed within its own length
    out = bwd(x, lengths=[5, 3])
    np.testing.assert_allclose(out[1, :3], fwd(x[1:2, 2::-1])[0], rtol=1e-12)
    assert not out[1, 3:].any()


def test_stateful_two_halves_equal_one_run(cell):
    rng = np.random.default_rng(3)
    whole = make_layer(cell, 4, 3, return_sequences=True)
    halves = make_layer(cell, 4, 3, return_sequences=True, stateful=True)
    x = rng.normal(size=(2, 10, 3))
    np.testing.assert_allclose(np.concatenate([halves(x[:, :6]), halves(x[:, 6:])], axis=1), whole(x), rtol=1e-12)
    halves.reset_states()
    assert halves.states is None
    np.testing.assert_allclose(halves(x[:, :6]), whole(x[:, :6]), rtol=1e-12)
    with pytest.raises(ValueError, match="reset_states"):
        halves(x[:1])


def test_memory_layouts_and_dtypes_are_converted(cell):
    rng = np.random.default_rng(4)
    layer = make_layer(cell, 4, 3, return_sequences=True)
    x = rng.normal(size=(2, 5, 3))
    want = layer(x)
    # Same values up to the last bit or two: vectorised loops may split differently for differently aligned copies.
    same = {"rtol": 1e-13, "atol": 1e-15}
    np.testing.assert_allclose(layer(np.asfortranarray(x)), want, **same)
    strided = np.zeros((4, 5, 6))
    strided[::2, :, ::2] = x
    np.testing.assert_allclose(layer(strided[::2, :, ::2]), want, **same)
    np.testing.assert_allclose(layer(x.astype(np.float32)), want, rtol=0, atol=1e-6)  # x rounded to float32
    np.testing.assert_allclose(layer(x.tolist()), want, **same)
    ints = rng.integers(-2, 3, size=(2, 5, 3))
    np.testing.assert_allclose(layer(ints), layer(ints.astype(np.float64)), **same)


def test_batch_rows_are_independent_and_batch_one_works(cell):
    rng = np.random.default_rng(5)
    layer = make_layer(cell, 4, 3, return_sequences=True)
    x = rng.normal(size=(3, 5, 3))
    whole = layer(x)
    for b in range(3):
        np.testing.assert_allclose(layer(x[b : b + 1]), whole[b : b + 1], rtol=1e-12)


def test_empty_batch_and_zero_steps(cell):
    layer = make_layer(cell, 4, 3, return_sequences=True, return_state=True)
    out, h, *_ = layer(np.zeros((0, 5, 3)))
    assert out.shape == (0, 5, 4) and h.shape == (0, 4)
    state = [np.full((2, 4), 0.5)] * (2 if cell[3] == "lstm" else 1)
    out, *finals = layer(np.zeros((2, 0, 3)), initial_state=state, training=True)
    assert out.shape == (2, 0, 4)
    np.testing.assert_array_equal(finals[0], state[0])
    grads = layer.backward([np.zeros((2, 0, 4)), *(np.ones((2, 4)) for _ in finals)])
    np.testing.assert_array_equal(grads["initial_state"][0], 1.0)
    assert not grads["kernel"].any()


def test_backward_is_repeatable_and_float32_is_close_to_float64(cell):
    rng = np.random.default_rng(6)
    l64 = make_layer(cell, 8, 4, return_sequences=True)
    l32 = make_layer(cell, 8, 4, return_sequences=True, dtype="float32")
    l32.set_weights(l64.get_weights())
    x = rng.normal(size=(3, 20, 4))
    dy = rng.normal(size=(3, 20, 8))
    l64(x, training=True)
    g64 = l64.backward(dy)
    again = l64.backward(dy)
    for k in ("x", "kernel", "recurrent_kernel", "bias"):
        np.testing.assert_allclose(g64[k], again[k], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(l32(x), l64(x), atol=2e-5)
    l32(x, training=True)
    g32 = l32.backward(dy)
    for k in ("x", "kernel", "recurrent_kernel", "bias"):
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], atol=5e-4, rtol=1e-3)


def test_num_threads_setting():
    before = rf.get_num_threads()
    rf.set_num_threads(1)
    assert rf.get_num_threads() == 1
    rf.set_num_threads(before)
    with pytest.raises(ValueError):
        rf.set_num_threads(0)


@pytest.mark.parametrize("cell_id", [c[0] for c in CELLS])
def test_repr_names_the_layer(cell_id):
    cell = next(c for c in CELLS if c[0] == cell_id)
    assert type(make_layer(cell, 2, 2)).__name__ in repr(make_layer(cell, 2, 2))
