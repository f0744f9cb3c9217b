"""rnnfast: fast recurrent neural networks on the CPU.

SimpleRNN, LSTM and GRU layers (with peepholes, layer norm, dropout, Bidirectional) with Keras' vocabulary and
weight layouts, running forward and backward (BPTT) in a C++ engine; Dense, Embedding, losses, optimisers and
Sequential models to train them with Keras' habits.
"""

from __future__ import annotations

from . import datasets, losses, optimizers
from ._engine import core as _core
from .callbacks import Callback, EarlyStopping, History
from .importers import from_keras, from_torch
from .layers import GRU, LSTM, RNN, Bidirectional, Dense, Embedding, Layer, SimpleRNN, TimeDistributed
from .model import Sequential
from .saving import load_model, save_model
from .streaming import StreamingModel

__version__ = "0.1.0"
__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "Callback",
    "Dense",
    "EarlyStopping",
    "Embedding",
    "History",
    "Layer",
    "Sequential",
    "SimpleRNN",
    "StreamingModel",
    "TimeDistributed",
    "__version__",
    "datasets",
    "from_keras",
    "from_torch",
    "get_num_threads",
    "load_model",
    "losses",
    "optimizers",
    "save_model",
    "set_num_threads",
]


def set_num_threads(n: int) -> None:
    """Size of rnnfast's thread pool. Default: the physical cores this process may run on.

    A call with enough work per time step runs on the whole pool (each thread owns a slice of the units); calls
    made while the pool is busy, e.g. from several Python threads at once, run on their calling thread instead.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Size of rnnfast's thread pool."""
    return int(_core.get_num_threads())
