"""StreamingModel: a saved model run by the C++ loader from Python, one time step at a time or over sequences."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._engine import core
from ._validation import check_dtype


class StreamingModel:
    """A saved model run by the C++ loader, one time step at a time or over whole sequences.

    It reads a file written by save_model / Sequential.save with the C++ reader, ``rnnfast::Model<T>::load``
    (rnnfast/model.hpp), the one a C++ program embeds, so that what the C++ program will compute can be tried
    from Python. The file is checked whole as load_model checks it (docs/model-file-format.md), then the model
    must run one step at a time: a stack of SimpleRNN, LSTM and GRU layers (every variant: peepholes, layer
    norm, either reset_after; no go_backwards) and Dense or TimeDistributed(Dense) layers. Embedding and
    Bidirectional layers are refused. The compile settings and optimiser state are checked but not used, and
    the training-only options (dropout, stateful, return_sequences, ...) do not change what it computes.

    The model keeps a streaming state (each recurrent layer's h, and c for an LSTM) for step(), batch 1; predict
    runs whole batches of sequences from zero states and leaves that state alone. step and predict release the
    GIL; predict uses rnnfast's thread pool (set_num_threads), step the calling thread. For several streams at
    once (one per audio channel, per client), use one copy() per stream: copies share the weights.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    dtype : str or numpy.dtype, default "float32"
        ``"float32"`` or ``"float64"``: the dtype it computes in, takes and returns; the file's weights are
        converted to it (a float64 model file runs in float32 by default).

    Attributes
    ----------
    dtype : numpy.dtype
        float32 or float64.
    input_size : int
        The features of one time step of the input.
    output_size : int
        The features of one time step of the output.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file is not a valid model file, or holds a layer that cannot run one step at a time, or `dtype` is
        neither float32 nor float64.
    TypeError
        If `dtype` is not a dtype at all.

    See Also
    --------
    Sequential.step : The same stepping on an rnnfast model in memory.

    Examples
    --------
    >>> model = rf.Sequential([rf.LSTM(8, input_size=2, seed=0), rf.Dense(1, input_size=8, seed=1)])
    >>> model.save("forecaster.safetensors")
    >>> stream = rf.StreamingModel("forecaster.safetensors")
    >>> stream.input_size, stream.output_size, stream.state_size
    (2, 1, 16)
    >>> x = np.random.default_rng(0).standard_normal((1, 10, 2)).astype(np.float32)
    >>> for t in range(10):
    ...     y_t = stream.step(x[0, t])
    >>> y_t.shape, y_t.dtype
    ((1, 1), dtype('float32'))
    >>> bool(np.allclose(y_t, model.predict(x), atol=1e-6))  # the model returns the last step's output
    True
    >>> stream.predict(x).shape  # every step's output
    (1, 10, 1)
    """

    def __init__(self, path: str | os.PathLike, dtype: Any = "float32") -> None:
        self.dtype = check_dtype(dtype)
        os.stat(path)  # a missing path raises FileNotFoundError, as in load_model
        cls = core.StreamingModel32 if self.dtype == np.float32 else core.StreamingModel64
        self._model = cls(os.fspath(path))
        self.input_size = int(self._model.input_size)
        self.output_size = int(self._model.output_size)

    def step(self, x_t: Any) -> np.ndarray:
        """Run one time step of every layer from the streaming state, and keep the new state.

        A C-contiguous ``(1, input_size)`` array of the model's dtype goes to C++ as it is (checked there without
        a conversion); anything else is converted first. The GIL is released during the step. One model (or
        copy) must be stepped from one thread at a time.

        Parameters
        ----------
        x_t : array_like
            The input of this step: ``input_size`` values, shape ``(input_size,)`` or ``(1, input_size)``.

        Returns
        -------
        numpy.ndarray
            The model's output for this step, ``(1, output_size)``, a new array of the model's dtype. For a
            model whose last recurrent layer has return_sequences=False, it equals the Python model's predict()
            on the steps streamed since the last reset.

        Raises
        ------
        ValueError
            If `x_t` does not hold ``input_size`` values.

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(4, input_size=3, seed=0), rf.Dense(2, input_size=4, seed=1)])
        >>> model.save("m.safetensors")
        >>> stream = rf.StreamingModel("m.safetensors")
        >>> stream.step(np.zeros(3, np.float32)).shape
        (1, 2)
        """
        try:
            return self._model.step(x_t)
        except TypeError:
            x = np.ascontiguousarray(x_t, dtype=self.dtype).reshape(1, -1)
            if x.shape[1] != self.input_size:
                raise ValueError(f"x_t must hold {self.input_size} values, got shape {np.shape(x_t)}") from None
            return self._model.step(x)

    def reset(self, state: Any = None) -> None:
        """Set the streaming state to zeros, or to `state`.

        Parameters
        ----------
        state : array_like or None, default None
            None: zeros (a new stream). Else ``state_size`` values laid out as state() returns them, e.g. a state
            saved earlier (a warm start, or a stream that resumes).

        Raises
        ------
        ValueError
            If `state` has another shape than ``(state_size,)``.

        Examples
        --------
        >>> model = rf.Sequential([rf.SimpleRNN(3, input_size=1, seed=0), rf.Dense(1, input_size=3, seed=1)])
        >>> model.save("m.safetensors")
        >>> stream = rf.StreamingModel("m.safetensors")
        >>> _ = stream.step([1.0])
        >>> saved = stream.state()
        >>> first = stream.step([0.5])
        >>> stream.reset(saved)
        >>> bool(np.array_equal(stream.step([0.5]), first))
        True
        >>> stream.reset()
        >>> stream.state()
        array([0., 0., 0.], dtype=float32)
        """
        if state is None:
            self._model.reset()
            return
        values = np.ascontiguousarray(state, dtype=self.dtype)
        if values.shape != (self.state_size,):
            raise ValueError(f"state must have shape ({self.state_size},) as state() returns, got {values.shape}")
        self._model.set_state(values)

    @property
    def state_size(self) -> int:
        """The number of values in the streaming state, the sum of the recurrent layers' units (twice for an LSTM,
        which has h and c)."""
        return int(self._model.state_size)

    def state(self) -> np.ndarray:
        """Return a copy of the streaming state as one vector.

        Returns
        -------
        numpy.ndarray
            ``(state_size,)`` of the model's dtype: layer by layer, each recurrent layer's h, then its c (LSTM
            only). reset(state) sets it back.
        """
        return self._model.state()

    def predict(self, x: Any) -> np.ndarray:
        """Run whole sequences from zero states, giving every step's output.

        The streaming state is left alone. The GIL is released and rnnfast's thread pool is used, as for a
        whole-sequence layer call. There are no per-sequence lengths: every row runs all ``time`` steps.

        Parameters
        ----------
        x : array_like
            ``(batch, time, input_size)``, converted to the model's dtype.

        Returns
        -------
        numpy.ndarray
            ``(batch, time, output_size)``: every step's output, what step() gives step by step. A model saved
            with return_sequences=False on its last recurrent layer has its Python predict() output at
            ``y[:, -1]``.

        Raises
        ------
        ValueError
            If `x` is not 3-D with ``input_size`` features.

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(4, input_size=3, seed=0), rf.Dense(2, input_size=4, seed=1)])
        >>> model.save("m.safetensors")
        >>> stream = rf.StreamingModel("m.safetensors")
        >>> x = np.random.default_rng(0).standard_normal((5, 7, 3)).astype(np.float32)
        >>> y = stream.predict(x)
        >>> y.shape
        (5, 7, 2)
        >>> bool(np.allclose(y[:, -1], model.predict(x), atol=1e-6))
        True
        """
        values = np.ascontiguousarray(x, dtype=self.dtype)
        if values.ndim != 3 or values.shape[2] != self.input_size:
            raise ValueError(f"x must be (batch, time, {self.input_size}), got shape {np.shape(x)}")
        return self._model.run(values)

    def copy(self) -> StreamingModel:
        """Return another stream of this model: the weights are shared (read-only), the state is copied.

        Copies step independently, also on several threads at once (step releases the GIL): one copy per
        stream, each stepped from one thread at a time.

        Returns
        -------
        StreamingModel
            A stream that starts from this one's current state.

        Examples
        --------
        >>> model = rf.Sequential([rf.LSTM(4, input_size=1, seed=0), rf.Dense(1, input_size=4, seed=1)])
        >>> model.save("m.safetensors")
        >>> left = rf.StreamingModel("m.safetensors")
        >>> right = left.copy()
        >>> _ = left.step([1.0])
        >>> bool(right.state().any()), bool(left.state().any())
        (False, True)
        """
        other = object.__new__(StreamingModel)
        other.dtype, other.input_size, other.output_size = self.dtype, self.input_size, self.output_size
        other._model = self._model.copy()
        return other
