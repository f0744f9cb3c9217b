"""Losses: values against their formulas (Keras' definitions and reduction), gradients against central finite
differences (float64, step 1e-6, rtol 1e-6 / atol 1e-9), masks, numerical stability and accuracy."""

import numpy as np
import pytest

from rnnfast import losses

rng = np.random.default_rng(0)
SHAPE = (4, 3, 5)  # batch, time, features


def numeric(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in range(a.size):
        old = a.flat[i]
        a.flat[i] = old + eps
        up = f()
        a.flat[i] = old - eps
        down = f()
        a.flat[i] = old
        g.flat[i] = (up - down) / (2 * eps)
    return g


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


CASES = [
    ("mse", {}, lambda: rng.normal(size=SHAPE), lambda y, p: np.mean((p - y) ** 2)),
    ("mae", {}, lambda: rng.normal(size=SHAPE), lambda y, p: np.mean(np.abs(p - y))),
    ("binary_crossentropy", {"from_logits": True}, lambda: rng.integers(0, 2, SHAPE).astype(float),
     lambda y, z: np.mean(-(y * np.log(sigmoid(z)) + (1 - y) * np.log(1 - sigmoid(z))))),
    ("binary_crossentropy", {}, lambda: rng.integers(0, 2, SHAPE).astype(float),
     lambda y, p: np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))),
    ("sparse_categorical_crossentropy", {"from_logits": True}, lambda: rng.integers(0, 5, SHAPE[:-1]),
     lambda y, z: np.mean(-np.take_along_axis(z - np.log(np.exp(z).sum(-1, keepdims=True)), y[..., None], -1))),
    ("sparse_categorical_crossentropy", {}, lambda: rng.integers(0, 5, SHAPE[:-1]),
     lambda y, p: np.mean(-np.log(np.take_along_axis(p / p.sum(-1, keepdims=True), y[..., None], -1)))),
]


def predictions(name, config):
    if name == "binary_crossentropy" and not config:
        return rng.uniform(0.05, 0.95, SHAPE)
    if name == "sparse_categorical_crossentropy" and not config:
        return rng.uniform(0.1, 1.0, SHAPE)
    return rng.normal(size=SHAPE)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + ("_logits" if c[1] else ""))
def test_value_and_gradient(case):
    name, config, targets, formula = case
    loss = losses.get(name, **config)
    y, p = targets(), predictions(name, config)
    value, grad = loss.value_and_gradient(y, p)
    assert value == pytest.approx(formula(y, p), rel=1e-12)
    np.testing.assert_allclose(grad, numeric(lambda: loss(y, p), p), rtol=1e-6, atol=1e-9)
    mask = (rng.uniform(size=SHAPE[:-1]) > 0.4).astype(float)  # e.g. steps past each sequence's length
    kept = mask.astype(bool)
    masked, masked_grad = loss.value_and_gradient(y, p, mask=mask)
    assert masked == pytest.approx(loss(y[kept], p[kept]), rel=1e-12)
    assert not masked_grad[~kept].any()
    np.testing.assert_allclose(masked_grad, numeric(lambda: loss(y, p, mask=mask), p), rtol=1e-6, atol=1e-9)


def test_stability_at_extreme_inputs():
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    for y in (np.zeros_like(z), np.ones_like(z)):
        value, grad = losses.BinaryCrossentropy(from_logits=True).value_and_gradient(y, z)
        assert np.isfinite(value) and np.isfinite(grad).all()
    value, grad = losses.SparseCategoricalCrossentropy(from_logits=True).value_and_gradient(np.array([0]), z)
    assert value == pytest.approx(2e4, rel=1e-9) and np.isfinite(grad).all()
    p = np.array([[0.0, 1.0, 0.5]])  # clipped as Keras: finite, no gradient where clipped
    value, grad = losses.BinaryCrossentropy().value_and_gradient(np.array([[1.0, 0.0, 1.0]]), p)
    assert value == pytest.approx((-np.log(1e-7) * 2 - np.log(0.5)) / 3, rel=1e-6)
    assert grad[0, 0] == 0 and grad[0, 1] == 0


def test_accuracy_and_errors():
    z = np.array([[2.0, 0.1, -1.0], [0.0, 3.0, 1.0]])
    assert losses.accuracy(losses.SparseCategoricalCrossentropy(True), np.array([0, 2]), z) == 0.5
    assert losses.accuracy(losses.BinaryCrossentropy(True), np.array([[1, 0, 0]]), np.array([[0.3, -2, 1]])) \
        == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="class ids must be in"):
        losses.SparseCategoricalCrossentropy()(np.array([3, 0]), z)
    with pytest.raises(ValueError, match="y_true must have the shape"):
        losses.MeanSquaredError()(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="loss must be"):
        losses.get("hinge")
