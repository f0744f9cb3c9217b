"""RNN(cell): a recurrent cell written in NumPy, run with the built-in layers' sequence semantics.

For prototyping a cell before it is written in C++: the step loop runs in Python (one cell call per time step
over the whole batch), so it is much slower than the built-in layers, but it honours the same options — lengths,
go_backwards, time_major, return_sequences, return_state, stateful, initial_state, backward, and Bidirectional.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from .._validation import as_lengths, check_int, check_shape
from .base import Output, _SequenceLayer

_CELL_METHODS = ("build", "get_weights", "set_weights", "step", "step_backward")


class Cell(Protocol):
    """What RNN needs from a cell written in NumPy (a protocol: any object with these members will do).

    A cell works on whole batches: its states are (batch, n) arrays, and its output at a step is its first state.
    RNN calls ``step`` once per time step on every row of the batch; rows past their sequence's length get zeros
    as x_t, and RNN keeps their states and discards the cell's new ones. A cell may also define
    ``get_config()``, as Keras asks of custom cells: the constructor's arguments, JSON-serialisable. RNN's config
    is then JSON-serialisable too, and ``RNN.from_config`` rebuilds the cell with its class's
    ``from_config(config)`` where it has one, else ``cls(**config)``.

    Attributes
    ----------
    state_size : int or list of int
        The sizes of the cell's states (an int for one state), e.g. [units, units] for an LSTM cell; the first
        is the output's size.

    Examples
    --------
    >>> class TanhCell:
    ...     # h_t = tanh(x_t·W + h_{t-1}·U), with its backward step
    ...     state_size = 3
    ...     def build(self, input_size, rng):
    ...         self.w = {"W": rng.uniform(-0.5, 0.5, (input_size, 3)), "U": rng.uniform(-0.5, 0.5, (3, 3))}
    ...     def get_weights(self):
    ...         return self.w
    ...     def set_weights(self, weights):
    ...         self.w = {name: np.array(w, dtype=np.float64) for name, w in weights.items()}
    ...     def step(self, x_t, states):
    ...         h = np.tanh(x_t @ self.w["W"] + states[0] @ self.w["U"])
    ...         return [h], (x_t, states[0], h)
    ...     def step_backward(self, d_new_states, cache):
    ...         x_t, h_prev, h = cache
    ...         da = d_new_states[0] * (1 - h * h)
    ...         d_weights = {"W": x_t.T @ da, "U": h_prev.T @ da}
    ...         return da @ self.w["W"].T, [da @ self.w["U"].T], d_weights
    >>> layer = rf.RNN(TanhCell(), return_sequences=True, seed=0)
    >>> layer(np.ones((2, 4, 5))).shape
    (2, 4, 3)
    """

    state_size: Any

    def build(self, input_size: int, rng: np.random.Generator) -> None:
        """Create the cell's weights for inputs of `input_size` features.

        Parameters
        ----------
        input_size : int
            The number of input features.
        rng : numpy.random.Generator
            The generator to draw the weights from, ``np.random.default_rng(seed)`` of the RNN's seed.
        """

    def get_weights(self) -> dict[str, np.ndarray]:
        """The cell's weights.

        Returns
        -------
        dict[str, numpy.ndarray]
            The weights by name (RNN copies them).
        """

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Replace the cell's weights.

        Parameters
        ----------
        weights : Mapping[str, numpy.ndarray]
            The names and shapes of ``get_weights()``.
        """

    def step(self, x_t: np.ndarray, states: list[np.ndarray]) -> tuple[list[np.ndarray], Any]:
        """One time step over the whole batch.

        Parameters
        ----------
        x_t : numpy.ndarray
            The step's input, (batch, input_size), of the RNN's dtype.
        states : list of numpy.ndarray
            The previous states, one (batch, n) array per entry of state_size (copies: the cell may change them).

        Returns
        -------
        new_states : list of numpy.ndarray
            The new states, like `states`; the first is the step's output.
        cache : object
            Whatever ``step_backward`` needs for this step (kept only in training calls).
        """

    def step_backward(self, d_new_states: list[np.ndarray], cache: Any) -> tuple[np.ndarray, list[np.ndarray],
                                                                                    dict[str, np.ndarray]]:
        """The gradients of one step, from those of its new states.

        It must be linear in `d_new_states`: the rows past their sequence's length get zero gradients, and must
        contribute nothing.

        Parameters
        ----------
        d_new_states : list of numpy.ndarray
            dL/d(new states), like the states of ``step``.
        cache : object
            What ``step`` returned for this step.

        Returns
        -------
        d_x_t : numpy.ndarray
            dL/dx_t, (batch, input_size).
        d_states : list of numpy.ndarray
            dL/d(previous states), like the states.
        d_weights : dict[str, numpy.ndarray]
            This step's contributions to dL/d(weight), by name (RNN sums them over the steps; a weight with no
            entry gets zeros).
        """


class RNN(_SequenceLayer):
    """Recurrent layer around a cell written in NumPy, with the built-in layers' sequence options.

    For prototyping a cell before writing it in C++: RNN runs the step loop in Python (one ``cell.step`` per time
    step over the whole batch), so it is much slower than SimpleRNN, LSTM and GRU, but it honours the same
    options and call, ``layer(x, initial_state=None, lengths=None, training=False)``: lengths (the valid steps
    must come first in each row; outputs past a length are zero and the returned state is the state at the last valid
    step), go_backwards, time_major, return_sequences, return_state, stateful and initial_state, ``backward``
    (backpropagation through time with the cell's ``step_backward``), and Bidirectional. The output at a step
    is the cell's first state, so units is its size. It has no dropout (a cell that wants it applies it
    itself) and no ``step()``, and a Sequential model with an RNN layer cannot be saved to a model file.

    The weights live in the cell (the layer holds the cell given, not a copy), built at the first call (or by
    input_size or ``build``) with ``cell.build(input_size, np.random.default_rng(seed))``.

    Parameters
    ----------
    cell : Cell
        The cell: an object with the members of the Cell protocol (``rnnfast.layers.Cell``): state_size,
        ``build``, ``get_weights``, ``set_weights``, ``step``, ``step_backward``, and optionally ``get_config``.
    input_size : int or None, default None
        The number of input features: the cell is built at once. None: built at the first call, from the last
        axis of x.
    return_sequences : bool, default False
        Return the output of every step, (batch, time, units), instead of the last one, (batch, units).
    return_state : bool, default False
        Return a list: the output, then the final states, one (batch, n) array per state of the cell.
    go_backwards : bool, default False
        Process each sequence from its last valid step to its first, and return the outputs in that
        (reversed) order, as Keras does.
    stateful : bool, default False
        Start each call from the final states of the previous call (row i going on from row i); the batch size
        must stay the same until ``reset_states()``.
    time_major : bool, default False
        Take x as (time, batch, features) and return sequences as (time, batch, units).
    seed : int or None, default None
        Seed (an integer ≥ 0) of the generator given to ``cell.build``; None: fresh randomness.
    dtype : str or numpy.dtype, default "float32"
        "float32" or "float64": the dtype of the inputs given to the cell, and of the outputs, states and
        gradients.

    Raises
    ------
    TypeError
        If the cell lacks one of the methods build, get_weights, set_weights, step, step_backward.
    ValueError
        If cell.state_size names no state or a size below 1.

    Examples
    --------
    >>> class TanhCell:
    ...     # h_t = tanh(x_t·W + h_{t-1}·U), with its backward step
    ...     state_size = 3
    ...     def build(self, input_size, rng):
    ...         self.w = {"W": rng.uniform(-0.5, 0.5, (input_size, 3)), "U": rng.uniform(-0.5, 0.5, (3, 3))}
    ...     def get_weights(self):
    ...         return self.w
    ...     def set_weights(self, weights):
    ...         self.w = {name: np.array(w, dtype=np.float64) for name, w in weights.items()}
    ...     def step(self, x_t, states):
    ...         h = np.tanh(x_t @ self.w["W"] + states[0] @ self.w["U"])
    ...         return [h], (x_t, states[0], h)
    ...     def step_backward(self, d_new_states, cache):
    ...         x_t, h_prev, h = cache
    ...         da = d_new_states[0] * (1 - h * h)
    ...         d_weights = {"W": x_t.T @ da, "U": h_prev.T @ da}
    ...         return da @ self.w["W"].T, [da @ self.w["U"].T], d_weights
    >>> layer = rf.RNN(TanhCell(), return_sequences=True, seed=0, dtype="float64")
    >>> x = np.random.default_rng(0).standard_normal((2, 4, 5))
    >>> y = layer(x, lengths=[4, 2], training=True)
    >>> y.shape, bool(np.all(y[1, 2:] == 0))
    ((2, 4, 3), True)
    >>> grads = layer.backward(np.ones_like(y))
    >>> {name: np.shape(g) for name, g in grads.items() if name != "initial_state"}
    {'x': (2, 4, 5), 'W': (5, 3), 'U': (3, 3)}

    A bidirectional layer of the cell:

    >>> rf.Bidirectional(rf.RNN(TanhCell(), seed=0))(x).shape
    (2, 6)
    """

    def __init__(
        self,
        cell: Cell,
        *,
        input_size: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        time_major: bool = False,
        seed: int | None = None,
        dtype: Any = "float32",
    ) -> None:
        for method in _CELL_METHODS:
            if not callable(getattr(cell, method, None)):
                raise TypeError(f"cell must define {method}() (see rnnfast.layers.Cell), {type(cell).__name__} does "
                                "not")
        sizes = cell.state_size
        sizes = [sizes] if isinstance(sizes, (int, np.integer)) else list(sizes)
        if not sizes:
            raise ValueError("cell.state_size must name at least one state")
        self._sizes = [check_int(n, "cell.state_size", 1) for n in sizes]
        self._state_count = len(self._sizes)
        self.cell = cell
        self.units = self._sizes[0]
        self._set_sequence_options(return_sequences, return_state, go_backwards, stateful, time_major, seed, dtype)
        self._live: dict[str, np.ndarray] | None = None  # trainable_weights
        if input_size is not None:
            self.build(check_int(input_size, "input_size", 1))

    def _state_names(self) -> list[str]:
        return [f"state {k}" for k in range(self._state_count)]

    def _state_list(self, initial_state: Any) -> list[Any]:
        return self._array_list(initial_state, self._state_count, "initial_state", str(self._state_names()),
                                wrong_type=ValueError)

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            Every constructor argument by name, input_size included. The cell is ``{"class": "module.Name",
            "config": cell.get_config()}`` for a cell with ``get_config`` (the config is then
            JSON-serialisable), else a deep copy of the cell. ``RNN.from_config`` builds it again (with fresh
            weights when input_size is known).
        """
        if callable(getattr(self.cell, "get_config", None)):
            kind = type(self.cell)
            cell: Any = {"class": f"{kind.__module__}.{kind.__qualname__}", "config": self.cell.get_config()}  # type: ignore[attr-defined]
        else:
            cell = copy.deepcopy(self.cell)
        return {"cell": cell, "input_size": self.input_size,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "time_major": self.time_major,
                "seed": self.seed, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RNN:
        """Make an RNN with the options of `config` and a new cell.

        Parameters
        ----------
        config : Mapping[str, Any]
            A config as ``get_config()`` returns it. A cell given as ``{"class": "module.Name", "config": ...}``
            is made by importing the module and calling the class's ``from_config(config)`` where it has one,
            else ``cls(**config)``; any other cell is deep-copied.

        Returns
        -------
        RNN
            A new layer, built (fresh weights from its seed) when the config gives an input size.

        Raises
        ------
        TypeError
            If `config` is not a dict (a Mapping).
        ValueError
            If the config's cell names a class that is not a class of cells.
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        config = dict(config)
        cell = config.get("cell")
        if isinstance(cell, dict) and set(cell) == {"class", "config"}:
            module, _, name = str(cell["class"]).rpartition(".")
            kind: Any = importlib.import_module(module)
            for part in name.split("."):
                kind = getattr(kind, part)
            if not inspect.isclass(kind) or not all(callable(getattr(kind, m, None)) for m in _CELL_METHODS):
                raise ValueError(f"config's cell names {cell['class']!r}, which is not a class of cells (see "
                                 "rnnfast.layers.Cell)")
            make = getattr(kind, "from_config", None)
            config["cell"] = make(cell["config"]) if callable(make) else kind(**cell["config"])
        else:
            config["cell"] = copy.deepcopy(cell)
        return cls(**config)

    @property
    def built(self) -> bool:
        """bool: Whether the cell has its weights (True once input_size, ``build()`` or a first call has built
        it)."""
        return self.input_size is not None

    def build(self, input_size: int) -> None:
        """Build the cell for inputs of `input_size` features: ``cell.build(input_size,
        np.random.default_rng(seed))``.

        On a built layer this replaces the cell's weights and drops the pending backward.

        Parameters
        ----------
        input_size : int
            The number of input features (the last axis of x).
        """
        self.cell.build(input_size, np.random.default_rng(self.seed))
        self.input_size = input_size
        self._live = None
        self._last = None

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of the cell's weights.

        Returns
        -------
        dict[str, numpy.ndarray]
            Copies of ``cell.get_weights()``, of the cell's dtypes ({} before the layer is built).
        """
        return {k: np.array(v, copy=True) for k, v in self.cell.get_weights().items()} if self.built else {}

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: Arrays of the cell's weights as they are now, of the layer's dtype.

        By name; {} before the layer is built.

        A cell may hand out copies, so each access returns new arrays; ``weights_updated()`` gives the cell the
        values of the arrays last handed out (an optimiser changes them in place, then calls it).
        """
        if not self.built:
            return {}
        self._live = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in self.cell.get_weights().items()}
        return self._live

    def count_params(self) -> int:
        """The number of weight values of the cell.

        Returns
        -------
        int
            The total size of ``get_weights()`` (0 before the layer is built).
        """
        return sum(int(np.size(v)) for v in self.get_weights().values())

    def weights_updated(self) -> None:
        """Give the cell the values of the arrays ``trainable_weights`` last handed out (changed in place by an
        optimiser step), through ``set_weights``."""
        if self._live is not None:
            self.set_weights(self._live)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace the cell's weights, through ``cell.set_weights``; drops the pending backward.

        Parameters
        ----------
        weights : Mapping[str, array_like]
            The names and shapes of ``get_weights()``, as the cell takes them.

        Raises
        ------
        ValueError
            If the layer is not built (pass input_size, or call it first).
        """
        if not self.built:
            raise ValueError("set_weights needs a built layer: pass input_size or call the layer first")
        self.cell.set_weights(weights)
        self._live = None
        self._last = None

    def step(self, x_t: Any) -> Any:
        """Not available: an RNN of a NumPy cell has no ``step()``; call it on one-step sequences instead, with
        stateful=True to carry the state.

        Parameters
        ----------
        x_t : array_like
            The step's input (unused).

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError("an RNN of a NumPy cell has no step(); call it on one-step sequences")

    @property
    def dropout_masks(self) -> dict[str, np.ndarray]:
        """dict: Always {}, as RNN applies no dropout (a cell that wants it applies it itself)."""
        return {}

    # ---- call -------------------------------------------------------------------------------------------------
    def _run(self, x: Any, initial_state: Any, lengths: Any, training: bool, max_threads: int = 0) -> Output:
        x, batch, time = self._checked_input(x)
        x_bt = x.transpose(1, 0, 2) if self.time_major else x
        states = self._initial_states(initial_state, batch)
        lens = np.full(batch, time, dtype=np.int64) if lengths is None else as_lengths(lengths, batch, time)
        rows = np.arange(batch)
        ys = np.zeros((batch, time, self.units), dtype=self.dtype)
        caches = []
        for s in range(time):
            active = s < lens
            source = np.where(active, lens - 1 - s, 0) if self.go_backwards else np.full(batch, s)
            x_s = np.where(active[:, None], x_bt[rows, source], 0).astype(self.dtype)
            new, cache = self.cell.step(x_s, [st.copy() for st in states])
            new = [np.asarray(n, dtype=self.dtype) for n in new]
            for k, (n, size) in enumerate(zip(new, self._sizes)):
                check_shape(n, (batch, size), f"state {k} returned by cell.step")
            states = [np.where(active[:, None], n, st) for n, st in zip(new, states)]
            ys[:, s] = np.where(active[:, None], new[0], 0)
            if training:
                caches.append((cache, active, source))
        if self.stateful:
            self._states = [st.copy() for st in states]
        if training:
            self._last = {"caches": caches, "batch": batch, "time": time}
        y = ys.transpose(1, 0, 2) if self.time_major else ys
        out = np.ascontiguousarray(y) if self.return_sequences else states[0].copy()
        return [out, *states] if self.return_state else out

    def _initial_states(self, initial_state: Any, batch: int) -> list[np.ndarray]:
        if initial_state is None:
            carried = self._carried_states(batch)
            return carried if carried is not None else [np.zeros((batch, n), dtype=self.dtype) for n in self._sizes]
        return self._given_states(initial_state, batch)

    def _state_sizes(self) -> list[int]:
        return list(self._sizes)

    # ---- backward ---------------------------------------------------------------------------------------------
    def _backward(self, d_out: Any, max_threads: int = 0) -> dict[str, Any]:
        if self._last is None:
            raise ValueError("backward() needs a preceding call with training=True (and no set_weights since)")
        batch, time = self._last["batch"], self._last["time"]
        shapes = [self._output_shape(batch, time), *[(batch, n) for n in self._sizes]]
        checked = [np.zeros(shape, self.dtype) if part is None else part
                   for part, shape in zip(self._checked_d_out(d_out, batch, time), shapes)]
        d_y, d_states = checked[0], [a.copy() for a in checked[1:]]
        if self.return_sequences:
            d_y = d_y.transpose(1, 0, 2) if self.time_major else d_y
        else:
            d_states[0] += d_y
        assert self.input_size is not None  # a training call built the layer
        dx = np.zeros((batch, time, self.input_size), dtype=self.dtype)
        d_weights: dict[str, np.ndarray] = {}
        rows = np.arange(batch)
        for s in range(time - 1, -1, -1):
            cache, active, source = self._last["caches"][s]
            if self.return_sequences:
                d_states[0] = d_states[0] + np.where(active[:, None], d_y[:, s], 0)
            d_new = [np.where(active[:, None], d, 0) for d in d_states]
            dx_s, d_prev, dw = self.cell.step_backward(d_new, cache)
            np.add.at(dx, (rows[active], source[active]), np.asarray(dx_s)[active])
            d_states = [np.where(active[:, None], p, d) for p, d in zip(d_prev, d_states)]
            for name, g in dw.items():
                d_weights[name] = d_weights[name] + g if name in d_weights else np.array(g, dtype=self.dtype)
        for name, w in self.get_weights().items():
            d_weights.setdefault(name, np.zeros_like(w))
        dx_out = dx.transpose(1, 0, 2) if self.time_major else dx
        return {"x": np.ascontiguousarray(dx_out), "initial_state": d_states, **d_weights}

    def _repr_arguments(self, config: Mapping[str, Any]) -> list[str]:
        options = {k: v for k, v in config.items() if k != "cell"}
        return [type(self.cell).__name__, f"units={self.units}", *super()._repr_arguments(options)]

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_live"] = None
        return state
