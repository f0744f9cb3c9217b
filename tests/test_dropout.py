"""Dropout and recurrent dropout (Keras semantics): one mask per sequence and batch row, fixed across the steps,
kept units scaled by 1/(1 - rate), applied only with training=True, reproducible from the seed; backward uses the
same masks.

Tolerances: forward against the NumPy reference given the layer's masks, float64 rtol 1e-10 / atol 1e-12;
gradients against float64 central differences (step 1e-6) rtol 1e-6 / atol 1e-8, where every evaluation is the
first training call of a fresh layer with the same seed (so it draws the same masks).
"""

import numpy as np
import pytest
import reference
from conftest import make_layer
from test_gradcheck import TOL, loss_and_seeds, numeric_gradient

import rnnfast as rf

RATES = [(0.3, 0.0), (0.0, 0.4), (0.25, 0.5)]
RATE_IDS = ["dropout", "recurrent", "both"]


def reference_out(cell, layer, x, masks, **options):
    m = layer.dropout_masks
    return reference.run(cell[3], layer.get_weights(), x, input_mask=m.get("input"),
                         recurrent_mask=m.get("recurrent"), **options, **cell[4])


def test_masks_statistics_and_scaling():
    layer = rf.LSTM(200, input_size=300, dropout=0.3, recurrent_dropout=0.6, seed=1, dtype="float64")
    layer(np.zeros((400, 2, 300)), training=True)
    masks = layer.dropout_masks
    assert set(masks) == {"input", "recurrent"}
    assert masks["input"].shape == (400, 300) and masks["recurrent"].shape == (400, 200)
    for mask, rate in ((masks["input"], 0.3), (masks["recurrent"], 0.6)):
        assert set(np.unique(mask)) == {0.0, 1.0 / (1.0 - rate)}
        n = mask.size  # binomial: 5 standard deviations
        assert abs(np.mean(mask == 0) - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
        assert abs(mask.mean() - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)  # inverted dropout keeps the mean
        assert abs(mask.var() - rate / (1 - rate)) < 0.05 * rate / (1 - rate)


def test_masks_follow_the_seed_and_change_between_calls():
    x = np.ones((3, 4, 5))
    a, b, c = (rf.GRU(6, input_size=5, dropout=0.5, recurrent_dropout=0.5, seed=s) for s in (7, 7, 8))
    first = []
    for layer in (a, b, c):
        layer(x, training=True)
        first.append(layer.dropout_masks)
    for k in ("input", "recurrent"):
        np.testing.assert_array_equal(first[0][k], first[1][k])
        assert not np.array_equal(first[0][k], first[2][k])
    a(x, training=True)
    assert not np.array_equal(a.dropout_masks["input"], first[0]["input"])
    b(x, training=True)
    np.testing.assert_array_equal(a.dropout_masks["input"], b.dropout_masks["input"])


def test_inference_ignores_dropout(cell):
    rng = np.random.default_rng(3)
    layer = make_layer(cell, 5, 4, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    plain = make_layer(cell, 5, 4, return_sequences=True)
    x = rng.normal(size=(3, 6, 4))
    np.testing.assert_allclose(layer(x), plain(x), rtol=1e-13, atol=1e-15)  # last bits: buffers' alignment
    assert layer.dropout_masks == {}
    layer(x, training=True)
    assert not np.allclose(layer(x, training=True), plain(x))


@pytest.mark.parametrize("rates", RATES, ids=RATE_IDS)
@pytest.mark.parametrize("options", [{}, {"go_backwards": True, "time_major": True}], ids=["plain", "backwards_tm"])
def test_forward_matches_reference_with_the_same_masks(cell, rates, options):
    rng = np.random.default_rng(4)
    batch, time, features, units = 4, 7, 5, 6
    layer = make_layer(cell, units, features, dropout=rates[0], recurrent_dropout=rates[1], return_state=True,
                       return_sequences=True, **options)
    shape = (time, batch, features) if options.get("time_major") else (batch, time, features)
    x = rng.normal(size=shape)
    state = [rng.normal(size=(batch, units)) * 0.5 for _ in range(2 if cell[3] == "lstm" else 1)]
    lengths = np.array([7, 3, 0, 5])
    out, *finals = layer(x, initial_state=state, lengths=lengths, training=True)
    ref_out, ref_finals = reference_out(cell, layer, x, layer.dropout_masks, initial_state=state, lengths=lengths,
                                        return_sequences=True, **options)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    for got, want in zip(finals, ref_finals):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rates", RATES, ids=RATE_IDS)
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
def test_gradients_with_fixed_masks(cell, rates, use_lengths, go_backwards):
    rng = np.random.default_rng(6)
    batch, time, features, units = 3, 5, 4, 3
    options = {"dropout": rates[0], "recurrent_dropout": rates[1], "return_state": True,
               "return_sequences": True, "go_backwards": go_backwards}
    weights = make_layer(cell, units, features, **options).get_weights()
    x = rng.normal(size=(batch, time, features))
    state = [rng.normal(size=(batch, units)) * 0.5 for _ in range(2 if cell[3] == "lstm" else 1)]
    lengths = np.array([5, 2, 0]) if use_lengths else None

    def fresh(w):
        layer = make_layer(cell, units, features, **options)  # same seed: same first masks
        layer.set_weights(w)
        return layer

    def loss(w=weights):
        return loss_and_seeds(fresh(w)(x, initial_state=state, lengths=lengths, training=True))[0]

    layer = fresh(weights)
    outputs = layer(x, initial_state=state, lengths=lengths, training=True)
    assert any(m.min() == 0 for m in layer.dropout_masks.values())  # some units are dropped
    grads = layer.backward(loss_and_seeds(outputs)[1])
    np.testing.assert_allclose(grads["x"], numeric_gradient(loss, x), **TOL, err_msg="x")
    for k, s in enumerate(state):
        np.testing.assert_allclose(grads["initial_state"][k], numeric_gradient(loss, s), **TOL,
                                   err_msg=f"initial_state[{k}]")
    for name, value in weights.items():
        np.testing.assert_allclose(grads[name], numeric_gradient(loss, value), **TOL, err_msg=name)


def test_a_second_backward_uses_the_same_masks(cell):
    rng = np.random.default_rng(2)
    layer = make_layer(cell, 6, 4, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)
    x = rng.normal(size=(3, 8, 4))
    dy = rng.normal(size=(3, 8, 6))
    layer(x, training=True)
    first, second = layer.backward(dy), layer.backward(dy)
    for k in ("x", "kernel", "recurrent_kernel", "bias"):
        np.testing.assert_allclose(first[k], second[k], rtol=1e-12, atol=1e-14)
