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
    """Set the size of rnnfast's thread pool, the one pool of the process.

    The pool runs rnnfast's whole-sequence calls: layer calls and their backward passes, and so fit, evaluate,
    predict and StreamingModel.predict. A call whose time steps are large enough to repay a meeting of the
    threads per step (about 10⁵ floating-point operations per step and up) runs on the whole pool, each thread
    owning a slice of the units; smaller calls run on the calling thread alone. One call runs on the pool at a
    time: a call made while the pool is busy (from another Python thread, or from inside another library's worker
    threads) runs on its calling thread instead of waiting, so rnnfast never runs more than ``n - 1`` pool threads
    besides the callers' own. One-step calls (``step()``) always run on the calling thread. The matrix products
    OpenBLAS computes are kept at one thread, so the two never compete for the cores.

    Parameters
    ----------
    n : int
        The number of threads, the calling thread included; ``n >= 1``. ``1`` runs every call on its calling
        thread (use it under an outer pool that already occupies every core). The default, before any call, is
        the number of physical cores (not hyper-threads) this process may run on (its CPU affinity). A call
        waits for a running rnnfast call to finish before it resizes the pool.

    Raises
    ------
    ValueError
        If `n` is not a positive int (a bool is refused too).

    See Also
    --------
    get_num_threads : The current size.

    Examples
    --------
    >>> before = rf.get_num_threads()
    >>> rf.set_num_threads(1)
    >>> rf.get_num_threads()
    1
    >>> rf.set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Return the size of rnnfast's thread pool.

    The number of threads a large enough whole-sequence call runs on, the calling thread included; see
    set_num_threads. Unless set_num_threads changed it, the number of physical cores this process may run on.

    Returns
    -------
    int
        The pool's size, ``>= 1``.

    See Also
    --------
    set_num_threads : Changes it.

    Examples
    --------
    >>> rf.get_num_threads() >= 1
    True
    """
    return int(_core.get_num_threads())
