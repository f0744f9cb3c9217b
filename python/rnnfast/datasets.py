"""Small synthetic datasets for the examples and the demo (NumPy only)."""

from __future__ import annotations

import numpy as np


def time_series(count: int, steps: int, ahead: int = 1, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` noisy sums of two sines (random frequencies and phases), as in Géron's Hands-On Machine Learning:
    inputs (count, steps, 1) and the `ahead` values that follow each, (count, ahead). float32."""
    rng = np.random.default_rng(seed)
    freq1, freq2, offsets1, offsets2 = rng.random((4, count, 1))
    t = np.linspace(0, 1, steps + ahead)
    series = 0.5 * np.sin((t - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((t - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (rng.random((count, steps + ahead)) - 0.5)
    series = series.astype(np.float32)
    return series[:, :steps, None], series[:, steps:]


def adding_problem(count: int, steps: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber): each step has a random value in [0, 1) and a marker; two
    markers are set, one in the first tenth of the sequence and one in the second half, and the target is the
    sum of the two marked values. Inputs (count, steps, 2), targets (count, 1); float32. Predicting 1.0 scores
    a mean squared error of about 0.167: a model must remember the early marked value over most of the sequence
    to beat it."""
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
