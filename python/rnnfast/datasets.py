"""Small synthetic datasets for the examples and the demo (NumPy only)."""

from __future__ import annotations

import numpy as np


def time_series(count: int, steps: int, ahead: int = 1, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return a forecasting task: noisy sums of two sine waves, and the values that follow them.

    Each series is ``0.5·sin((t − o₁)·(10 f₁ + 10)) + 0.2·sin((t − o₂)·(20 f₂ + 20))`` plus uniform noise in
    [−0.05, 0.05), over ``steps + ahead`` points of t evenly spaced in [0, 1], with f₁, f₂, o₁, o₂ drawn
    uniformly in [0, 1) per series: the generator of Géron's *Hands-On Machine Learning*, chapter on RNNs. The
    first `steps` values are the input, the last `ahead` the targets.

    Parameters
    ----------
    count : int
        The number of series (samples).
    steps : int
        The time steps of each input sequence.
    ahead : int, default 1
        The number of values to forecast after each input.
    seed : int or None, default None
        Seed of the NumPy generator (``np.random.default_rng(seed)``); None draws fresh entropy.

    Returns
    -------
    x : numpy.ndarray
        ``(count, steps, 1)``, float32: the inputs, one feature per step.
    y : numpy.ndarray
        ``(count, ahead)``, float32: the following `ahead` values of each series.

    Examples
    --------
    >>> x, y = rf.datasets.time_series(100, 50, ahead=10, seed=0)
    >>> x.shape, y.shape, x.dtype
    ((100, 50, 1), (100, 10), dtype('float32'))
    >>> model = rf.Sequential([rf.GRU(8, seed=0), rf.Dense(10, seed=1)])  # ten steps ahead at once
    >>> model.compile(loss="mse")
    >>> _ = model.fit(x, y, epochs=1, verbose=0)
    """
    rng = np.random.default_rng(seed)
    freq1, freq2, offsets1, offsets2 = rng.random((4, count, 1))
    t = np.linspace(0, 1, steps + ahead)
    series = 0.5 * np.sin((t - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((t - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (rng.random((count, steps + ahead)) - 0.5)
    series = series.astype(np.float32)
    return series[:, :steps, None], series[:, steps:]


def adding_problem(count: int, steps: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the adding problem (Hochreiter & Schmidhuber, 1997), a test of long-term memory.

    Each step has two features: a random value, uniform in [0, 1), and a marker, 0 or 1. Two steps of each
    sequence are marked, one among the first ``max(steps // 10, 1)`` steps and one in the second half; the target
    is the sum of the two marked values. Predicting the mean, 1.0, scores a mean squared error of about 0.167
    (the variance of the sum, 2/12): a model must carry the early marked value over most of the sequence to
    beat it.

    Parameters
    ----------
    count : int
        The number of sequences (samples).
    steps : int
        The time steps of each sequence; at least 2, so that the two marks fall on different steps.
    seed : int or None, default None
        Seed of the NumPy generator (``np.random.default_rng(seed)``); None draws fresh entropy.

    Returns
    -------
    x : numpy.ndarray
        ``(count, steps, 2)``, float32: the values (feature 0) and the markers (feature 1).
    y : numpy.ndarray
        ``(count, 1)``, float32: the sums.

    Examples
    --------
    >>> x, y = rf.datasets.adding_problem(64, 100, seed=0)
    >>> x.shape, y.shape, x.dtype
    ((64, 100, 2), (64, 1), dtype('float32'))
    >>> x[:, :, 1].sum(axis=1)[:3]  # two marks per sequence
    array([2., 2., 2.], dtype=float32)
    >>> bool(np.allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(axis=1)))
    True
    """
    rng = np.random.default_rng(seed)
    values = rng.random((count, steps))
    markers = np.zeros((count, steps))
    first = rng.integers(0, max(steps // 10, 1), count)
    second = rng.integers(steps // 2, steps, count)
    rows = np.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second])[:, None].astype(np.float32)
    return x, y
