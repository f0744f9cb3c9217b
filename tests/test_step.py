"""layer.step(): one time step with the state inside the layer (the C++ Stream), for every cell and variant —
step by step it equals a whole-sequence call; states can be set, read and reset; a new batch size or new
weights restart it; bad input gets a clear error. Tolerance: float64 1e-12, float32 1e-6."""

import numpy as np
import pytest
from conftest import make_layer

import rnnfast as rf


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_steps_equal_a_sequence_call(cell, dtype):
    rng = np.random.default_rng(0)
    layer = make_layer(cell, 6, 4, dtype=dtype, return_sequences=True, return_state=True)
    x = rng.normal(size=(3, 9, 4))
    n_states = 2 if cell[3] == "lstm" else 1
    state = [rng.normal(size=(3, 6)) * 0.5 for _ in range(n_states)]
    ys, *finals = layer(x, initial_state=state)
    steps = [layer.step(x[:, 0], state=state)] + [layer.step(x[:, t]) for t in range(1, 9)]
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(np.stack(steps, axis=1), ys, rtol=tol, atol=tol)
    for got, want in zip(layer.step_state, finals):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert steps[0].dtype == np.dtype(dtype) and steps[0].shape == (3, 6)


def test_reset_new_batch_new_weights_and_errors():
    layer = rf.GRU(5, input_size=2, seed=0, dtype="float64")
    x = np.ones((1, 2))
    first = layer.step(x)
    layer.step(x)
    layer.reset_step()
    np.testing.assert_array_equal(layer.step(x), first)  # from zeros again
    two = layer.step(np.ones((2, 2)))  # another batch size: a new stream from zeros
    np.testing.assert_array_equal(two[0], first[0])
    layer.reset_step([np.full((2, 5), 0.3)])
    np.testing.assert_array_equal(layer.step_state[0], np.full((2, 5), 0.3))
    w = layer.get_weights()
    w["bias"] = w["bias"] + 1.0
    layer.set_weights(w)  # step() restarts from the new weights (and zeros)
    fresh = rf.GRU(5, input_size=2, dtype="float64")
    fresh.set_weights(w)
    np.testing.assert_allclose(layer.step(x), fresh.step(x), rtol=1e-14)
    np.testing.assert_allclose(layer.step(np.ones((1, 2), dtype=np.float32)), fresh.step(x), rtol=1e-14)  # converted
    with pytest.raises(ValueError, match="x_t must be 2-D"):
        layer.step(np.ones(2))
    with pytest.raises(ValueError, match="2 features"):
        layer.step(np.ones((1, 3)))
    with pytest.raises(ValueError, match="initial_state"):
        layer.step(x, state=[np.ones((2, 5))])


def test_steps_after_training_use_the_new_weights():
    rng = np.random.default_rng(1)
    model = rf.Sequential([rf.LSTM(4, input_size=1, seed=0, dtype="float64"), rf.Dense(1, seed=1, dtype="float64")])
    lstm = model.layers[0]
    x = rng.normal(size=(8, 5, 1))
    lstm.step(x[:, 0])
    model.compile(loss="mse", optimizer="sgd")
    model.train_on_batch(x, rng.normal(size=(8, 1)))  # updates the weights in place
    lstm.reset_step()
    fresh = rf.LSTM(4, input_size=1, dtype="float64")
    fresh.set_weights(lstm.get_weights())
    np.testing.assert_allclose(lstm.step(x[:, 0]), fresh.step(x[:, 0]), rtol=1e-14)


def test_sequential_step_equals_predict_on_prefixes():
    rng = np.random.default_rng(3)
    model = rf.Sequential([rf.Embedding(9, 4, seed=0, dtype="float64"),
                           rf.LSTM(5, return_sequences=True, seed=1, dtype="float64"),
                           rf.GRU(3, seed=2, dtype="float64"), rf.Dense(2, activation="softmax", seed=3,
                                                                        dtype="float64")])
    ids = rng.integers(0, 9, size=(2, 6))
    model.predict(ids)
    steps = [model.step(ids[:, t]) for t in range(6)]
    for t in range(6):
        np.testing.assert_allclose(steps[t], model.predict(ids[:, : t + 1]), rtol=1e-12, atol=1e-14)
    model.reset_step()
    np.testing.assert_allclose(model.step(ids[:, 0]), steps[0], rtol=1e-14)
    with pytest.raises(ValueError, match="one step at a time"):
        rf.Sequential([rf.Bidirectional(rf.LSTM(2))]).step(np.ones((1, 3)))


def test_sequential_step_through_time_distributed_and_embedding():
    model = rf.Sequential([rf.Embedding(7, 3, seed=0), rf.GRU(4, return_sequences=True, seed=1),
                           rf.TimeDistributed(rf.Dense(2, seed=2))])
    ids = np.array([[1, 5, 2, 6], [0, 3, 3, 4]])
    whole = model.predict(ids)
    model.reset_step()
    steps = np.stack([model.step(ids[:, t]) for t in range(ids.shape[1])], axis=1)
    np.testing.assert_allclose(steps, whole, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"x_t must be one integer id per sequence, of shape \(batch,\)"):
        model.layers[0].step(ids)
    with pytest.raises(TypeError, match="integer ids"):
        model.layers[0](np.ones((2, 3), dtype=bool))


def test_reset_step_with_a_state_before_the_first_step():
    unbuilt = rf.LSTM(3)
    with pytest.raises(ValueError, match="needs a built layer"):
        unbuilt.reset_step([np.zeros((1, 3)), np.zeros((1, 3))])
    gru = rf.GRU(3, input_size=2, seed=0)
    gru.reset_step(np.full((2, 3), 0.5))  # one state: the lone array is the state, batch 2
    assert gru.step_state[0].shape == (2, 3)
    assert gru.step(np.ones((2, 2))).shape == (2, 3)
