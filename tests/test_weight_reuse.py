"""The inference of one sequence keeps its packed weights from call to call while the layer's weights are
unchanged: every way the weights change (set_weights, a training step of Sequential, of a Bidirectional
wrapper's layers too) must reach the next call, and must give the layer a new weights version. Each check of
outputs compares with a fresh layer given the same weights, which packs them anew: exactly equal, as both run
the same kernels on the same values.
"""

import numpy as np
import pytest
from conftest import CELLS, make_layer
from test_custom_cell import NumpyLSTMCell

import rnnfast as rf

PLAIN = [c for c in CELLS if not c[2].get("layer_norm")]  # the cells whose batch-1 inference packs per layer
UNITS, FEATURES, TIME = 40, 3, 6
TEAM_UNITS = 136  # enough work per step for a team of two threads at batch 1 (LSTM, GRU)


@pytest.mark.parametrize("cell", PLAIN, ids=[c[0] for c in PLAIN])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_set_weights_reaches_the_next_call(cell, dtype, restore_threads):
    for threads in (1, 2):
        rf.set_num_threads(threads)
        layer = make_layer(cell, TEAM_UNITS, FEATURES, dtype=dtype, return_sequences=True)
        x = np.random.default_rng(1).normal(size=(1, TIME, FEATURES)).astype(dtype)
        first = layer(x)
        np.testing.assert_array_equal(layer(x), first)  # the second call reuses the packing
        rng = np.random.default_rng(2)
        layer.set_weights({k: rng.uniform(-0.6, 0.6, size=v.shape) for k, v in layer.get_weights().items()})
        second = layer(x)
        assert not np.allclose(second, first)
        fresh = make_layer(cell, TEAM_UNITS, FEATURES, dtype=dtype, return_sequences=True)
        fresh.set_weights(layer.get_weights())
        np.testing.assert_array_equal(second, fresh(x))


def test_a_training_step_reaches_the_next_call():
    """Sequential.train_on_batch updates the weights in place; batch-1 inference afterwards sees the update, for a
    plain layer, a Bidirectional wrapper's two layers and a NumPy-cell RNN inside a Bidirectional."""
    rng = np.random.default_rng(0)

    model = rf.Sequential([
        rf.LSTM(UNITS, return_sequences=True, seed=1, dtype="float64"),
        rf.Bidirectional(rf.GRU(UNITS, return_sequences=True, seed=2, dtype="float64")),
        rf.Bidirectional(rf.RNN(NumpyLSTMCell(4), return_sequences=True, dtype="float64")),
        rf.TimeDistributed(rf.Dense(2, seed=3, dtype="float64")),
    ])
    model.compile(loss="mse", optimizer=rf.optimizers.SGD(learning_rate=0.5))
    x = rng.normal(size=(1, TIME, FEATURES))
    y = rng.normal(size=(1, TIME, 2))
    before = model(x)
    weights_before = model.get_weights()
    model.train_on_batch(x, y)
    after = model(x)
    for old, new in zip(weights_before, model.get_weights()):  # every layer trained, the RNN ones too
        assert all(not np.array_equal(old[k], new[k]) for k in old), sorted(old)
    assert not np.allclose(after, before)
    fresh = rf.Sequential([
        rf.LSTM(UNITS, return_sequences=True, dtype="float64"),
        rf.Bidirectional(rf.GRU(UNITS, return_sequences=True, dtype="float64")),
        rf.Bidirectional(rf.RNN(NumpyLSTMCell(4), return_sequences=True, dtype="float64")),
        rf.TimeDistributed(rf.Dense(2, dtype="float64")),
    ])
    fresh(x)  # builds it
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(after, fresh(x))


def test_each_change_of_the_weights_gets_a_new_version():
    """The engine trusts the version alone for arrays at the same addresses (numpy may reuse a freed array's
    address), so set_weights and a training step must each give a version no layer had before."""
    model = rf.Sequential([rf.LSTM(4, input_size=2, return_sequences=True, seed=0),
                           rf.Bidirectional(rf.GRU(3, seed=1)), rf.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    x = np.ones((1, 5, 2))
    model(x)  # builds every layer
    lstm, bi = model.layers[0], model.layers[1]
    layers = [lstm, bi.forward_layer, bi.backward_layer]
    seen = [layer._weights_version for layer in layers]
    assert len(set(seen)) == 3
    lstm.set_weights(lstm.get_weights())
    assert lstm._weights_version not in seen
    seen.append(lstm._weights_version)
    model.train_on_batch(x, np.ones((1, 1)))
    for layer in layers:
        assert layer._weights_version not in seen
        seen.append(layer._weights_version)
