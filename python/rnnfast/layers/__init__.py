"""rnnfast's layers, one module per family; every layer derives from Layer (base.py).

* recurrent.py: SimpleRNN, LSTM, GRU, the C++ engine's cells over whole sequences, and one step at a time.
* custom_cell.py: RNN(cell), a cell written in NumPy (the Cell protocol), with the built-in layers' sequence
  options.
* bidirectional.py: Bidirectional, a recurrent layer and its mirror image, outputs merged per step.
* core.py: Dense, TimeDistributed, Embedding.
"""

from __future__ import annotations

from .base import Layer
from .bidirectional import Bidirectional
from .core import Dense, Embedding, TimeDistributed
from .custom_cell import RNN, Cell
from .recurrent import GRU, LSTM, SimpleRNN

__all__ = [
           "GRU",
           "LSTM",
           "RNN",
           "Bidirectional",
           "Cell",
           "Dense",
           "Embedding",
           "Layer",
           "SimpleRNN",
           "TimeDistributed",
]
