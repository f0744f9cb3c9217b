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
    """What RNN needs from a cell. States are (batch, n) arrays; the cell's output at a step is its first state.

    state_size: the sizes of its states (an int for one state), e.g. [units, units] for an LSTM.
    build(input_size, rng): create the weights for input_size features (rng: a seeded numpy Generator).
    get_weights() -> {name: array}; set_weights({name: array}) with the same names and shapes.
    get_config() (optional, as Keras asks of custom cells) -> the constructor's arguments, JSON-serialisable:
        RNN.get_config() then is too, and RNN.from_config() rebuilds the cell with its class's from_config(config)
        where it has one, else cls(**config).
    step(x_t, states) -> (new_states, cache): x_t (batch, input_size), states a list like state_size.
    step_backward(d_new_states, cache) -> (d_x_t, d_states, d_weights): given dL/d(new states) (a list like
        states), the gradients with respect to x_t, the previous states, and the weights (a dict of this step's
        contributions, summed over the steps by RNN). It must be linear in d_new_states: rows past their
        sequence's length get zero gradients and must contribute nothing.
    """

    state_size: Any

    def build(self, input_size: int, rng: np.random.Generator) -> None: ...
    def get_weights(self) -> dict[str, np.ndarray]: ...
    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None: ...
    def step(self, x_t: np.ndarray, states: list[np.ndarray]) -> tuple[list[np.ndarray], Any]: ...
    def step_backward(self, d_new_states: list[np.ndarray], cache: Any) -> tuple[np.ndarray, list[np.ndarray],
                                                                                    dict[str, np.ndarray]]: ...


class RNN(_SequenceLayer):
    """A recurrent layer around a NumPy cell (see Cell), with the options and call/backward of the built-in
    layers (no dropout: a cell that wants it applies it itself)."""

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
        """Constructor arguments. The cell: {"class": "module.Name", "config": cell.get_config()} for a cell with
        get_config (JSON-serialisable), else a deep copy of it; from_config builds it again (with fresh weights
        when input_size is known)."""
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
        return self.input_size is not None

    def build(self, input_size: int) -> None:
        self.cell.build(input_size, np.random.default_rng(self.seed))
        self.input_size = input_size
        self._live = None
        self._last = None

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v, copy=True) for k, v in self.cell.get_weights().items()} if self.built else {}

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """Arrays of the cell's weights as they are now, this layer's dtype (a cell may hand out copies):
        weights_updated() gives the cell the values of the arrays last handed out."""
        if not self.built:
            return {}
        self._live = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in self.cell.get_weights().items()}
        return self._live

    def count_params(self) -> int:
        return sum(int(np.size(v)) for v in self.get_weights().values())

    def weights_updated(self) -> None:
        if self._live is not None:
            self.set_weights(self._live)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        if not self.built:
            raise ValueError("set_weights needs a built layer: pass input_size or call the layer first")
        self.cell.set_weights(weights)
        self._live = None
        self._last = None

    def step(self, x_t: Any) -> Any:
        raise ValueError("an RNN of a NumPy cell has no step(); call it on one-step sequences")

    @property
    def dropout_masks(self) -> dict[str, np.ndarray]:
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
