"""Bad input gives a ValueError or TypeError that names the argument and what was expected; nothing crashes."""

import numpy as np
import pytest

import rnnfast as rf


@pytest.fixture
def lstm():
    return rf.LSTM(4, input_size=3, return_state=True)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"units": 0}, ValueError, "units"),
        ({"units": 2.5}, TypeError, "units"),
        ({"units": True}, TypeError, "units"),
        ({"units": 3, "dropout": 1.0}, ValueError, "dropout"),
        ({"units": 3, "recurrent_dropout": -0.1}, ValueError, "recurrent_dropout"),
        ({"units": 3, "dtype": "float16"}, ValueError, "dtype"),
        ({"units": 3, "dtype": "banana"}, TypeError, "dtype"),
        ({"units": 3, "input_size": 0}, ValueError, "input_size"),
        ({"units": 3, "seed": -1}, ValueError, "seed"),
    ],
)
def test_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        rf.GRU(**kwargs)


def test_unknown_activation_and_gru_layer_norm_needs_reset_after():
    with pytest.raises(ValueError, match="activation"):
        rf.SimpleRNN(3, activation="sigmoid")
    with pytest.raises(ValueError, match="reset_after"):
        rf.GRU(3, reset_after=False, layer_norm=True)


def test_wrong_rank_and_feature_size(lstm):
    with pytest.raises(ValueError, match=r"3-D \(batch, time, features\)"):
        lstm(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"3 features"):
        lstm(np.zeros((2, 5, 4)))
    tm = rf.GRU(2, input_size=3, time_major=True)
    with pytest.raises(ValueError, match=r"\(time, batch, features\)"):
        tm(np.zeros(3))


@pytest.mark.parametrize("bad", ["abc", None, np.array([1 + 2j]), {"a": 1}, [[1, 2], [3]]])
def test_non_numeric_input(lstm, bad):
    with pytest.raises(TypeError, match="x"):
        lstm(bad)


def test_lengths(lstm):
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 5\]"):
        lstm(x, lengths=[6, 1])
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 5\]"):
        lstm(x, lengths=[-1, 1])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        lstm(x, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="lengths must hold integers"):
        lstm(x, lengths=[1.5, 2.0])


def test_initial_state(lstm):
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match=r"initial_state must hold 2 array"):
        lstm(x, initial_state=[np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"initial_state \(c\) must have shape \(2, 4\)"):
        lstm(x, initial_state=[np.zeros((2, 4)), np.zeros((3, 4))])
    with pytest.raises(TypeError, match="initial_state"):
        lstm(x, initial_state="zeros")


def test_set_weights(lstm):
    weights = lstm.get_weights()
    with pytest.raises(ValueError, match=r"kernel must have shape \(3, 16\)"):
        lstm.set_weights({**weights, "kernel": np.zeros((3, 12))})
    with pytest.raises(ValueError, match="missing \\['bias'\\]"):
        lstm.set_weights({k: v for k, v in weights.items() if k != "bias"})
    with pytest.raises(ValueError, match="unexpected \\['gamma'\\]"):
        lstm.set_weights({**weights, "gamma": np.zeros(4)})
    with pytest.raises(TypeError, match="dict"):
        lstm.set_weights([weights["kernel"]])
    gru = rf.GRU(4, input_size=3)
    with pytest.raises(ValueError, match=r"bias must have shape \(2, 12\)"):
        gru.set_weights({**gru.get_weights(), "bias": np.zeros(12)})


def test_backward_before_training_call_and_wrong_gradients(lstm):
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match="training=True"):
        lstm.backward([np.zeros((2, 4))] * 3)
    lstm(x)  # inference does not enable backward
    with pytest.raises(ValueError, match="training=True"):
        lstm.backward([np.zeros((2, 4))] * 3)
    lstm(x, training=True)
    with pytest.raises(ValueError, match=r"d_out must have shape \(2, 4\)"):
        lstm.backward([np.zeros((2, 5)), None, None])
    with pytest.raises(TypeError, match="d_out must be a list"):
        lstm.backward(np.zeros((2, 4)))
    grads = lstm.backward([np.ones((2, 4)), None, None])
    assert grads["x"].shape == (2, 5, 3)
    lstm.set_weights(lstm.get_weights())  # new weights invalidate the saved forward pass
    with pytest.raises(ValueError, match="training=True"):
        lstm.backward([np.ones((2, 4)), None, None])


def test_nan_input_propagates_without_crash():
    layer = rf.GRU(3, input_size=2, return_sequences=True)
    x = np.zeros((1, 4, 2), dtype=np.float32)
    x[0, 2, 0] = np.nan
    out = layer(x)
    assert np.isfinite(out[0, :2]).all() and np.isnan(out[0, 2:]).all()


def test_nan_padding_past_lengths_is_ignored():
    layer = rf.LSTM(3, input_size=2, return_sequences=True, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 4, 2))
    padded = x.copy()
    padded[1, 2:] = np.nan
    out = layer(padded, lengths=[4, 2], training=True)
    np.testing.assert_allclose(out, layer(x, lengths=[4, 2]), rtol=1e-6)
    grads = layer.backward(np.ones_like(out))
    assert all(np.isfinite(g).all() for k, g in grads.items() if k != "initial_state")
