"""Bidirectional: a recurrent layer and its mirror image over the same sequences, outputs merged per step."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from .._engine import core as _core
from .._registry import deserialize, serialize
from .._validation import as_lengths, check_choice
from .base import Layer, Output, Shape, _SequenceLayer

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """The thread that runs the backward direction while the caller runs the forward one."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnfast-bidirectional")
        return _executor


def _both(forward: Callable[[int], Any], backward: Callable[[int], Any]) -> tuple[Any, Any]:
    """Runs the two directions: at the same time, one thread each, when rnnfast may use two threads or more
    (each direction's steps then need no team meeting); else one after the other on the calling thread."""
    if int(_core.get_num_threads()) < 2:
        return forward(0), backward(0)
    pending = _helper().submit(backward, 1)
    try:
        first = forward(1)
    finally:
        second = pending.result()  # waits even if the forward direction failed, then re-raises its error
    return first, second


def _reverse_within_lengths(y: np.ndarray, lengths: np.ndarray | None, time_major: bool) -> np.ndarray:
    """Step t of each sequence ↔ step len−1−t (zeros past its length). Its own inverse."""
    y_bt = y.transpose(1, 0, 2) if time_major else y
    if lengths is None:
        out = y_bt[:, ::-1]
    else:
        batch, time = y_bt.shape[:2]
        t = np.arange(time)[None, :]
        valid = t < lengths[:, None]
        source = np.where(valid, lengths[:, None] - 1 - t, 0)
        out = y_bt[np.arange(batch)[:, None], source] * valid[..., None]
    out = out.transpose(1, 0, 2) if time_major else out
    return np.ascontiguousarray(out)


class Bidirectional(Layer):
    """Bidirectional wrapper of a recurrent layer, as Keras' Bidirectional: the layer runs over the sequences, a
    mirror copy of it over the reversed sequences, and their outputs are merged per step.

    The backward direction is `backward_layer`, or by default a layer of the same type and configuration with
    go_backwards flipped and its own weights (seed + 1 when the layer has a seed). Its outputs are aligned to input
    time: with per-sequence ``lengths`` (valid steps first in each row), each sequence runs backwards from its own
    last valid step, and its output for input step t sits at step t (zeros past the length). With
    return_sequences=False each direction contributes its final state: the forward one's at the last valid step,
    the backward one's at input step 0.

    Call it as the wrapped layer, ``layer(x, initial_state=None, lengths=None, training=False)``: initial_state
    lists the forward layer's states, then the backward layer's; with return_state the call returns
    ``[out, *forward_states, *backward_states]`` (merge_mode=None: ``[out_forward, out_backward, *states]``).
    ``get_weights()`` prefixes each direction's weight names with "forward/" and "backward/". With two or more
    threads (``rnnfast.set_num_threads``) both directions run at the same time, in the call and in ``backward``.
    It has no ``step()`` (the backward direction starts at the end of the sequence).

    Parameters
    ----------
    layer : SimpleRNN, LSTM, GRU or RNN
        The forward direction (the layer itself, not a copy). Its return_sequences, return_state, time_major,
        stateful and dtype are the wrapper's.
    merge_mode : str or None, default "concat"
        How the two outputs merge: "concat" (features side by side, forward first: 2·units features), "sum",
        "mul", "ave" (their mean), or None (the two outputs as a list).
    backward_layer : SimpleRNN, LSTM, GRU, RNN or None, default None
        The backward direction: a layer of the type of `layer`, with the opposite go_backwards and the same
        return_sequences, return_state, time_major and dtype. None: a mirror copy of `layer` (see above).

    Raises
    ------
    TypeError
        If `layer` or `backward_layer` is not an rnnfast recurrent layer.
    ValueError
        For an unknown merge_mode, or a `backward_layer` that does not match `layer` (or is `layer`).

    Examples
    --------
    >>> layer = rf.Bidirectional(rf.LSTM(4, return_sequences=True, seed=0))
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3))
    >>> y = layer(x, lengths=[5, 3])
    >>> y.shape, bool(np.all(y[1, 3:] == 0))
    ((2, 5, 8), True)
    >>> sorted(layer.get_weights())[:3]
    ['backward/bias', 'backward/kernel', 'backward/recurrent_kernel']
    >>> layer.backward_layer.go_backwards, layer.backward_layer.seed
    (True, 1)

    The two directions as a list, with their final states:

    >>> layer = rf.Bidirectional(rf.GRU(4, return_state=True, seed=0), merge_mode=None)
    >>> [a.shape for a in layer(x)]  # [out_forward, out_backward, h_forward, h_backward]
    [(2, 4), (2, 4), (2, 4), (2, 4)]
    """

    needs_whole_sequence = True
    carries_state = True

    def __init__(self, layer: _SequenceLayer, merge_mode: str | None = "concat",
                 backward_layer: _SequenceLayer | None = None) -> None:
        if not isinstance(layer, _SequenceLayer):
            raise TypeError(f"layer must be a rnnfast SimpleRNN, LSTM, GRU or RNN, got {type(layer).__name__}")
        if merge_mode is not None:
            check_choice(merge_mode, "merge_mode", _MERGE_MODES)  # type: ignore[arg-type]
        self.merge_mode = merge_mode
        if backward_layer is None:
            backward_layer = type(layer).from_config(self._mirror_config(layer))  # type: ignore[assignment]
        elif not isinstance(backward_layer, _SequenceLayer):
            raise TypeError(f"backward_layer must be a rnnfast recurrent layer, got {type(backward_layer).__name__}")
        else:
            for attribute in ("return_sequences", "return_state", "time_major", "dtype"):
                if getattr(backward_layer, attribute) != getattr(layer, attribute):
                    raise ValueError(f"backward_layer.{attribute} must equal layer.{attribute}")
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError("backward_layer.go_backwards must be the opposite of layer.go_backwards")
            if type(backward_layer) is not type(layer):
                raise ValueError("backward_layer must be of the same type as layer")
        if backward_layer is layer:
            raise ValueError("backward_layer must be a different layer object")
        self.forward_layer = layer
        self.backward_layer: _SequenceLayer = backward_layer  # type: ignore[assignment]
        self._last: dict[str, Any] | None = None

    @staticmethod
    def _mirror_config(layer: _SequenceLayer) -> dict[str, Any]:
        """The config of the default backward layer: go_backwards flipped, the next seed."""
        config = layer.get_config()
        config["go_backwards"] = not layer.go_backwards
        if config["seed"] is not None:
            config["seed"] += 1
        return config

    def get_config(self) -> dict[str, Any]:
        """The wrapper's constructor arguments.

        Returns
        -------
        dict
            ``{"layer": {"class": ..., "config": ...}, "backward_layer": {...}, "merge_mode": ...}``, each layer
            as its class name and config; JSON-serialisable for the built-in layers.

        Examples
        --------
        >>> config = rf.Bidirectional(rf.GRU(4), merge_mode="sum").get_config()
        >>> config["layer"]["class"], config["backward_layer"]["config"]["go_backwards"], config["merge_mode"]
        ('GRU', True, 'sum')
        """
        return {"layer": serialize(self.forward_layer), "backward_layer": serialize(self.backward_layer),
                "merge_mode": self.merge_mode}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Bidirectional:
        """Make a Bidirectional with the options of `config`, with fresh weights.

        Parameters
        ----------
        config : Mapping[str, Any]
            A config as ``get_config()`` returns it: "layer", and optionally "backward_layer" (default: a
            mirror copy of the layer) and "merge_mode" (default "concat").

        Returns
        -------
        Bidirectional
            A new wrapper of new layers.

        Raises
        ------
        ValueError
            If `config` is not such a dict, or names an unknown layer class.
        """
        if not isinstance(config, Mapping) or not {"layer"} <= set(config) <= {"layer", "backward_layer",
                                                                                 "merge_mode"}:
            raise ValueError("a Bidirectional config holds 'layer' and optionally 'backward_layer' and 'merge_mode', "
                             f"got {config!r}")
        backward = config.get("backward_layer")
        return cls(deserialize(config["layer"]), merge_mode=config.get("merge_mode", "concat"),
                   backward_layer=None if backward is None else deserialize(backward))

    def _repr_arguments(self, config: Mapping[str, Any]) -> list[str]:
        args = [repr(self.forward_layer)]
        if self.merge_mode != "concat":
            args.append(f"merge_mode={self.merge_mode!r}")
        if self.backward_layer.get_config() != self._mirror_config(self.forward_layer) \
                or type(self.backward_layer) is not type(self.forward_layer):
            args.append(f"backward_layer={self.backward_layer!r}")
        return args

    # ---- properties shared with the wrapped layers -------------------------------------------------------------
    @property
    def return_sequences(self) -> bool:
        """bool: Whether the call returns the output of every step (the wrapped layer's option)."""
        return self.forward_layer.return_sequences

    @property
    def return_state(self) -> bool:
        """bool: Whether the call returns the final states too (the wrapped layer's option)."""
        return self.forward_layer.return_state

    @property
    def time_major(self) -> bool:
        """bool: Whether x is (time, batch, features) (the wrapped layer's option)."""
        return self.forward_layer.time_major

    @property
    def units(self) -> int:
        """int: The units of each direction (merge_mode="concat" outputs 2·units features)."""
        return self.forward_layer.units

    @property
    def stateful(self) -> bool:
        """bool: Whether both directions carry their final states into the next call.

        Setting it sets it on both layers.
        """
        return self.forward_layer.stateful and self.backward_layer.stateful

    @stateful.setter
    def stateful(self, value: bool) -> None:
        self.forward_layer.stateful = self.backward_layer.stateful = bool(value)

    @property
    def input_size(self) -> int | None:
        """int or None: The number of input features (None before the layer is built)."""
        return self.forward_layer.input_size

    @property
    def built(self) -> bool:
        """bool: Whether both directions have their weights."""
        return self.forward_layer.built and self.backward_layer.built

    def build(self, input_size: int) -> None:
        """Create fresh weights for both directions, for inputs of `input_size` features (each layer's
        ``build``).

        Parameters
        ----------
        input_size : int
            The number of input features (the last axis of x), at least 1.
        """
        self.forward_layer.build(input_size)
        self.backward_layer.build(input_size)

    def _layers(self) -> tuple[tuple[str, _SequenceLayer], tuple[str, _SequenceLayer]]:
        return ("forward", self.forward_layer), ("backward", self.backward_layer)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of both directions' weights.

        Returns
        -------
        dict[str, numpy.ndarray]
            "forward/<name>" for every weight of the forward layer, then "backward/<name>" for the backward
            layer's, in Keras' layout ({} before the layer is built).

        Examples
        --------
        >>> sorted(rf.Bidirectional(rf.SimpleRNN(2, input_size=3)).get_weights())
        ['backward/bias', 'backward/kernel', 'backward/recurrent_kernel',
         'forward/bias', 'forward/kernel', 'forward/recurrent_kernel']
        """
        return {f"{prefix}/{k}": v for prefix, layer in self._layers() for k, v in layer.get_weights().items()}

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The live weight arrays of both directions.

        Named "forward/<name>" and "backward/<name>"; after changing them in place, call ``weights_updated()``.
        """
        return {f"{prefix}/{k}": v for prefix, layer in self._layers()
                for k, v in layer.trainable_weights.items()}

    def weights_updated(self) -> None:
        """Tell both directions that their ``trainable_weights`` were changed in place (an optimiser step)."""
        for _, layer in self._layers():
            layer.weights_updated()

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace both directions' weights; drops the pending backward.

        Parameters
        ----------
        weights : Mapping[str, array_like]
            Exactly the names and shapes of ``get_weights()``: "forward/<name>" and "backward/<name>".

        Raises
        ------
        TypeError
            If `weights` is not a dict (a Mapping).
        ValueError
            If a name is missing, unexpected or without a "forward/" or "backward/" prefix, or an array has
            the wrong shape.
        """
        if not isinstance(weights, Mapping):
            raise TypeError(f"set_weights expects a dict of arrays, got {type(weights).__name__}")
        unknown = sorted(k for k in weights if not (isinstance(k, str) and k.split("/", 1)[0] in ("forward", "backward")
                                                    and "/" in k))
        if unknown:
            raise ValueError(f"set_weights expects keys 'forward/<name>' and 'backward/<name>', got {unknown}")
        for prefix, layer in self._layers():
            layer.set_weights({k.split("/", 1)[1]: v for k, v in weights.items() if k.startswith(prefix + "/")})
        self._last = None

    @property
    def states(self) -> list[np.ndarray] | None:
        """list of numpy.ndarray or None: The states the two stateful directions carry into the next call.

        Copies: the forward layer's, then the backward layer's, (batch, units) each; None unless both carry
        states.
        """
        f, b = self.forward_layer.states, self.backward_layer.states
        return None if f is None or b is None else [*f, *b]

    def reset_states(self) -> None:
        """Forget the states both directions carry (stateful): the next call starts from zeros."""
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    @property
    def dropout_masks(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: Both directions' dropout masks of the last training call.

        Named "forward/input", "backward/recurrent", ... (see the wrapped layer's ``dropout_masks``).
        """
        return {f"{prefix}/{k}": v for prefix, layer in self._layers() for k, v in layer.dropout_masks.items()}

    # ---- call ---------------------------------------------------------------------------------------------------
    def __call__(self, x: Any, initial_state: Any = None, lengths: Any = None, training: bool = False) -> Output:
        """Run both directions over a batch of sequences and merge their outputs.

        Parameters
        ----------
        x : array_like
            The sequences, (batch, time, features), or (time, batch, features) when time_major.
        initial_state : list of array_like or None, default None
            The forward layer's states, then the backward layer's (e.g. [h_f, c_f, h_b, c_b] for LSTM), (batch,
            units) each. None: zeros, or the states stateful layers carry.
        lengths : array_like or None, default None
            The number of valid steps of each sequence, (batch,) integers in [0, time]; the valid steps must
            come first in each row. The backward direction runs from each sequence's last valid step; outputs
            past a length are zero. None: every sequence has all time steps.
        training : bool, default False
            Keep what ``backward()`` needs, and apply the layers' dropout.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            The merged output: (batch, time, features) with return_sequences, else (batch, features); features
            is 2·units with merge_mode="concat", else units. merge_mode=None: the list [out_forward,
            out_backward]. With return_state the final states follow:
            ``[out, *forward_states, *backward_states]``.

        Raises
        ------
        ValueError
            For arguments of the wrong shapes (as the wrapped layer's call), or an initial_state of the wrong
            length.
        TypeError
            For an initial_state that is not a list.

        Examples
        --------
        >>> layer = rf.Bidirectional(rf.LSTM(3, return_sequences=True, seed=0), merge_mode="ave")
        >>> x = np.ones((2, 4, 5))
        >>> h0 = [np.zeros((2, 3))] * 4  # h_f, c_f, h_b, c_b
        >>> layer(x, initial_state=h0).shape
        (2, 4, 3)
        """
        n = self.forward_layer._state_count
        if initial_state is not None:
            states = self._array_list(initial_state, 2 * n, "initial_state",
                                      "(the forward layer's states, then the backward layer's)", lone_array=False)
            states_f, states_b = states[:n], states[n:]
        else:
            states_f = states_b = None  # type: ignore[assignment]
        out_f, out_b = _both(
            lambda threads: self.forward_layer._run(x, states_f, lengths, training, threads),
            lambda threads: self.backward_layer._run(x, states_b, lengths, training, threads),
        )
        (y_f, *finals_f) = out_f if self.return_state else [out_f]
        (y_b, *finals_b) = out_b if self.return_state else [out_b]
        lengths_arr = None
        if self.return_sequences:
            if lengths is not None:
                time_axis = 0 if self.time_major else 1
                lengths_arr = as_lengths(lengths, y_b.shape[1 - time_axis], y_b.shape[time_axis])
            y_b = _reverse_within_lengths(y_b, lengths_arr, self.time_major)
        if training:
            self._last = {"y_f": y_f, "y_b": y_b, "lengths": lengths_arr}
        merged = self._merge(y_f, y_b)
        outputs = merged if isinstance(merged, list) else [merged]
        if not self.return_state:
            return merged
        return [*outputs, *finals_f, *finals_b]

    def _merge(self, y_f: np.ndarray, y_b: np.ndarray) -> np.ndarray | list[np.ndarray]:
        if self.merge_mode == "concat":
            return np.concatenate([y_f, y_b], axis=-1)
        if self.merge_mode == "sum":
            return y_f + y_b
        if self.merge_mode == "mul":
            return y_f * y_b
        if self.merge_mode == "ave":
            return (y_f + y_b) * y_f.dtype.type(0.5)
        return [y_f, y_b]

    # ---- backward -----------------------------------------------------------------------------------------------
    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the last ``training=True`` call.

        Parameters
        ----------
        d_out : array_like or list
            dL/d(output of that call), with the structure of the output: one array of the merged output's shape
            or, with merge_mode=None or return_state, a list like the output whose entries may be None (zeros).

        Returns
        -------
        dict
            ``"x"``: dL/dx, the sum of the two directions'; ``"initial_state"``: the forward layer's state
            gradients, then the backward layer's; and "forward/<name>", "backward/<name>" for every weight.

        Raises
        ------
        ValueError
            If there was no ``training=True`` call (or ``set_weights`` came after it), or an entry of `d_out`
            has the wrong shape.
        TypeError
            If `d_out` does not have the output's structure.

        Examples
        --------
        >>> layer = rf.Bidirectional(rf.GRU(3, seed=0))
        >>> y = layer(np.ones((2, 4, 5)), training=True)
        >>> grads = layer.backward(np.ones_like(y))
        >>> grads["x"].shape, grads["forward/kernel"].shape, len(grads["initial_state"])
        ((2, 4, 5), (5, 9), 2)
        """
        if self._last is None:
            raise ValueError("backward() needs a preceding call with training=True (and no set_weights since)")
        y_f, y_b = self._last["y_f"], self._last["y_b"]
        n_out = 2 if self.merge_mode is None else 1
        n = self.forward_layer._state_count
        if self.return_state or self.merge_mode is None:
            expected = n_out + (2 * n if self.return_state else 0)
            parts = self._array_list(d_out, expected, "d_out", "(or None) like the output", lone_array=False,
                                     wrong_length=TypeError)
        else:
            parts = [d_out]
        d_merged, d_states = parts[:n_out], parts[n_out:]
        d_f, d_b = self._unmerge(d_merged, y_f, y_b)
        if self.return_sequences and d_b is not None:
            d_b = _reverse_within_lengths(np.asarray(d_b, dtype=y_b.dtype), self._last["lengths"], self.time_major)

        def direction(layer: _SequenceLayer, d_y: Any, d_st: list[Any]) -> Callable[[int], dict[str, Any]]:
            if d_y is None:
                d_y = np.zeros_like(y_f)
            return lambda threads: layer._backward([d_y, *d_st] if self.return_state else d_y, threads)

        g_f, g_b = _both(direction(self.forward_layer, d_f, d_states[:n]),
                         direction(self.backward_layer, d_b, d_states[n:]))
        grads: dict[str, Any] = {"x": g_f["x"] + g_b["x"], "initial_state": [*g_f["initial_state"],
                                                                                *g_b["initial_state"]]}
        for prefix, g in (("forward", g_f), ("backward", g_b)):
            grads.update({f"{prefix}/{k}": v for k, v in g.items() if k not in ("x", "initial_state")})
        return grads

    def _unmerge(self, d_merged: list[Any], y_f: np.ndarray, y_b: np.ndarray) -> tuple[Any, Any]:
        """Gradients reaching each direction's output from the merged output's."""
        if self.merge_mode is None:
            for name, d in zip(("d_out[0] (forward)", "d_out[1] (backward)"), d_merged):
                if d is not None and np.shape(d) != y_f.shape:
                    raise ValueError(f"{name} must have shape {y_f.shape} like that output, got {np.shape(d)}")
            return d_merged[0], d_merged[1]
        d = d_merged[0]
        if d is None:
            return None, None
        d = np.asarray(d, dtype=y_f.dtype)
        expected = (*y_f.shape[:-1], 2 * y_f.shape[-1]) if self.merge_mode == "concat" else y_f.shape
        if d.shape != expected:
            raise ValueError(f"d_out must have shape {expected} like the output, got {d.shape}")
        if self.merge_mode == "concat":
            units = y_f.shape[-1]
            return d[..., :units], d[..., units:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "mul":
            return d * y_b, d * y_f
        half = d * d.dtype.type(0.5)
        return half, half

    # ---- in a model ------------------------------------------------------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the merged output (of each direction's output for merge_mode=None; without the states of
        return_state) for an input of `input_shape`.

        Parameters
        ----------
        input_shape : tuple of int or None
            (batch, time, features), or (time, batch, features) when time_major; None for a size not known.

        Returns
        -------
        tuple of int or None
            As the wrapped layer's, with 2·units features for merge_mode="concat".

        Examples
        --------
        >>> rf.Bidirectional(rf.LSTM(4, return_sequences=True)).compute_output_shape((None, 10, 3))
        (None, 10, 8)
        """
        shape = self.forward_layer.compute_output_shape(input_shape)
        return (*shape[:-1], 2 * self.units) if self.merge_mode == "concat" else shape

    def check_stackable(self) -> None:
        """Check that the layer can be one layer of a Sequential model.

        Raises
        ------
        ValueError
            If the wrapped layer has return_state=True or time_major=True.
        """
        self.forward_layer.check_stackable()

    def call_in_model(self, x: Any, lengths: Any, training: bool) -> Any:
        """The layer's call inside a Sequential model: ``layer(x, lengths=lengths, training=training)``.

        Parameters
        ----------
        x : array_like
            The previous layer's output (or the model's input), (batch, time, features).
        lengths : array_like or None
            The sequences' lengths, (batch,), or None.
        training : bool
            Whether the call is a training call.

        Returns
        -------
        numpy.ndarray
            The merged output.
        """
        return self(x, lengths=lengths, training=training)

    def step(self, x_t: Any) -> Any:
        """Not available: a Bidirectional layer cannot run one step at a time (its backward direction starts at
        the end of the sequence).

        Parameters
        ----------
        x_t : array_like
            The step's input (unused).

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError("a Bidirectional layer cannot run one step at a time (its backward direction starts at "
                         "the end of the sequence)")
