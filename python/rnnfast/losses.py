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
    """The base class of the losses: the value, its gradient, and Keras' reduction.

    A loss compares targets `y_true` with predictions `y_pred` of shape ``(*samples, features)``. It computes
    one value per sample (MeanSquaredError, MeanAbsoluteError and BinaryCrossentropy average their elementwise
    values over the last axis; SparseCategoricalCrossentropy has one value per sample) and averages those over
    every leading axis: a batch of sequence outputs ``(batch, time, features)`` averages over batch and time. An
    optional `mask` of the samples' shape weights the samples, typically 0 for the steps past a sequence's length
    and 1 elsewhere; the mean is then over the samples kept. This is Keras' default reduction
    (``"sum_over_batch_size"``) with its masking. Sequential.compile takes a loss instance or its name (see
    get); calling a loss gives its value, value_and_gradient its value and its gradient, which Sequential
    backpropagates. The values are computed in float64.

    Attributes
    ----------
    name : str
        The loss's canonical name (as the model file records it), e.g. ``"mean_squared_error"``.

    Examples
    --------
    >>> loss = rf.losses.MeanSquaredError()
    >>> y_true = np.array([[0.0, 1.0], [1.0, 1.0]])
    >>> y_pred = np.array([[0.0, 0.0], [1.0, 3.0]])
    >>> loss(y_true, y_pred)  # per sample (1 + 0) / 2 and (0 + 4) / 2, then their mean
    1.25
    >>> loss(y_true, y_pred, mask=np.array([1.0, 0.0]))  # the second sample left out
    0.5
    >>> value, grad = loss.value_and_gradient(y_true, y_pred)
    >>> grad
    array([[ 0. , -0.5],
           [ 0. ,  1. ]])
    """

    name = ""
    elementwise = True  # one value per element, averaged over the last axis (else one per sample)

    def value_and_gradient(self, y_true: Any, y_pred: np.ndarray, mask: np.ndarray | None = None
                           ) -> tuple[float, np.ndarray]:
        """Return the loss and its gradient with respect to `y_pred`.

        Parameters
        ----------
        y_true : array_like
            The targets. For MeanSquaredError, MeanAbsoluteError and BinaryCrossentropy: the shape of `y_pred`
            (0/1 labels, or probabilities, for the binary cross-entropy). For SparseCategoricalCrossentropy:
            integer class ids in ``[0, classes)`` of shape ``y_pred.shape[:-1]`` (or with a trailing axis of 1).
        y_pred : numpy.ndarray
            The predictions, a float32 or float64 array ``(*samples, features)``: values, probabilities or
            logits, as the loss expects.
        mask : array_like or None, default None
            Weights of the samples, of shape ``y_pred.shape[:-1]``: 1 keeps a sample, 0 leaves it out (other
            non-negative values weight it). The loss is ``sum(mask * per_sample) / max(sum(mask), 1)``, so an
            all-zero mask gives 0.0. None weights every sample 1.

        Returns
        -------
        value : float
            The loss.
        gradient : numpy.ndarray
            d value / d y_pred, of the shape and dtype of `y_pred` (the averaging over samples and features
            included; 0 for masked samples).

        Raises
        ------
        TypeError
            If `y_pred` is not a float array, or a sparse target is not an integer.
        ValueError
            If `y_true` or `mask` has the wrong shape, or a class id is out of range.
        """
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
        """The loss value alone: ``value_and_gradient(y_true, y_pred, mask)[0]``."""
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
        """Return the constructor arguments (``{}`` for losses that take none), as the model file records them.

        Returns
        -------
        dict
            JSON-serialisable keyword arguments: ``type(loss)(**loss.get_config())`` is an equal loss.
        """
        return {}


class MeanSquaredError(Loss):
    """Mean squared error, Keras' ``MeanSquaredError`` (names ``"mse"``, ``"mean_squared_error"``).

    Per sample ``mean((y_pred - y_true)**2)`` over the last axis, then the mean over the samples (see Loss). The
    targets have the predictions' shape. It takes no arguments.

    Examples
    --------
    >>> loss = rf.losses.MeanSquaredError()
    >>> loss(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
    0.125
    >>> rf.losses.get("mse").name
    'mean_squared_error'
    """

    name = "mean_squared_error"

    def _per_element(self, y_true, y_pred):
        diff = y_pred - y_true
        return diff * diff, 2.0 * diff


class MeanAbsoluteError(Loss):
    """Mean absolute error, Keras' ``MeanAbsoluteError`` (names ``"mae"``, ``"mean_absolute_error"``).

    Per sample ``mean(abs(y_pred - y_true))`` over the last axis, then the mean over the samples (see Loss); its
    gradient is ``sign(y_pred - y_true)`` scaled by the averaging (0 where they are equal). The targets have the
    predictions' shape. It takes no arguments.

    Examples
    --------
    >>> loss = rf.losses.MeanAbsoluteError()
    >>> loss(np.array([[1.0, 0.0]]), np.array([[0.5, 1.0]]))
    0.75
    """

    name = "mean_absolute_error"

    def _per_element(self, y_true, y_pred):
        diff = y_pred - y_true
        return np.abs(diff), np.sign(diff)


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, Keras' ``BinaryCrossentropy`` (names ``"binary_crossentropy"``, ``"bce"``).

    For 0/1 labels (or target probabilities) `y` of the predictions' shape, one or more independent binary
    outputs per sample: per element ``-(y·log(p) + (1 - y)·log(1 - p))``, averaged over the last axis, then over
    the samples (see Loss). With probabilities (a sigmoid output layer), p is clipped to ``[1e-7, 1 - 1e-7]``
    as Keras does, and the clipped elements pass no gradient. With logits, the loss is computed in the stable
    form ``max(z, 0) - z·y + log(1 + exp(-|z|))`` of the logit z, with the gradient ``sigmoid(z) - y``: more
    accurate than a sigmoid layer followed by the probability form (PyTorch's ``BCEWithLogitsLoss``). With
    ``metrics=["accuracy"]`` a prediction counts as 1 above 0.5 (above 0 for logits).

    Parameters
    ----------
    from_logits : bool, default False
        True: `y_pred` are logits (a linear output layer). False: probabilities in [0, 1].

    Examples
    --------
    >>> y_true = np.array([[1.0], [0.0]])
    >>> logits = np.array([[2.0], [-1.0]])
    >>> round(rf.losses.BinaryCrossentropy(from_logits=True)(y_true, logits), 4)
    0.2201
    >>> probabilities = 1 / (1 + np.exp(-logits))
    >>> round(rf.losses.BinaryCrossentropy()(y_true, probabilities), 4)
    0.2201
    """

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
        """Return ``{"from_logits": ...}``, the constructor's argument.

        Returns
        -------
        dict
            ``{"from_logits": bool}``.
        """
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(Loss):
    """Categorical cross-entropy with integer class ids, Keras' ``SparseCategoricalCrossentropy``.

    Name ``"sparse_categorical_crossentropy"``. The predictions hold one score per class on their last axis,
    ``(*samples, classes)``; the targets are integer class ids of shape ``(*samples,)`` (or ``(*samples, 1)``).
    Per sample ``-log q[y]``, averaged over the samples (see Loss). With logits (a linear output layer, as
    PyTorch's ``CrossEntropyLoss`` takes), q is their softmax, computed as a stable log-softmax, and the gradient
    is ``softmax(z) - onehot(y)``. With probabilities (a softmax output layer), the scores are divided by their
    sum and ``q[y]`` is clipped to ``[1e-7, 1 - 1e-7]`` as Keras does. For one-hot targets pass
    ``y.argmax(-1)``. With ``metrics=["accuracy"]`` a prediction is its arg-max.

    Parameters
    ----------
    from_logits : bool, default False
        True: `y_pred` are logits. False: probabilities (each row summing to 1, or normalised to).

    Examples
    --------
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    >>> y_true = np.array([0, 2])
    >>> loss = rf.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> round(loss(y_true, logits), 4)
    0.1672
    >>> value, grad = loss.value_and_gradient(y_true, logits)
    >>> grad.shape
    (2, 3)
    """

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
        """Return ``{"from_logits": ...}``, the constructor's argument.

        Returns
        -------
        dict
            ``{"from_logits": bool}``.
        """
        return {"from_logits": self.from_logits}


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier: Any, **config: Any) -> Loss:
    """Return a loss from a name or an instance, as Sequential.compile does.

    Parameters
    ----------
    identifier : str or Loss
        A name, case-insensitive: ``"mse"``, ``"mean_squared_error"``, ``"mae"``, ``"mean_absolute_error"``,
        ``"binary_crossentropy"``, ``"bce"``, ``"sparse_categorical_crossentropy"``; or a Loss, returned as it is.
    **config
        Keyword arguments of the named loss's class, e.g. ``from_logits=True`` for the cross-entropies; ignored
        when `identifier` is a Loss.

    Returns
    -------
    Loss
        A new loss for a name; `identifier` itself for a Loss.

    Raises
    ------
    ValueError
        If `identifier` is neither a Loss nor a known name.
    TypeError
        If the class does not take `config` (e.g. ``get("mse", from_logits=True)``).

    Examples
    --------
    >>> type(rf.losses.get("MSE")).__name__
    'MeanSquaredError'
    >>> rf.losses.get("sparse_categorical_crossentropy", from_logits=True).get_config()
    {'from_logits': True}
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()](**config)
    raise ValueError(f"loss must be an rnnfast loss or one of {sorted(_BY_NAME)}, got {identifier!r}")


def accuracy(loss: Loss, y_true: Any, y_pred: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Return the accuracy that matches a classification loss, as ``metrics=["accuracy"]`` computes it.

    SparseCategoricalCrossentropy: the fraction of samples whose arg-max over the last axis equals the class id
    (Keras' ``sparse_categorical_accuracy``). BinaryCrossentropy: a prediction above 0.5 (above 0 with
    ``from_logits=True``) against a target above 0.5, averaged over the last axis, then over the samples
    (Keras' ``binary_accuracy``). `mask` weights the samples as in Loss.value_and_gradient.

    Parameters
    ----------
    loss : Loss
        A BinaryCrossentropy or SparseCategoricalCrossentropy: it says how to read `y_true` and `y_pred`.
    y_true : array_like
        The targets, as the loss takes them.
    y_pred : numpy.ndarray
        The predictions ``(*samples, features)``.
    mask : array_like or None, default None
        Weights of the samples, of shape ``y_pred.shape[:-1]`` (0 leaves a sample out); None weights all 1.

    Returns
    -------
    float
        The accuracy, in [0, 1].

    Raises
    ------
    ValueError
        If `loss` is not one of the two cross-entropies, or the targets do not fit the predictions.

    Examples
    --------
    >>> loss = rf.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> rf.losses.accuracy(loss, np.array([0, 1]), np.array([[2.0, 1.0], [3.0, 0.0]]))
    0.5
    """
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
