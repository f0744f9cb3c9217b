"""StreamingModel: a saved model run by the C++ loader from Python, one time step at a time or over sequences."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._engine import core
from ._validation import check_dtype


class StreamingModel:
    """A saved model read by the C++ loader (the one a C++ program uses: rnnfast::Model in rnnfast/model.hpp),
    run one time step at a time (batch 1) or over whole sequences — to try from Python what the C++ program will
    do.

        model = rf.StreamingModel("forecaster.safetensors")
        y_t = model.step(x_t)     # x_t: (input_size,) or (1, input_size); y_t: (1, output_size)
        model.reset()             # zeros; model.state() reads the state, model.reset(state) sets it
        y = model.predict(x)      # x: (batch, time, input_size) -> (batch, time, output_size), every step's
                                  # output (a model that returns only the last step's has it at y[:, -1])

    Streamable models stack SimpleRNN/LSTM/GRU layers (no go_backwards) and Dense layers; anything else, or a
    damaged file, raises ValueError.
    """

    def __init__(self, path: str | os.PathLike, dtype: Any = "float32") -> None:
        self.dtype = check_dtype(dtype)
        os.stat(path)  # a missing path raises FileNotFoundError, as in load_model
        cls = core.StreamingModel32 if self.dtype == np.float32 else core.StreamingModel64
        self._model = cls(os.fspath(path))
        self.input_size = int(self._model.input_size)
        self.output_size = int(self._model.output_size)

    def step(self, x_t: Any) -> np.ndarray:
        try:
            return self._model.step(x_t)
        except TypeError:
            x = np.ascontiguousarray(x_t, dtype=self.dtype).reshape(1, -1)
            if x.shape[1] != self.input_size:
                raise ValueError(f"x_t must hold {self.input_size} values, got shape {np.shape(x_t)}") from None
            return self._model.step(x)

    def reset(self, state: Any = None) -> None:
        """Zeros the streaming state, or sets it to `state` as state() returned it."""
        if state is None:
            self._model.reset()
            return
        values = np.ascontiguousarray(state, dtype=self.dtype)
        if values.shape != (self.state_size,):
            raise ValueError(f"state must have shape ({self.state_size},) as state() returns, got {values.shape}")
        self._model.set_state(values)

    @property
    def state_size(self) -> int:
        return int(self._model.state_size)

    def state(self) -> np.ndarray:
        """The streaming state as one vector: each recurrent layer's h, then its c (LSTM only)."""
        return self._model.state()

    def predict(self, x: Any) -> np.ndarray:
        """Whole sequences from zero states (the streaming state is left alone)."""
        values = np.ascontiguousarray(x, dtype=self.dtype)
        if values.ndim != 3 or values.shape[2] != self.input_size:
            raise ValueError(f"x must be (batch, time, {self.input_size}), got shape {np.shape(x)}")
        return self._model.run(values)

    def copy(self) -> StreamingModel:
        """Another stream of this model: the weights are shared (read-only), the state is copied. Streams step
        independently, also on several threads at once (step releases the GIL)."""
        other = object.__new__(StreamingModel)
        other.dtype, other.input_size, other.output_size = self.dtype, self.input_size, self.output_size
        other._model = self._model.copy()
        return other
