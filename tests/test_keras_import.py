"""rnnfast.from_keras: Keras 3 Sequential models of SimpleRNN, LSTM, GRU (both reset_after), Bidirectional
(every merge mode), Dense and TimeDistributed compute what Keras computes (float32, atol 2e-5; Keras runs on its
PyTorch backend here). Skipped without keras."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import rnnfast as rf  # noqa: E402

# Keras' own Variable.__array__ predates NumPy 2's copy keyword; NumPy warns inside keras' get_weights.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def compare(model, x):
    want = keras.ops.convert_to_numpy(model(x))
    got = rf.from_keras(model).predict(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_stacked_models(merge_mode):
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((7, 3)),
        L.Bidirectional(L.LSTM(5, return_sequences=True), merge_mode=merge_mode),
        L.GRU(4, return_sequences=True, reset_after=False),
        L.SimpleRNN(6, return_sequences=True, activation="relu", go_backwards=True),
        L.TimeDistributed(L.Dense(3, activation="tanh")),
        L.GRU(4),
        L.Dense(2, activation="softmax"),
    ])
    for layer in model.layers:  # non-zero biases
        layer.set_weights([w + 0.1 * np.random.default_rng(1).normal(size=w.shape) for w in layer.get_weights()])
    compare(model, np.random.default_rng(2).normal(size=(4, 7, 3)).astype(np.float32))


def test_single_layers_and_refusals():
    keras.utils.set_random_seed(1)
    layer = keras.layers.LSTM(3, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    want = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(rf.from_keras(layer).predict(x), want, rtol=0, atol=2e-5)
    with pytest.raises(ValueError, match="cannot import"):
        rf.from_keras(keras.Sequential([keras.Input((5, 4)), keras.layers.Conv1D(2, 3)]))
    with pytest.raises(ValueError, match="tanh and sigmoid"):
        bad = keras.layers.GRU(3, activation="relu")
        bad.build((None, 5, 4))
        rf.from_keras(bad)
