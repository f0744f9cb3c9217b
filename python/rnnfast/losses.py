"""Losses with Keras' definitions and reduction, each with its gradient.

    loss_fn = rf.losses.get("sparse_categorical_crossentropy", from_logits=True)
    value, d_pred = loss_fn.value_and_gradient(y_true, y_pred, mask=None)

A loss is computed per sample (mean squared / absolute error and binary cross-entropy average over the last axis;
the categorical cross-entropy has one value per sample), then averaged over the samples — every leading axis,
so a sequence of predictions (batch, time, ...) averages over batch and time. `mask` (the leading shape, 0 or 1)
leaves samples out, e.g. steps past a sequence's length: the mean is then over the samples kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [ε, 1 − ε]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    out[~positive] = e / (1.0 + e)
    return out


class Loss:
    name = ""
    elementwise = True  # one value per element, averaged over the last axis (else one per sample)

    def value_and_gradient(self, y_true: Any, y_pred: np.ndarray, mask: np.ndarray | None = None
                           ) -> tuple[float, np.ndarray]:
        y_pred = np.asarray(y_pred)
        if not np.issubdtype(y_pred.dtype, np.floating):
            raise TypeError(f"y_pred must be a float array, got dtype {y_pred.dtype}")
        y_true = self._check_targets(y_true, y_pred)
        per_element, grad = self._per_element(y_true, y_pred.astype(np.float64))
        sample_shape = y_pred.shape[:-1] if self.elementwise else per_element.shape
        per_sample = per_element.mean(axis=-1) if self.elementwise else per_element
        weights = np.ones(sample_shape) if mask is None else np.asarray(mask, dtype=np.float64)
        if weights.shape != sample_shape:
            raise ValueError(f"mask must have shape {sample_shape} (the samples' shape), got {weights.shape}")
        count = max(float(weights.sum()), 1.0)
        value = float((per_sample * weights).sum() / count)
        scale = weights / count
        if self.elementwise:
            scale = scale[..., None] / y_pred.shape[-1]
        else:
            scale = scale[..., None]
        return value, (grad * scale).astype(y_pred.dtype)

    def __call__(self, y_true: Any, y_pred: np.ndarray, mask: np.ndarray | None = None) -> float:
        return self.value_and_gradient(y_true, y_pred, mask)[0]

    def _check_targets(self, y_true: Any, y_pred: np.ndarray) -> np.ndarray:
        y_true = np.asarray(y_true, dtype=np.float64)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true must have the shape of the predictions {y_pred.shape}, got {y_true.shape}")
        return y_true

    def _per_element(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The loss of each element (or sample) and its derivative with respect to y_pred."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def _per_element(self, y_true, y_pred):
        diff = y_pred - y_true
        return diff * diff, 2.0 * diff


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def _per_element(self, y_true, y_pred):
        diff = y_pred - y_true
        return np.abs(diff), np.sign(diff)


class BinaryCrossentropy(Loss):
    """from_logits=True: y_pred are logits (stable form max(z, 0) − z·y + log(1 + e^−|z|)); else probabilities,
    clipped to [1e-7, 1 − 1e-7] as Keras."""

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    def _per_element(self, y_true, y_pred):
        if self.from_logits:
            z = y_pred
            value = np.maximum(z, 0.0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
            return value, _sigmoid(z) - y_true
        p = np.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
        value = -(y_true * np.log(p) + (1.0 - y_true) * np.log(1.0 - p))
        inside = (y_pred > _EPSILON) & (y_pred < 1.0 - _EPSILON)  # the clip passes no gradient outside
        return value, np.where(inside, (p - y_true) / (p * (1.0 - p)), 0.0)

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(Loss):
    """Integer class ids against scores over the last axis: from_logits=True takes logits (log-softmax, stable);
    else probabilities, normalised to sum 1 and clipped to [1e-7, 1 − 1e-7] as Keras."""

    name = "sparse_categorical_crossentropy"
    elementwise = False

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    def _check_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.shape == (*y_pred.shape[:-1], 1):
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"y_true must hold class ids of shape {y_pred.shape[:-1]}, got {y_true.shape}")
        if not (np.issubdtype(y_true.dtype, np.integer) or np.all(np.mod(y_true, 1) == 0)):
            raise TypeError("y_true must hold integer class ids")
        ids = y_true.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= y_pred.shape[-1]):
            raise ValueError(f"class ids must be in [0, {y_pred.shape[-1]}), got {ids.min()}..{ids.max()}")
        return ids

    def _per_element(self, y_true, y_pred):
        one_hot = np.zeros_like(y_pred)
        np.put_along_axis(one_hot, y_true[..., None], 1.0, axis=-1)
        if self.from_logits:
            shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
            log_norm = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            log_softmax = shifted - log_norm
            value = -np.take_along_axis(log_softmax, y_true[..., None], axis=-1)[..., 0]
            return value, np.exp(log_softmax) - one_hot
        total = y_pred.sum(axis=-1, keepdims=True)
        q = np.take_along_axis(y_pred / total, y_true[..., None], axis=-1)
        qc = np.clip(q, _EPSILON, 1.0 - _EPSILON)
        inside = (q > _EPSILON) & (q < 1.0 - _EPSILON)
        # d(−log q_y)/dp_j = (q_y − δ_jy)/(q_y·Σp), where the clip lets it through
        grad = np.where(inside, (q - one_hot) / (qc * total), 0.0)
        return -np.log(qc[..., 0]), grad

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier: Any, **config: Any) -> Loss:
    """A loss from an instance or a name (mse, mae, binary_crossentropy, sparse_categorical_crossentropy)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()](**config)
    raise ValueError(f"loss must be an rnnfast loss or one of {sorted(_BY_NAME)}, got {identifier!r}")


def accuracy(loss: Loss, y_true: Any, y_pred: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The accuracy that fits the loss: class ids against the arg-max (sparse categorical), or 0/1 targets
    against predictions above 0.5 (binary; logits above 0)."""
    y_pred = np.asarray(y_pred)
    if isinstance(loss, SparseCategoricalCrossentropy):
        ids = loss._check_targets(y_true, y_pred)
        hits = (np.argmax(y_pred, axis=-1) == ids).astype(np.float64)
    elif isinstance(loss, BinaryCrossentropy):
        threshold = 0.0 if loss.from_logits else 0.5
        hits = ((y_pred > threshold) == (np.asarray(y_true) > 0.5)).astype(np.float64).mean(axis=-1)
    else:
        raise ValueError(f"accuracy needs a classification loss, not {loss.name}")
    weights = np.ones(hits.shape) if mask is None else np.asarray(mask, dtype=np.float64)
    return float((hits * weights).sum() / max(float(weights.sum()), 1.0))
