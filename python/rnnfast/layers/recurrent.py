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
        """The constructor arguments: ``type(layer).from_config(layer.get_config())`` makes a layer with the same
        options, unbuilt or built as this one (with fresh weights)."""
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
        return self.input_size is not None

    def weight_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """The shapes of the weights for `input_size` input features, by name."""
        g = self._gates * self.units
        shapes = {"kernel": (input_size, g), "recurrent_kernel": (self.units, g), "bias": self._bias_shape()}
        shapes.update({name: (size,) for group in self._weight_groups().values() for name, size, _ in group})
        return shapes

    def build(self, input_size: int) -> None:
        """Create the weights for `input_size` input features (Keras' default initialisation)."""
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
        """The live weight arrays (Keras layout and gate order); changed in place, call weights_updated()."""
        return self._weights

    def weights_updated(self) -> None:
        """After the weight arrays were changed in place (an optimiser step): step() restarts from them (with its
        current state), and calls pack them again."""
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
        """Replace all weights; `weights` has exactly the keys and shapes of get_weights().

        An unbuilt layer takes its input size from ``weights["kernel"].shape[0]``.
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
        """Run the layer over a batch of sequences.

        x: (batch, time, features), or (time, batch, features) when time_major.
        initial_state: list of (batch, units) arrays, [h] or [h, c] for LSTM; None = zeros (or the carried
            state of a stateful layer).
        lengths: (batch,) integers in [0, time]; steps past a sequence's length output zeros and keep its state.
        training: keep what backward() needs, and apply dropout and recurrent dropout (fresh masks per call,
            see dropout_masks). The engine keeps a reference to x (no copy) until the next training call: do not
            modify x in place before backward().
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
        """The masks of the last training call: "input" (batch, input_size) multiplies x_t, "recurrent"
        (batch, units) multiplies h_{t-1} where the recurrent kernel reads it; kept units hold 1/(1 - rate),
        dropped ones 0. Only the layer's nonzero rates have an entry ({} before a training call)."""
        if self._last is None:
            return {}
        names = {"input_mask": "input", "recurrent_mask": "recurrent"}
        return {names[k]: v.copy() for k, v in self._last["masks"].items()}

    # ---- streaming ----------------------------------------------------------------------------------------------
    def step(self, x_t: Any, state: Any = None) -> np.ndarray:
        """One time step with the state kept inside the layer (for streams: audio, control, events), in C++
        with no per-step allocation besides the returned array.

        x_t: (batch, input_size). Returns h_t, (batch, units). state: a list like initial_state to start from
        (else the state the previous step left; zeros at first, or after reset_step()). A new batch size starts
        from zeros. No dropout, no lengths: the inference step of the layer, equal to a whole-sequence call step
        by step. step() takes the weights when it starts: after set_weights it restarts from them.
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
        """Zero the state of step() (or set it: a list like initial_state)."""
        if self._stream is None:
            if state is not None:
                states = self._given_states(state, np.shape(state[0])[0])
                self._start_stream(states[0].shape[0], states)
            return
        if state is None:
            self._stream.reset()
        else:
            states = self._given_states(state, self._stream.batch)
            self._stream.reset(states[0], states[1] if len(states) > 1 else None)

    @property
    def step_state(self) -> list[np.ndarray] | None:
        """The state step() carries ([h] or [h, c]), copies; None before the first step."""
        if self._stream is None:
            return None
        return [self._stream.state(False), self._stream.state(True)][: self._state_count]

    # ---- backward ---------------------------------------------------------------------------------------------
    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss, given `d_out` = dLoss/d(output of the last training=True call).

        d_out has the structure of that output: one array, or with return_state a list [d_out, d_h(, d_c)]
        whose entries may be None (zeros). Returns {"x", "initial_state", and every name of get_weights()}.
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
    """Fully connected recurrent layer: h_t = act(x_t·W + h_{t-1}·U + b).

    Weights: kernel (input_size, units), recurrent_kernel (units, units), bias (units,).
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
        return {**super().get_config(), "activation": self.activation}

    def _norms(self) -> list[tuple[str, int]]:
        return [("ln", self.units)]


class LSTM(_Recurrent):
    """Long short-term memory layer, Keras gate order i, f, c (candidate), o.

    i, f, o = σ(x·W + h·U + b) parts; c̃ = tanh(...); c_t = f⊙c_{t-1} + i⊙c̃; h_t = o⊙tanh(c_t).
    Weights: kernel (input_size, 4·units), recurrent_kernel (units, 4·units), bias (4·units,).
    States: [h, c].

    peephole=True adds peephole_i, peephole_f, peephole_o (units,): i and f also see p_i⊙c_{t-1} and
    p_f⊙c_{t-1}, o sees p_o⊙c_t (Gers & Schmidhuber; Keras 2's PeepholeLSTMCell).
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
    """Gated recurrent unit, Keras gate order z (update), r (reset), h (candidate).

    reset_after=True (default; the cuDNN/PyTorch form): h̃ = tanh(x·W_h + b_in,h + r⊙(h·U_h + b_rec,h)), bias
    (2, 3·units) = [input bias; recurrent bias]. reset_after=False: h̃ = tanh(x·W_h + (r⊙h)·U_h + b_h), bias
    (3·units,). Always h_t = z⊙h_{t-1} + (1−z)⊙h̃.
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
        return {**super().get_config(), "reset_after": self.reset_after}

    def _norms(self) -> list[tuple[str, int]]:
        return [("ln_x", 3 * self.units), ("ln_h", 3 * self.units)]

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)
