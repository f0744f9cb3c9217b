"""The built-in recurrent layers: SimpleRNN, LSTM and GRU with Keras' vocabulary and weight layouts.

The arithmetic runs in the C++ engine (``rnnfast._core``) with the GIL released; this module owns argument
handling, weights, the stateful carry and the bookkeeping between a training call and ``backward``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from .._engine import core as _core
from .._initializers import glorot_uniform, orthogonal
from .._validation import (
    as_float_array,
    as_lengths,
    check_call_memory,
    check_choice,
    check_epsilon,
    check_int,
    check_rate,
)
from .base import Output, _SequenceLayer

_MASK_STREAM = 0x6D61736B  # "mask": the dropout generator's stream, apart from the weights' initialisation
# Versions of layers' weights, unique across layers: the engine keeps weights packed while their version holds.
_WEIGHTS_VERSIONS = itertools.count(1)


class _Recurrent(_SequenceLayer):
    """What SimpleRNN, LSTM and GRU share. Subclasses set the cell and the weight shapes."""

    layer_norm: bool
    layer_norm_epsilon: float

    _gates: int = 1
    _transient = ("_engine", "_stream")

    def __init__(
        self,
        units: int,
        *,
        input_size: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        time_major: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        dtype: Any = "float32",
        check_finite: bool = False,
    ) -> None:
        self.units = check_int(units, "units", 1)
        # NaN and infinities propagate through the arithmetic, like NumPy's (only the sequences that hold them
        # are affected); check_finite=True refuses them in x, initial_state, d_out and step's x_t instead.
        self.check_finite = bool(check_finite)
        self._set_sequence_options(return_sequences, return_state, go_backwards, stateful, time_major, seed, dtype)
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")
        # Dropout masks: their own stream, so they depend only on the seed and the sequence of training calls.
        self._mask_rng = np.random.default_rng(None if seed is None else [seed, _MASK_STREAM])
        self._weights: dict[str, np.ndarray] = {}
        self._weights_version = 0  # changes with the weights' values: the engine reuses its packed weights till then
        self._engine: Any = None
        self._stream: Any = None  # the C++ stream of step(), built from the weights of its time
        if input_size is not None:
            self.build(check_int(input_size, "input_size", 1))

    # ---- what subclasses define -------------------------------------------------------------------------------
    def _cell_name(self) -> str:
        raise NotImplementedError

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _initial_bias(self) -> np.ndarray:
        return np.zeros(self._bias_shape())

    def _weight_groups(self) -> dict[str, list[tuple[str, int, str]]]:
        """A variant's weights beyond kernel, recurrent_kernel and bias: engine argument -> [(name, length,
        initialiser)], the engine taking each group as one concatenated vector."""
        groups: dict[str, list[tuple[str, int, str]]] = {}
        if self.layer_norm:
            groups["norm"] = [(f"{name}_{part}", size, "ones" if part == "gamma" else "zeros")
                              for name, size in self._norms() for part in ("gamma", "beta")]
        return groups

    def _norms(self) -> list[tuple[str, int]]:
        """The layer norms of a layer_norm=True cell: (weight-name prefix, features)."""
        return []

    def _extra_weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        init: dict[str, Callable[[tuple[int, ...]], np.ndarray]] = {
            "ones": np.ones, "zeros": np.zeros, "glorot_uniform": lambda shape: glorot_uniform(rng, shape)}
        return {name: init[how]((size,)) for group in self._weight_groups().values() for name, size, how in group}

    def _engine_options(self) -> dict[str, Any]:
        return {"layer_norm": self.layer_norm, "layer_norm_epsilon": self.layer_norm_epsilon}

    def _engine_weights(self, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {arg: np.concatenate([weights[name] for name, _, _ in group])
                for arg, group in self._weight_groups().items()}

    def _split_engine_grads(self, grads: dict[str, Any], extra: dict[str, Any]) -> None:
        for arg, group in self._weight_groups().items():
            offsets = np.cumsum([size for _, size, _ in group])[:-1]
            for (name, _, _), part in zip(group, np.split(extra[arg], offsets)):
                grads[name] = part.copy()

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            Every constructor argument by name, input_size included, JSON-serialisable (dtype as its name):
            ``type(layer).from_config(layer.get_config())`` makes a layer with the same options, unbuilt or built
            as this one (with fresh weights).

        Examples
        --------
        >>> config = rf.LSTM(4, return_sequences=True, seed=0).get_config()
        >>> config["units"], config["return_sequences"], config["input_size"], config["dtype"]
        (4, True, None, 'float32')
        """
        return {
            "units": self.units,
            "input_size": self.input_size,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "time_major": self.time_major,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "check_finite": self.check_finite,
            "layer_norm": self.layer_norm,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }

    # ---- weights ----------------------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """bool: Whether the layer has its weights (True once input_size, ``build()``, ``set_weights()`` or a
        first call has created them)."""
        return self.input_size is not None

    def weight_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """The shapes of the layer's weights for inputs of `input_size` features.

        Parameters
        ----------
        input_size : int
            The number of input features.

        Returns
        -------
        dict[str, tuple[int, ...]]
            The shape of every weight, by name, in the order of ``get_weights()``: kernel, recurrent_kernel,
            bias, then the layer norms' and the peepholes' vectors where the layer has them.

        Examples
        --------
        >>> rf.GRU(4).weight_shapes(3)
        {'kernel': (3, 12), 'recurrent_kernel': (4, 12), 'bias': (2, 12)}
        >>> rf.GRU(4, reset_after=False).weight_shapes(3)["bias"]
        (12,)
        """
        g = self._gates * self.units
        shapes = {"kernel": (input_size, g), "recurrent_kernel": (self.units, g), "bias": self._bias_shape()}
        shapes.update({name: (size,) for group in self._weight_groups().values() for name, size, _ in group})
        return shapes

    def build(self, input_size: int) -> None:
        """Create fresh weights for inputs of `input_size` features, with Keras' default initialisation.

        Glorot-uniform kernel, orthogonal recurrent_kernel, zero bias (LSTM with unit_forget_bias: ones for the
        forget gate), Glorot-uniform peepholes, layer norms' gamma ones and beta zeros; drawn from the layer's
        seed. The first call builds an unbuilt layer; ``build`` on a built layer replaces its weights, and drops
        the pending backward and the state of ``step()``.

        Parameters
        ----------
        input_size : int
            The number of input features (the last axis of x), at least 1.

        Raises
        ------
        ValueError
            If `input_size` is less than 1.
        TypeError
            If `input_size` is not an integer.
        """
        input_size = check_int(input_size, "input_size", 1)
        rng = np.random.default_rng(self.seed)
        shapes = self.weight_shapes(input_size)
        weights = {
            "kernel": glorot_uniform(rng, shapes["kernel"]),
            "recurrent_kernel": orthogonal(rng, shapes["recurrent_kernel"]),  # type: ignore[arg-type]
            "bias": self._initial_bias(),
            **self._extra_weights(rng),
        }
        self._install(input_size, weights)

    def _install(self, input_size: int, weights: Mapping[str, np.ndarray]) -> None:
        self._weights = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in weights.items()}
        self._weights_version = next(_WEIGHTS_VERSIONS)
        if self.input_size != input_size or self._engine is None:
            self.input_size = input_size
            self._engine = self._make_engine()
        self._last = None
        self._stream = None

    def _make_engine(self) -> Any:
        engine_type = _core.Engine32 if self.dtype == np.float32 else _core.Engine64
        return engine_type(self._cell_name(), self.input_size, self.units, **self._engine_options())

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The live weight arrays by name, in Keras' layout and gate order.

        Of the layer's dtype; {} before the layer is built. After changing them in place, call
        ``weights_updated()``.
        """
        return self._weights

    def weights_updated(self) -> None:
        """Tell the layer that its ``trainable_weights`` were changed in place (as an optimiser step does).

        The next calls repack the new values for the engine, and ``step()`` goes on from its current state with
        them.

        Examples
        --------
        >>> layer = rf.SimpleRNN(2, input_size=3, seed=0)
        >>> layer.trainable_weights["bias"] += 1.0
        >>> layer.weights_updated()
        >>> layer.get_weights()["bias"]
        array([1., 1.], dtype=float32)
        """
        self._weights_version = next(_WEIGHTS_VERSIONS)
        states = self.step_state
        if states is not None:
            self._stream = None
            self._start_stream(states[0].shape[0], states)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_step_state"] = self.step_state  # step() of a copy goes on from where the original's is
        return state

    def _restore(self) -> None:
        step_state = self.__dict__.pop("_step_state", None)
        self._weights_version = next(_WEIGHTS_VERSIONS)  # versions stay unique across layers
        self._engine = self._make_engine() if self.built else None
        self._stream = None
        if step_state is not None:
            self._start_stream(step_state[0].shape[0], step_state)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace all of the layer's weights.

        The pending backward is dropped, and ``step()`` starts again from zeros.

        Parameters
        ----------
        weights : Mapping[str, array_like]
            Exactly the names and shapes of ``get_weights()`` (see ``weight_shapes``), in Keras' layout; the
            arrays are copied, converted to the layer's dtype. An unbuilt layer takes its input size from
            ``weights["kernel"].shape[0]``.

        Raises
        ------
        TypeError
            If `weights` is not a dict (a Mapping), or holds non-numeric arrays.
        ValueError
            If a name is missing or unexpected, or an array has the wrong shape.

        Examples
        --------
        >>> layer = rf.LSTM(2, input_size=3, seed=0)
        >>> twin = rf.LSTM(2)
        >>> twin.set_weights(layer.get_weights())
        >>> twin.input_size, bool(np.array_equal(twin.get_weights()["kernel"], layer.get_weights()["kernel"]))
        (3, True)
        """
        if not isinstance(weights, Mapping):
            raise TypeError(f"set_weights expects a dict of arrays, got {type(weights).__name__}")
        input_size = self.input_size
        if input_size is None:
            if "kernel" not in weights:
                raise ValueError("set_weights needs a 'kernel' entry to build the layer")
            kernel = np.asarray(weights["kernel"])
            if kernel.ndim != 2:
                raise ValueError(f"kernel must be 2-D (input_size, {self._gates * self.units}), got {kernel.shape}")
            input_size = check_int(int(kernel.shape[0]), "kernel.shape[0]", 1)
        converted = self._checked_weights(weights, self.weight_shapes(input_size), self.dtype)
        self._install(input_size, converted)

    # ---- call -------------------------------------------------------------------------------------------------
    def __call__(
        self,
        x: Any,
        initial_state: Any = None,
        lengths: Any = None,
        training: bool = False,
    ) -> Output:
        """Run the layer over a batch of sequences, in C++ with the GIL released.

        Parameters
        ----------
        x : array_like
            The sequences, (batch, time, features), or (time, batch, features) when time_major; any real dtype
            and memory layout, converted to the layer's dtype. The first call builds an unbuilt layer for x's
            features.
        initial_state : list of array_like or None, default None
            The states to start from, (batch, units) each: [h], or [h, c] for LSTM. None: zeros, or for a
            stateful layer the states its previous call left.
        lengths : array_like or None, default None
            The number of valid steps of each sequence, (batch,) integers in [0, time]. The valid steps must
            come first in each row (padding at the end): outputs past a sequence's length are zero, and the
            returned (and, when stateful, carried) state is the state at its last valid step. With go_backwards each
            sequence runs backwards from its own last valid step. A length of 0 gives zero outputs and the
            initial state. None: every sequence has all time steps.
        training : bool, default False
            Keep what ``backward()`` needs, and apply dropout and recurrent_dropout (fresh masks per call, see
            ``dropout_masks``). The engine keeps a reference to x (no copy) until the next training call: do
            not modify x in place before ``backward()``.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            The output, of the layer's dtype. With return_sequences, h_t at every step, (batch, time, units)
            ((time, batch, units) when time_major), in processing order (with go_backwards, output step t is
            the step that read input step length − 1 − t, as in Keras); else the last output h, (batch, units).
            With return_state, a list: the output, then the final states, [output, h] or [output, h, c] for
            LSTM, (batch, units) each.

        Raises
        ------
        ValueError
            For an argument of the wrong shape or size, lengths out of range, a stateful layer's carried states
            for another batch size (call ``reset_states()``), or NaN or infinity with check_finite=True.
        TypeError
            For an argument that is not a real (numeric) array, or an initial_state that is not a list (or tuple).
        MemoryError
            If the call's buffers (its outputs; in training every step's activations) cannot fit in the
            machine's memory, before anything is allocated.

        Examples
        --------
        >>> layer = rf.LSTM(4, return_sequences=True, return_state=True, seed=0)
        >>> x = np.ones((2, 5, 3), dtype=np.float32)
        >>> out, h, c = layer(x, lengths=[5, 2])
        >>> out.shape, h.shape, c.shape
        ((2, 5, 4), (2, 4), (2, 4))
        >>> bool(np.all(out[1, 2:] == 0)), bool(np.array_equal(h[1], out[1, 1]))
        (True, True)
        """
        return self._run(x, initial_state, lengths, training)

    def _run(self, x: Any, initial_state: Any, lengths: Any, training: bool, max_threads: int = 0) -> Output:
        """__call__ with at most max_threads threads (0: as many as the pool and the shapes allow)."""
        x, batch, time = self._checked_input(x)
        self._require_finite(x, "x")
        states = self._check_initial_state(initial_state, batch)
        lengths_arr = None if lengths is None else as_lengths(lengths, batch, time)
        check_call_memory(batch * time, self.units, self._gates, self.dtype.itemsize, training)
        masks = self._draw_masks(batch) if training else {}

        w = self._weights
        y, h, c = self._engine.forward(
            x,
            w["kernel"],
            w["recurrent_kernel"],
            w["bias"],
            states[0] if states else None,
            states[1] if states and len(states) > 1 else None,
            lengths_arr,
            self.time_major,
            self.go_backwards,
            self.return_sequences,
            bool(training),
            **self._engine_weights(w),
            **masks,
            max_threads=max_threads,
            weights_version=self._weights_version,
        )
        final = [h] if c is None else [h, c]
        if self.stateful:
            self._states = [s.copy() for s in final]
        if training:
            self._last = {"weights": dict(w), "batch": batch, "time": time, "masks": masks}
        out = y if self.return_sequences else h
        if not self.return_state:
            return out
        return [out if self.return_sequences else out.copy(), *final]

    def _check_initial_state(self, initial_state: Any, batch: int) -> list[np.ndarray] | None:
        if initial_state is None:
            return self._carried_states(batch)
        return self._given_states(initial_state, batch)

    def _draw_masks(self, batch: int) -> dict[str, np.ndarray]:
        """Keras' dropout masks for one training call: one per sequence, fixed across its steps, kept units
        scaled by 1/(1 - rate). The input mask is drawn first."""
        masks = {}
        assert self.input_size is not None  # a call built the layer
        for name, rate, width in (
            ("input_mask", self.dropout, self.input_size),
            ("recurrent_mask", self.recurrent_dropout, self.units),
        ):
            if rate > 0.0:
                keep = self._mask_rng.random((batch, width)) >= rate
                masks[name] = (keep / (1.0 - rate)).astype(self.dtype)
        return masks

    @property
    def dropout_masks(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The dropout masks of the last training call (copies).

        "input", (batch, input_size), multiplies x_t; "recurrent", (batch, units), multiplies h_{t-1} where the
        recurrent kernel reads it. Kept units hold 1/(1 − rate), dropped ones 0; one mask per sequence, the same
        at every step. Only the layer's nonzero rates have an entry ({} before a training call).

        Examples
        --------
        >>> layer = rf.GRU(3, dropout=0.5, seed=0)
        >>> _ = layer(np.ones((2, 4, 5)), training=True)
        >>> mask = layer.dropout_masks["input"]
        >>> mask.shape, bool(np.all((mask == 0) | (mask == 2)))  # 0 or 1/(1 - 0.5)
        ((2, 5), True)
        """
        if self._last is None:
            return {}
        names = {"input_mask": "input", "recurrent_mask": "recurrent"}
        return {names[k]: v.copy() for k, v in self._last["masks"].items()}

    # ---- streaming ----------------------------------------------------------------------------------------------
    def step(self, x_t: Any, state: Any = None) -> np.ndarray:
        """Run one time step, with the state kept inside the layer (for streams: audio, control, events).

        The step runs in C++ with no allocation besides the returned array. It is the inference step of the
        layer (no dropout, no lengths; go_backwards does not apply: feed the steps in the order to process
        them), and steps fed one after another give what a whole-sequence call gives, to rounding. Its state is
        its own, apart from the states of a stateful layer's calls. ``step_state`` reads it, ``reset_step()``
        zeros or sets it.

        Parameters
        ----------
        x_t : array_like
            The step's input, (batch, input_size); builds an unbuilt layer.
        state : list of array_like or None, default None
            The state to start this step from, like initial_state: [h], or [h, c] for LSTM, (batch, units)
            each. None: the state the previous step left; zeros at the first step, after ``reset_step()``,
            after ``set_weights()`` or ``build()``, and when the batch size changes.

        Returns
        -------
        numpy.ndarray
            The new h, (batch, units), of the layer's dtype.

        Raises
        ------
        ValueError
            If x_t is not 2-D, has another number of features or no rows, or holds NaN or infinity with
            check_finite=True; or if `state` has the wrong shapes.

        Examples
        --------
        >>> layer = rf.LSTM(4, input_size=2, seed=0)
        >>> x = np.random.default_rng(0).standard_normal((1, 3, 2)).astype(np.float32)
        >>> hs = [layer.step(x[:, t]) for t in range(3)]
        >>> hs[-1].shape, bool(np.allclose(hs[-1], layer(x), atol=1e-6))
        ((1, 4), True)
        """
        if state is None and self._stream is not None and not self.check_finite:
            try:  # the C++ side checks dtype, shape and layout in a few ns; anything else takes the slow path
                return self._stream.step(x_t)
            except TypeError:
                pass
        return self._step_checked(x_t, state)

    def _step_checked(self, x_t: Any, state: Any) -> np.ndarray:
        x = as_float_array(x_t, "x_t", self.dtype)
        if x.ndim != 2:
            raise ValueError(f"x_t must be 2-D (batch, input_size), got shape {x.shape}")
        if not self.built:
            self.build(x.shape[1])
        if x.shape[1] != self.input_size:
            raise ValueError(f"x_t must have {self.input_size} features (the layer's input_size), got {x.shape}")
        self._require_finite(x, "x_t")
        batch = x.shape[0]
        if batch < 1:
            raise ValueError("x_t must have at least one row")
        states = None if state is None else self._check_initial_state(state, batch)
        if self._stream is None or self._stream.batch != batch or states is not None:
            self._start_stream(batch, states)
        return self._stream.step(x)

    def _start_stream(self, batch: int, states: list[np.ndarray] | None) -> None:
        w = self._weights
        extra = self._engine_weights(w)
        options = self._engine_options()
        stream_type = _core.Stream32 if self.dtype == np.float32 else _core.Stream64
        self._stream = stream_type(
            self._cell_name(), self.input_size, self.units, batch, options.get("peephole", False),
            options["layer_norm"], options["layer_norm_epsilon"], w["kernel"], w["recurrent_kernel"], w["bias"],
            extra.get("peephole"), extra.get("norm"))
        if states is not None:
            self._stream.reset(np.ascontiguousarray(states[0], self.dtype),
                               np.ascontiguousarray(states[1], self.dtype) if len(states) > 1 else None)

    def reset_step(self, state: Any = None) -> None:
        """Zero the state ``step()`` carries, or set it.

        Parameters
        ----------
        state : list of array_like or None, default None
            The state for the next step, like initial_state: [h], or [h, c] for LSTM, (batch, units) each.
            None: zeros (of the current batch size).

        Examples
        --------
        >>> layer = rf.GRU(3, input_size=2, seed=0)
        >>> _ = layer.step(np.ones((1, 2)))
        >>> layer.reset_step()
        >>> layer.step_state[0].tolist()
        [[0.0, 0.0, 0.0]]
        >>> layer.reset_step([np.full((1, 3), 0.5)])
        >>> layer.step_state[0].tolist()
        [[0.5, 0.5, 0.5]]
        """
        if self._stream is None:
            if state is not None:
                if not self.built:
                    raise ValueError(f"reset_step(state) needs a built layer: give {type(self).__name__} an "
                                     "input_size, or call build(input_size) or step() first")
                first = np.asarray(self._state_list(state)[0])
                states = self._given_states(state, first.shape[0] if first.ndim else 0)
                self._start_stream(states[0].shape[0], states)
            return
        if state is None:
            self._stream.reset()
        else:
            states = self._given_states(state, self._stream.batch)
            self._stream.reset(states[0], states[1] if len(states) > 1 else None)

    @property
    def step_state(self) -> list[np.ndarray] | None:
        """list of numpy.ndarray or None: The state ``step()`` carries (copies).

        [h], or [h, c] for LSTM, (batch, units) arrays of the layer's dtype; None before the first step and after
        ``set_weights()`` or ``build()``.
        """
        if self._stream is None:
            return None
        return [self._stream.state(False), self._stream.state(True)][: self._state_count]

    # ---- backward ---------------------------------------------------------------------------------------------
    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the layer's last ``training=True`` call (backpropagation through time,
        in C++).

        Later calls without training=True leave that call's record alone; calling ``backward`` again for the
        same call gives the same gradients (it recomputes the forward pass).

        Parameters
        ----------
        d_out : array_like or list
            dL/d(output of that call), with the structure of the output: one array of its shape or, with
            return_state, a list [d_out, d_h] ([d_out, d_h, d_c] for LSTM) whose entries may be None (zeros).

        Returns
        -------
        dict
            ``"x"``: dL/dx, of x's shape; ``"initial_state"``: a list, dL/dh_0 (and dL/dc_0 for LSTM), (batch,
            units) each, with respect to the given, zero or (stateful) carried-in initial state; and dL/d(weight)
            for every name of ``get_weights()``, of its shape. All of the layer's dtype. The weight gradients
            are those of that call alone (not accumulated). The dropout masks of that call apply.

        Raises
        ------
        ValueError
            If there was no ``training=True`` call (or ``set_weights`` came after it), or an entry of `d_out`
            has the wrong shape or, with check_finite=True, holds NaN or infinity.
        TypeError
            If `d_out` does not have the output's structure.

        Examples
        --------
        >>> layer = rf.GRU(3, return_state=True, seed=0)
        >>> out, h = layer(np.ones((2, 4, 5)), training=True)
        >>> grads = layer.backward([np.ones_like(out), None])
        >>> sorted(grads)
        ['bias', 'initial_state', 'kernel', 'recurrent_kernel', 'x']
        >>> grads["x"].shape, grads["kernel"].shape, [g.shape for g in grads["initial_state"]]
        ((2, 4, 5), (5, 9), [(2, 3)])
        """
        return self._backward(d_out)

    def _backward(self, d_out: Any, max_threads: int = 0) -> dict[str, Any]:
        """backward with at most max_threads threads (0: as many as the pool and the shapes allow)."""
        if self._last is None:
            raise ValueError("backward() needs a preceding call with training=True (and no set_weights since)")
        batch, time = self._last["batch"], self._last["time"]
        checked = self._checked_d_out(d_out, batch, time)
        w = self._last["weights"]
        dx, dh0, dc0, dk, drk, db, d_peephole, d_norm = self._engine.backward(
            w["kernel"], w["recurrent_kernel"], w["bias"], checked[0], checked[1],
            checked[2] if len(checked) > 2 else None, True, **self._engine_weights(w), max_threads=max_threads,
        )
        grads = {
            "x": dx,
            "initial_state": [dh0] if dc0 is None else [dh0, dc0],
            "kernel": dk,
            "recurrent_kernel": drk,
            "bias": db,
        }
        self._split_engine_grads(grads, {"peephole": d_peephole, "norm": d_norm})
        return grads


class SimpleRNN(_Recurrent):
    """Fully connected recurrent layer, as Keras' SimpleRNN.

    At each step, for every row of the batch::

        h_t = act(x_t·W + h_{t-1}·U + b)

    with W the kernel (input_size, units), U the recurrent_kernel (units, units), b the bias (units,) and act
    tanh or relu. The output at a step is h_t; the state is [h]. With layer_norm=True::

        h_t = act(LN(x_t·W + h_{t-1}·U + b)),   LN(v) = γ⊙(v − mean v)/sqrt(var v + ε) + β

    over a row's units, with the weights ln_gamma (ones) and ln_beta (zeros), (units,) each.

    Call the layer on a batch of sequences, ``layer(x, initial_state=None, lengths=None, training=False)`` with x
    (batch, time, features) of any real dtype; ``lengths`` gives each sequence's number of valid steps, which
    must come first in its row: outputs past a length are zero and the returned state is the state at the last
    valid step.
    ``backward(d_out)`` returns the gradients of the last ``training=True`` call, and ``step(x_t)`` runs one step
    at a time with the state kept inside. The weights are created at the first call (or by input_size,
    ``build`` or ``set_weights``) with Keras' initialisers, from `seed`: Glorot-uniform kernel, orthogonal
    recurrent_kernel, zero bias.

    Parameters
    ----------
    units : int
        The number of units: the size of h and of the output's last axis (at least 1).
    activation : str, default "tanh"
        "tanh" or "relu".
    layer_norm : bool, default False
        Normalise the pre-activation of each step (see above).
    layer_norm_epsilon : float, default 1e-3
        ε of the layer norm, a positive finite float.
    input_size : int or None, default None
        The number of input features: the layer is built at once with fresh weights. None: built at the first
        call, from the last axis of x.
    return_sequences : bool, default False
        Return the output of every step, (batch, time, units), instead of the last one, (batch, units).
    return_state : bool, default False
        Return a list: the output, then the final states ([output, h]; [output, h, c] for LSTM).
    go_backwards : bool, default False
        Process each sequence from its last valid step to its first, and return the outputs in that
        (reversed) order, as Keras does.
    stateful : bool, default False
        Start each call from the final states of the previous call (row i going on from row i), as Keras'
        stateful layers; the batch size must stay the same until ``reset_states()``.
    time_major : bool, default False
        Take x as (time, batch, features) and return sequences as (time, batch, units), as Keras 2's
        time_major; states stay (batch, units).
    dropout : float, default 0.0
        Fraction in [0, 1) of the input features to drop in training calls, as Keras: x_t is multiplied by a
        mask of zeros and 1/(1 − dropout), one mask per sequence (batch row) fixed across its steps.
    recurrent_dropout : float, default 0.0
        The same for h_{t-1} where the recurrent kernel reads it (one mask for all gates).
    seed : int or None, default None
        Seed (an integer ≥ 0) of the weights' initialisation and, in a stream of their own, of the dropout
        masks; None: fresh randomness from the operating system.
    dtype : str or numpy.dtype, default "float32"
        "float32" or "float64": the dtype of the weights, outputs, states and gradients (inputs are converted
        to it).
    check_finite : bool, default False
        Raise ValueError for NaN or infinity in x, initial_state, d_out and step's x_t. By default they
        propagate as in NumPy, within their own sequence only (the other rows of a batch are unchanged).
    **common
        The keyword-only arguments above, input_size to check_finite, which SimpleRNN, LSTM and GRU share. An
        unknown keyword raises TypeError.

    Raises
    ------
    ValueError
        For an argument out of range (units < 1, an unknown activation or dtype, a rate outside [0, 1)).
    TypeError
        For an argument of the wrong type, or an unknown keyword.

    Examples
    --------
    >>> layer = rf.SimpleRNN(4, return_sequences=True, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    >>> y = layer(x)
    >>> y.shape, y.dtype
    ((2, 5, 4), dtype('float32'))
    >>> w = layer.get_weights()
    >>> {name: a.shape for name, a in w.items()}
    {'kernel': (3, 4), 'recurrent_kernel': (4, 4), 'bias': (4,)}
    >>> h1 = np.tanh(x[:, 0] @ w["kernel"] + w["bias"])  # the first step, from h_0 = 0
    >>> bool(np.allclose(y[:, 0], h1, atol=1e-5))
    True
    """

    _gates = 1
    _state_count = 1

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        layer_norm: bool = False,
        layer_norm_epsilon: float = 1e-3,
        **common: Any,
    ) -> None:
        self.activation = check_choice(activation, "activation", ("tanh", "relu"))
        self.layer_norm = bool(layer_norm)
        self.layer_norm_epsilon = check_epsilon(layer_norm_epsilon)
        super().__init__(units, **common)

    def _cell_name(self) -> str:
        return f"simple_rnn_{self.activation}"

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            Every constructor argument by name, input_size and activation included, JSON-serialisable:
            ``rf.SimpleRNN.from_config(config)`` makes a layer with the same options (and fresh weights).

        Examples
        --------
        >>> config = rf.SimpleRNN(4, activation="relu", input_size=3).get_config()
        >>> config["activation"], config["input_size"]
        ('relu', 3)
        """
        return {**super().get_config(), "activation": self.activation}

    def _norms(self) -> list[tuple[str, int]]:
        return [("ln", self.units)]


class LSTM(_Recurrent):
    """Long short-term memory layer, as Keras' LSTM, gate order i, f, c̃ (candidate), o.

    At each step, for every row of the batch::

        [i f c̃ o] = [σ σ tanh σ](x_t·W + h_{t-1}·U + b)
        c_t = f⊙c_{t-1} + i⊙c̃
        h_t = o⊙tanh(c_t)

    with W the kernel (input_size, 4·units), U the recurrent_kernel (units, 4·units) and b the bias (4·units,),
    the four gate blocks side by side along the last axis in the order i, f, c̃, o (Keras' layout). The output at
    a step is h_t; the states are [h, c]. From PyTorch's ``nn.LSTM`` (same gate order): kernel = weight_ih_l0.T,
    recurrent_kernel = weight_hh_l0.T, bias = bias_ih_l0 + bias_hh_l0.

    peephole=True (Gers & Schmidhuber; Keras 2's PeepholeLSTMCell) adds the weights peephole_i, peephole_f and
    peephole_o, (units,) each, Glorot-uniform initialised, through which the gates see the cell state::

        i = σ(… + p_i⊙c_{t-1}),   f = σ(… + p_f⊙c_{t-1}),   o = σ(… + p_o⊙c_t)

    layer_norm=True normalises the two products and the cell state, with the layer norm
    LN(v) = γ⊙(v − mean v)/sqrt(var v + ε) + β over a row's features::

        [i f c̃ o] = [σ σ tanh σ](LN_x(x_t·W) + LN_h(h_{t-1}·U) + b)   (peepholes added after the norms)
        h_t = o⊙tanh(LN_c(c_t))

    and the weights ln_x_gamma, ln_x_beta, ln_h_gamma, ln_h_beta (4·units,) and ln_c_gamma, ln_c_beta (units,)
    (gammas ones, betas zeros), which ``get_weights()`` lists before the peepholes.

    Call the layer on a batch of sequences, ``layer(x, initial_state=None, lengths=None, training=False)`` with x
    (batch, time, features) of any real dtype; ``lengths`` gives each sequence's number of valid steps, which
    must come first in its row: outputs past a length are zero and the returned state is the state at the last
    valid step.
    ``backward(d_out)`` returns the gradients of the last ``training=True`` call, and ``step(x_t)`` runs one step
    at a time with the state kept inside. The weights are created at the first call (or by input_size,
    ``build`` or ``set_weights``) with Keras' initialisers, from `seed`: Glorot-uniform kernel, orthogonal
    recurrent_kernel, zero bias.

    Parameters
    ----------
    units : int
        The number of units: the size of h, c and the output's last axis (at least 1).
    peephole : bool, default False
        Add the peephole connections (see above).
    layer_norm : bool, default False
        Normalise x_t·W, h_{t-1}·U and c_t (see above).
    layer_norm_epsilon : float, default 1e-3
        ε of the layer norms, a positive finite float.
    unit_forget_bias : bool, default True
        Start the forget gate's bias at 1 (the rest at 0), as Keras.
    input_size : int or None, default None
        The number of input features: the layer is built at once with fresh weights. None: built at the first
        call, from the last axis of x.
    return_sequences : bool, default False
        Return the output of every step, (batch, time, units), instead of the last one, (batch, units).
    return_state : bool, default False
        Return a list: the output, then the final states ([output, h]; [output, h, c] for LSTM).
    go_backwards : bool, default False
        Process each sequence from its last valid step to its first, and return the outputs in that
        (reversed) order, as Keras does.
    stateful : bool, default False
        Start each call from the final states of the previous call (row i going on from row i), as Keras'
        stateful layers; the batch size must stay the same until ``reset_states()``.
    time_major : bool, default False
        Take x as (time, batch, features) and return sequences as (time, batch, units), as Keras 2's
        time_major; states stay (batch, units).
    dropout : float, default 0.0
        Fraction in [0, 1) of the input features to drop in training calls, as Keras: x_t is multiplied by a
        mask of zeros and 1/(1 − dropout), one mask per sequence (batch row) fixed across its steps.
    recurrent_dropout : float, default 0.0
        The same for h_{t-1} where the recurrent kernel reads it (one mask for all gates).
    seed : int or None, default None
        Seed (an integer ≥ 0) of the weights' initialisation and, in a stream of their own, of the dropout
        masks; None: fresh randomness from the operating system.
    dtype : str or numpy.dtype, default "float32"
        "float32" or "float64": the dtype of the weights, outputs, states and gradients (inputs are converted
        to it).
    check_finite : bool, default False
        Raise ValueError for NaN or infinity in x, initial_state, d_out and step's x_t. By default they
        propagate as in NumPy, within their own sequence only (the other rows of a batch are unchanged).
    **common
        The keyword-only arguments above, input_size to check_finite, which SimpleRNN, LSTM and GRU share. An
        unknown keyword raises TypeError.

    Raises
    ------
    ValueError
        For an argument out of range (units < 1, an unknown dtype, a rate outside [0, 1)).
    TypeError
        For an argument of the wrong type, or an unknown keyword.

    Examples
    --------
    >>> layer = rf.LSTM(4, return_sequences=True, return_state=True, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    >>> out, h, c = layer(x, lengths=[5, 3], training=True)
    >>> out.shape, h.shape, c.shape
    ((2, 5, 4), (2, 4), (2, 4))
    >>> bool(np.all(out[1, 3:] == 0)), bool(np.array_equal(h[1], out[1, 2]))  # past length 3: zeros
    (True, True)
    >>> grads = layer.backward([np.ones_like(out), None, None])
    >>> {name: g.shape for name, g in grads.items() if name != "initial_state"}
    {'x': (2, 5, 3), 'kernel': (3, 16), 'recurrent_kernel': (4, 16), 'bias': (16,)}

    The gates, in Keras' order, at the first step (from h_0 = c_0 = 0):

    >>> w = layer.get_weights()
    >>> i, f, g, o = np.split(x[:, 0] @ w["kernel"] + w["bias"], 4, axis=-1)
    >>> sigmoid = lambda v: 1 / (1 + np.exp(-v))
    >>> c1 = sigmoid(i) * np.tanh(g)
    >>> bool(np.allclose(out[:, 0], sigmoid(o) * np.tanh(c1), atol=1e-5))
    True
    """

    _gates = 4
    _state_count = 2

    def __init__(
        self,
        units: int,
        peephole: bool = False,
        layer_norm: bool = False,
        layer_norm_epsilon: float = 1e-3,
        unit_forget_bias: bool = True,
        **common: Any,
    ) -> None:
        self.peephole = bool(peephole)
        self.layer_norm = bool(layer_norm)
        self.layer_norm_epsilon = check_epsilon(layer_norm_epsilon)
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, **common)

    def _cell_name(self) -> str:
        return "lstm"

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            Every constructor argument by name, input_size, peephole and unit_forget_bias included,
            JSON-serialisable: ``rf.LSTM.from_config(config)`` makes a layer with the same options (and fresh
            weights).

        Examples
        --------
        >>> config = rf.LSTM(4, peephole=True).get_config()
        >>> config["peephole"], config["unit_forget_bias"], config["layer_norm"]
        (True, True, False)
        """
        return {**super().get_config(), "peephole": self.peephole, "unit_forget_bias": self.unit_forget_bias}

    def _weight_groups(self) -> dict[str, list[tuple[str, int, str]]]:
        groups = super()._weight_groups()
        if self.peephole:
            # As Keras 2's PeepholeLSTMCell: the kernel's initialiser (glorot_uniform) on each (units,) vector.
            groups["peephole"] = [(f"peephole_{g}", self.units, "glorot_uniform") for g in "ifo"]
        return groups

    def _norms(self) -> list[tuple[str, int]]:
        return [("ln_x", 4 * self.units), ("ln_h", 4 * self.units), ("ln_c", self.units)]

    def _engine_options(self) -> dict[str, Any]:
        return {**super()._engine_options(), "peephole": self.peephole}

    def _initial_bias(self) -> np.ndarray:
        bias = np.zeros(self._bias_shape())
        if self.unit_forget_bias:
            bias[self.units : 2 * self.units] = 1.0
        return bias


class GRU(_Recurrent):
    """Gated recurrent unit, as Keras' GRU, gate order z (update), r (reset), h̃ (candidate).

    At each step, for every row of the batch, with [x_z x_r x_h] = x_t·W + b_in the input part::

        [u_z u_r u_h] = h_{t-1}·U + b_rec
        z = σ(x_z + u_z),   r = σ(x_r + u_r),   h̃ = tanh(x_h + r⊙u_h)
        h_t = z⊙h_{t-1} + (1 − z)⊙h̃

    with reset_after=True (the default, as Keras; the cuDNN and PyTorch form). W is the kernel
    (input_size, 3·units), U the recurrent_kernel (units, 3·units), the gate blocks side by side along the last
    axis in the order z, r, h̃; the bias is (2, 3·units), the rows [b_in; b_rec]. With reset_after=False the
    reset gate acts before the recurrent product and the bias b is (3·units,)::

        z = σ(x_z + h_{t-1}·U_z),   r = σ(x_r + h_{t-1}·U_r),   h̃ = tanh(x_h + (r⊙h_{t-1})·U_h)
        h_t = z⊙h_{t-1} + (1 − z)⊙h̃

    with [x_z x_r x_h] = x_t·W + b. The output at a step is h_t; the state is [h]. PyTorch's ``nn.GRU`` orders
    its gates r, z, n: kernel is weight_ih_l0.T and recurrent_kernel weight_hh_l0.T with the blocks permuted, and
    the bias rows are bias_ih_l0 and bias_hh_l0, permuted alike.

    layer_norm=True (reset_after only) normalises the two parts, with LN(v) = γ⊙(v − mean v)/sqrt(var v + ε) + β
    over a row's features: the input part is LN_x(x_t·W) + b_in and the recurrent part LN_h(h_{t-1}·U) + b_rec,
    with the weights ln_x_gamma, ln_x_beta, ln_h_gamma, ln_h_beta, (3·units,) each (gammas ones, betas zeros).

    Call the layer on a batch of sequences, ``layer(x, initial_state=None, lengths=None, training=False)`` with x
    (batch, time, features) of any real dtype; ``lengths`` gives each sequence's number of valid steps, which
    must come first in its row: outputs past a length are zero and the returned state is the state at the last
    valid step.
    ``backward(d_out)`` returns the gradients of the last ``training=True`` call, and ``step(x_t)`` runs one step
    at a time with the state kept inside. The weights are created at the first call (or by input_size,
    ``build`` or ``set_weights``) with Keras' initialisers, from `seed`: Glorot-uniform kernel, orthogonal
    recurrent_kernel, zero bias.

    Parameters
    ----------
    units : int
        The number of units: the size of h and of the output's last axis (at least 1).
    reset_after : bool, default True
        Apply the reset gate after the recurrent product (see above), as Keras' default.
    layer_norm : bool, default False
        Normalise x_t·W and h_{t-1}·U (see above); needs reset_after=True.
    layer_norm_epsilon : float, default 1e-3
        ε of the layer norms, a positive finite float.
    input_size : int or None, default None
        The number of input features: the layer is built at once with fresh weights. None: built at the first
        call, from the last axis of x.
    return_sequences : bool, default False
        Return the output of every step, (batch, time, units), instead of the last one, (batch, units).
    return_state : bool, default False
        Return a list: the output, then the final states ([output, h]; [output, h, c] for LSTM).
    go_backwards : bool, default False
        Process each sequence from its last valid step to its first, and return the outputs in that
        (reversed) order, as Keras does.
    stateful : bool, default False
        Start each call from the final states of the previous call (row i going on from row i), as Keras'
        stateful layers; the batch size must stay the same until ``reset_states()``.
    time_major : bool, default False
        Take x as (time, batch, features) and return sequences as (time, batch, units), as Keras 2's
        time_major; states stay (batch, units).
    dropout : float, default 0.0
        Fraction in [0, 1) of the input features to drop in training calls, as Keras: x_t is multiplied by a
        mask of zeros and 1/(1 − dropout), one mask per sequence (batch row) fixed across its steps.
    recurrent_dropout : float, default 0.0
        The same for h_{t-1} where the recurrent kernel reads it (one mask for all gates);
        the carry z⊙h_{t-1} keeps the unmasked state.
    seed : int or None, default None
        Seed (an integer ≥ 0) of the weights' initialisation and, in a stream of their own, of the dropout
        masks; None: fresh randomness from the operating system.
    dtype : str or numpy.dtype, default "float32"
        "float32" or "float64": the dtype of the weights, outputs, states and gradients (inputs are converted
        to it).
    check_finite : bool, default False
        Raise ValueError for NaN or infinity in x, initial_state, d_out and step's x_t. By default they
        propagate as in NumPy, within their own sequence only (the other rows of a batch are unchanged).
    **common
        The keyword-only arguments above, input_size to check_finite, which SimpleRNN, LSTM and GRU share. An
        unknown keyword raises TypeError.

    Raises
    ------
    ValueError
        For an argument out of range (units < 1, an unknown dtype, a rate outside [0, 1)), or layer_norm=True
        with reset_after=False.
    TypeError
        For an argument of the wrong type, or an unknown keyword.

    Examples
    --------
    >>> layer = rf.GRU(4, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3))
    >>> h = layer(x)
    >>> h.shape, h.dtype
    ((2, 4), dtype('float32'))
    >>> {name: w.shape for name, w in layer.get_weights().items()}
    {'kernel': (3, 12), 'recurrent_kernel': (4, 12), 'bias': (2, 12)}

    Time-major sequences in float64, and a stateful layer that carries its state from call to call:

    >>> layer = rf.GRU(4, return_sequences=True, time_major=True, dtype="float64", seed=0)
    >>> y = layer(np.ones((5, 2, 3)))
    >>> y.shape, y.dtype
    ((5, 2, 4), dtype('float64'))
    >>> streaming = rf.GRU(4, stateful=True, seed=0)
    >>> whole = rf.GRU(4, seed=0)(x)
    >>> _ = streaming(x[:, :3])
    >>> bool(np.allclose(streaming(x[:, 3:]), whole, atol=1e-6))
    True
    """

    _gates = 3
    _state_count = 1

    def __init__(
        self,
        units: int,
        reset_after: bool = True,
        layer_norm: bool = False,
        layer_norm_epsilon: float = 1e-3,
        **common: Any,
    ) -> None:
        self.reset_after = bool(reset_after)
        self.layer_norm = bool(layer_norm)
        self.layer_norm_epsilon = check_epsilon(layer_norm_epsilon)
        if self.layer_norm and not self.reset_after:
            raise ValueError("layer_norm=True needs reset_after=True")
        super().__init__(units, **common)

    def _cell_name(self) -> str:
        return "gru" if self.reset_after else "gru_reset_before"

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            Every constructor argument by name, input_size and reset_after included, JSON-serialisable:
            ``rf.GRU.from_config(config)`` makes a layer with the same options (and fresh weights).

        Examples
        --------
        >>> config = rf.GRU(4, reset_after=False).get_config()
        >>> config["reset_after"], config["units"]
        (False, 4)
        """
        return {**super().get_config(), "reset_after": self.reset_after}

    def _norms(self) -> list[tuple[str, int]]:
        return [("ln_x", 3 * self.units), ("ln_h", 3 * self.units)]

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)
