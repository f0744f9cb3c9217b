"""rnnfast: fast recurrent neural networks on the CPU.

SimpleRNN, LSTM and GRU layers with Keras' vocabulary and weight layouts, running forward and backward (BPTT)
in a C++ engine.
"""

from __future__ import annotations

from . import _core
from .layers import GRU, LSTM, SimpleRNN

__version__ = "0.1.0"
__all__ = ["GRU", "LSTM", "SimpleRNN", "get_num_threads", "set_num_threads", "__version__"]


def set_num_threads(n: int) -> None:
    """Threads used by the engine's matrix products (the OpenBLAS pool). Default: all cores."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads used by the engine's matrix products."""
    return int(_core.get_num_threads())
