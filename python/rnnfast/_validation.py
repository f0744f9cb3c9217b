"""Argument checks shared by the layers: every message names the argument and what was expected."""

from __future__ import annotations

import functools
import math
import numbers
import os
from typing import Any

import numpy as np

_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def check_dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if resolved not in _DTYPES.values():
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return resolved


def check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def check_epsilon(value: Any, name: str = "layer_norm_epsilon") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive float, got {type(value).__name__}")
    if not (math.isfinite(float(value)) and float(value) > 0.0):
        raise ValueError(f"{name} must be a positive finite float, got {value}")
    return float(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return str(value)


def as_float_array(value: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array of `dtype` (converted from any real array-like; a copy only when needed)."""
    if value is None:
        raise TypeError(f"{name} must be an array, got None")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_shape(arr: np.ndarray, expected: tuple[int, ...], name: str, what: str = "") -> None:
    if arr.shape != tuple(expected):
        hint = f" {what}" if what else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{hint}, got {arr.shape}")


def as_lengths(value: Any, batch: int, time: int) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"lengths must be a 1-D integer array: {exc}") from None
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must hold integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},) (one length per sequence), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > time):
        raise ValueError(f"lengths must lie in [0, {time}] (the number of time steps), got {arr.min()}..{arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def physical_memory() -> int | None:
    """Bytes of physical memory, where the system tells (asked once: a call's check costs no system call)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_call_memory(rows: int, units: int, gates: int, itemsize: int, training: bool) -> None:
    """MemoryError before a call whose buffers cannot fit in this machine's memory: the output (rows × units),
    and in training what backward keeps per step and row (the gates' activations and the states entering the
    step). Allocating it instead could succeed on paper and end in the kernel's out-of-memory killer."""
    per_row = units * (1 + (gates + 3 if training else 0))
    need = rows * per_row * itemsize
    have = physical_memory()
    if have is not None and need > have:
        what = "training (backward keeps every step's activations)" if training else "its outputs"
        raise MemoryError(
            f"this call needs about {need / 2**30:.1f} GiB for {what}: batch × time = {rows} rows of {per_row} "
            f"values; the machine has {have / 2**30:.1f} GiB. Use fewer steps per call (e.g. fit's tbptt_steps) "
            "or a smaller batch"
        )
