"""Keras' default initialisers, drawn from one seedable NumPy generator."""

from __future__ import annotations

import numpy as np


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform in ±sqrt(6 / (fan_in + fan_out)), fan_in = rows, fan_out = columns (Keras' GlorotUniform; a vector
    has fan_in = fan_out = its length)."""
    fan_in, fan_out = (shape[0], shape[0]) if len(shape) == 1 else (shape[0], shape[1])
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def orthogonal(rng: np.random.Generator, shape: tuple[int, int], gain: float = 1.0) -> np.ndarray:
    """A (semi-)orthogonal matrix as Keras' Orthogonal: QR of a normal matrix, signs fixed by diag(R)."""
    rows, cols = shape
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q
