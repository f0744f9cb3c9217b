"""Layer: what every rnnfast layer offers, and what a Sequential model drives its layers through.

A layer owns its weights (a dict of arrays in Keras layouts), runs forward with ``layer(x, training=...)`` and
backward with ``layer.backward(d_out)`` for its last training call, and describes itself with a config:
``type(layer).from_config(layer.get_config())`` makes a layer with the same options (and fresh weights).
Pickling and ``copy.deepcopy`` copy a layer whole: options, weights, the carried states and the dropout
generator, so a copy predicts exactly as its original; a copy has no pending backward.

The argument checks that several layers share (state lists, d_out lists, weight dicts) live here too.
"""

from __future__ import annotations

import collections
import functools
import inspect
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Union

import numpy as np

from .._registry import register
from .._validation import as_float_array, check_dtype, check_int, check_shape

Shape = tuple["int | None", ...]
Output = Union[np.ndarray, list]  # an array, or a list of them (return_state, merge_mode=None)
_NAMES_GIVEN: collections.Counter[str] = collections.Counter()
_NAMES_LOCK = threading.Lock()


def _unpickled(cls: type) -> Any:
    """An empty layer of `cls` for pickle and copy to give its state (Layer.__setstate__)."""
    return object.__new__(cls)


class Layer:
    """Base class of every rnnfast layer: the protocol a Sequential model drives its layers through.

    A layer owns its weights, a dict of arrays by name in Keras' layouts: ``get_weights()`` returns copies,
    ``set_weights(weights)`` replaces them, ``trainable_weights`` holds the live arrays (an optimiser updates them
    in place, then calls ``weights_updated()``) and ``count_params()`` counts their values. A layer runs forward
    with ``layer(x, training=False)`` and backward with ``layer.backward(d_out)``, for its last ``training=True``
    call; ``step(x_t)`` and ``reset_step()`` run it one time step at a time, ``reset_states()`` zeros the states
    a stateful layer carries, and ``compute_output_shape(input_shape)`` gives the shape of its output. A config
    describes its options: ``type(layer).from_config(layer.get_config())`` makes a layer with the same options and
    fresh weights.

    Layers are named as Keras names them: the class in snake case, numbered from the second layer of a class made
    in the process ("lstm", "lstm_1", ...). Pickling and ``copy.deepcopy`` copy a layer whole (options, weights,
    carried states and the dropout generator), so a copy predicts exactly as its original; a copy keeps its
    original's name and has no pending backward.

    Layer takes no arguments. The members a layer defines (``built``, ``build``, ``trainable_weights``,
    ``set_weights``, ``get_config``, the call, ``backward`` and ``compute_output_shape``) raise
    NotImplementedError here; the others work on top of them.

    Examples
    --------
    >>> layer = rf.Dense(2, input_size=3, seed=0)
    >>> isinstance(layer, rf.Layer)
    True
    >>> {name: w.shape for name, w in layer.get_weights().items()}
    {'kernel': (3, 2), 'bias': (2,)}
    >>> layer.count_params()
    8
    >>> layer(np.ones((4, 3))).shape
    (4, 2)
    >>> twin = type(layer).from_config(layer.get_config())
    >>> twin.get_config() == layer.get_config()
    True
    """

    _name: str
    # Whether a call carries its final states into the next one (recurrent layers; see reset_states).
    stateful: bool = False
    # Whether the layer has states that calls can carry (set stateful to carry them).
    carries_state: ClassVar[bool] = False
    # Whether the layer needs whole sequences at once (a Bidirectional's backward direction starts at the end).
    needs_whole_sequence: ClassVar[bool] = False
    # Config entries whose default is not the constructor's own (an activation of None is "linear").
    _config_defaults: ClassVar[dict[str, Any]] = {}
    # Attributes that are not pickled: C++ objects, rebuilt by _restore().
    _transient: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__.split(".")[0] == "rnnfast" and not cls.__name__.startswith("_"):
            register(cls)  # rnnfast's own layers, for configs and model files

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        layer = super().__new__(cls)
        # Keras' names: the class in snake case, numbered from the second layer of a class in this process.
        base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls.__name__).lower()
        with _NAMES_LOCK:
            count = _NAMES_GIVEN[base]
            _NAMES_GIVEN[base] += 1
        layer._name = base if count == 0 else f"{base}_{count}"
        return layer

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # A copy is made without __new__, so that it keeps its original's name and takes no new one.
        return _unpickled, (type(self),), self.__getstate__()

    @property
    def name(self) -> str:
        """str: The layer's name, as Keras gives one.

        The class in snake case, numbered from the second layer of a class made in the process ("lstm",
        "lstm_1", ...). A pickled or deep copy keeps its original's name.

        Examples
        --------
        >>> rf.SimpleRNN(4).name.startswith("simple_rnn")
        True
        """
        return self._name

    # ---- what a layer defines ---------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """bool: Whether the layer has its weights (True once an input_size argument, ``build``,
        ``set_weights`` or a first call has created them)."""
        raise NotImplementedError

    def build(self, input_size: int) -> None:
        """Create the layer's weights for inputs of `input_size` features.

        A layer builds itself at its first call, from the last axis of x; call ``build`` to have the weights
        before that.

        Parameters
        ----------
        input_size : int
            The number of input features (the last axis of x), at least 1.
        """
        raise NotImplementedError

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The live weight arrays by name, in Keras' layout, of the layer's dtype.

        {} before the layer is built.

        An optimiser changes them in place and must then call ``weights_updated()``.
        """
        raise NotImplementedError

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace all of the layer's weights.

        Parameters
        ----------
        weights : Mapping[str, array_like]
            Exactly the names and shapes of ``get_weights()``. The arrays are copied, converted to the layer's
            dtype.

        Raises
        ------
        TypeError
            If `weights` is not a dict (a Mapping).
        ValueError
            If a name is missing or unexpected, or an array has the wrong shape.
        """
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments, input_size included.

        Returns
        -------
        dict
            JSON-serialisable; ``type(layer).from_config(config)`` makes a layer with the same options.
        """
        raise NotImplementedError

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """The layer's output for `x`.

        Parameters
        ----------
        x : array_like
            The input (its shape depends on the layer).
        *args, **kwargs
            The layer's call arguments; ``training=True`` keeps what ``backward`` needs.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            The layer's output.
        """
        raise NotImplementedError

    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the layer's last ``training=True`` call.

        Parameters
        ----------
        d_out : array_like or list
            dL/d(output) of that call, with the structure and shapes of its output.

        Returns
        -------
        dict
            ``{"x": dL/dx, <weight name>: dL/d(weight), ...}``, one entry per name of ``get_weights()``;
            ``"x"`` is None for integer ids (Embedding).

        Raises
        ------
        ValueError
            If there was no ``training=True`` call (or ``set_weights`` came after it), or `d_out` has the wrong
            shape.
        """
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the layer's output for an input of `input_shape`.

        Parameters
        ----------
        input_shape : tuple of int or None
            The input's shape; None for a size not known (the batch size, say).

        Returns
        -------
        tuple of int or None
            The output's shape, with None where the input's size is not known.
        """
        raise NotImplementedError

    @property
    def input_shape(self) -> Shape | None:
        """tuple or None: The shape of the input the layer takes, None for the batch and time sizes.

        (None, None, features) for sequences, or None while the number of features is not known (an unbuilt
        layer).

        Examples
        --------
        >>> rf.LSTM(4).input_shape is None
        True
        >>> rf.LSTM(4, input_size=3).input_shape
        (None, None, 3)
        """
        size = getattr(self, "input_size", None)
        return None if size is None else (None, None, size)

    # ---- what layers share ------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """Make a layer with the options of `config`, and fresh weights.

        Parameters
        ----------
        config : Mapping[str, Any]
            A config as ``get_config()`` returns it: the constructor's keyword arguments.

        Returns
        -------
        Layer
            A new layer of the class: built (fresh weights from its seed) when the config gives an input size,
            else unbuilt.

        Raises
        ------
        TypeError
            If `config` is not a dict (a Mapping), or holds an argument the constructor does not take.

        Examples
        --------
        >>> layer = rf.GRU(4, return_sequences=True, seed=0)
        >>> twin = rf.GRU.from_config(layer.get_config())
        >>> twin.return_sequences, twin.units, twin is layer
        (True, 4, False)
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        return cls(**config)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of the layer's weights.

        Returns
        -------
        dict[str, numpy.ndarray]
            The weights by name, in Keras' layout, of the layer's dtype ({} before the layer is built).

        Examples
        --------
        >>> {name: w.shape for name, w in rf.LSTM(2, input_size=3).get_weights().items()}
        {'kernel': (3, 8), 'recurrent_kernel': (2, 8), 'bias': (8,)}
        """
        return {k: v.copy() for k, v in self.trainable_weights.items()}

    def weights_updated(self) -> None:
        """Tell the layer that its ``trainable_weights`` were changed in place (as an optimiser step does).

        A layer without derived state (Dense, Embedding) needs nothing; the recurrent layers repack their weights
        for the engine.
        """

    def count_params(self) -> int:
        """The number of weight values.

        Returns
        -------
        int
            The total size of the weights (0 before the layer is built).

        Examples
        --------
        >>> rf.Dense(2, input_size=3).count_params()  # kernel 3·2, bias 2
        8
        """
        return sum(int(v.size) for v in self.trainable_weights.values())

    def step(self, x_t: Any) -> Any:
        """One time step of the layer.

        A layer without state maps a step's input as it maps every step of a sequence; the recurrent layers
        carry their state from step to step.

        Parameters
        ----------
        x_t : array_like
            One step's input, (batch, features).

        Returns
        -------
        numpy.ndarray
            The step's output, (batch, units).

        Examples
        --------
        >>> rf.Dense(2, input_size=3).step(np.ones((1, 3))).shape
        (1, 2)
        """
        return self(x_t)

    def reset_step(self) -> None:
        """Zero the state ``step()`` carries (a layer without state has none: nothing happens)."""

    def reset_states(self) -> None:
        """Zero the states a stateful layer carries from call to call (a layer without state has none)."""

    def check_stackable(self) -> None:
        """Check that the layer can be one layer of a Sequential model.

        Raises
        ------
        ValueError
            If it cannot (a recurrent layer with return_state=True or time_major=True).
        """

    def call_in_model(self, x: Any, lengths: Any, training: bool) -> Any:
        """The layer's call inside a Sequential model, which passes every layer the sequences' lengths.

        Parameters
        ----------
        x : array_like
            The output of the previous layer (or the model's input).
        lengths : array_like or None
            The sequences' lengths, (batch,), or None; the recurrent layers use them, the others ignore them.
        training : bool
            Whether the call is a training call (see the layer's call).

        Returns
        -------
        numpy.ndarray
            The layer's output.
        """
        return self(x, training=training)

    def step_in_model(self, x_t: Any) -> Any:
        """The layer's ``step()`` inside a Sequential model's ``step()``.

        Parameters
        ----------
        x_t : array_like
            The previous layer's output for this step (or the model's input), (batch, features).

        Returns
        -------
        numpy.ndarray
            The layer's output for this step.

        Raises
        ------
        ValueError
            Where the layer cannot run one step at a time (Bidirectional, go_backwards, a NumPy cell).
        """
        return self.step(x_t)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_arguments(self.get_config()))})"

    def _repr_arguments(self, config: Mapping[str, Any]) -> list[str]:
        """The required arguments of `config`, then those of its options that differ from their defaults."""
        positional, defaults = _constructor_arguments(type(self))  # type: ignore[arg-type]
        defaults = {**defaults, **self._config_defaults}
        args = [repr(config[name]) for name in positional if name in config]
        args += [f"{k}={v!r}" for k, v in config.items()
                 if k not in positional and not (k in defaults and _same(defaults[k], v))]
        return args

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._transient}
        if "_last" in state:
            state["_last"] = None  # the engine's record of a training call stays with the original
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._restore()

    def _restore(self) -> None:
        """Rebuilds the transient attributes of an unpickled layer."""

    # ---- argument checks several layers share -----------------------------------------------------------------
    @staticmethod
    def _array_list(value: Any, count: int, name: str, what: str, lone_array: bool = True,
                    wrong_length: type[Exception] = ValueError, wrong_type: type[Exception] = TypeError) -> list[Any]:
        """`value` as a list of `count` entries, `what` describing them: `wrong_type` for anything but a list (an
        array counts as a list of one where count is 1 and lone_array), `wrong_length` for another length."""
        if isinstance(value, np.ndarray) and count == 1 and lone_array:
            return [value]
        if isinstance(value, np.ndarray) or not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise wrong_type(f"{name} must be a list of {count} array(s) {what}, got {type(value).__name__}")
        if len(value) != count:
            raise wrong_length(f"{name} must hold {count} array(s) {what}, got {len(value)}")
        return list(value)

    def _checked_weights(self, weights: Any, shapes: Mapping[str, tuple[int, ...]],
                         dtype: np.dtype) -> dict[str, np.ndarray]:
        """Copies of `weights` (exactly the names of `shapes`, each of its shape) as C-contiguous `dtype`."""
        if not isinstance(weights, Mapping):
            raise TypeError(f"set_weights expects a dict of arrays, got {type(weights).__name__}")
        missing = sorted(set(shapes) - set(weights))
        unknown = sorted(map(str, set(weights) - set(shapes)))
        if missing or unknown:
            raise ValueError(
                f"set_weights expects exactly the keys {sorted(shapes)}; missing {missing}, unexpected {unknown}"
            )
        converted = {}
        for name, shape in shapes.items():
            arr = as_float_array(weights[name], name, dtype)
            check_shape(arr, shape, name)
            converted[name] = arr.copy()
        return converted


def _same(a: Any, b: Any) -> bool:
    """Equal as config values: True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


@functools.cache
def _constructor_arguments(cls: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The required arguments of cls(...) in order, and the defaults of the others (from the constructors of its
    classes, the subclass's first: a subclass passes the rest on as **kwargs)."""
    positional: list[str] = []
    defaults: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for i, p in enumerate(inspect.signature(init).parameters.values()):
            if i == 0 or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if p.default is p.empty:
                if klass is cls and p.kind is not p.KEYWORD_ONLY:
                    positional.append(p.name)
            else:
                defaults.setdefault(p.name, p.default)
    return tuple(positional), defaults


class _SequenceLayer(Layer):
    """What the layers that run a cell over sequences share (the built-in recurrent layers and RNN): the options
    return_sequences, return_state, go_backwards, stateful and time_major, the carried states, and the parsing
    of initial_state and d_out. Subclasses set units, those options, _states and _state_count."""

    units: int
    input_size: int | None
    dtype: np.dtype
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    time_major: bool
    _states: list[np.ndarray] | None
    _state_count: int = 1  # h, or h and c
    carries_state = True
    check_finite: bool = False  # refuse NaN and infinity in the arrays a call is given

    def _set_sequence_options(self, return_sequences: bool, return_state: bool, go_backwards: bool, stateful: bool,
                              time_major: bool, seed: int | None, dtype: Any) -> None:
        """The options every sequence layer takes, checked; the layer starts unbuilt, with no carried state."""
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.time_major = bool(time_major)
        if seed is not None:
            check_int(seed, "seed", 0)
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.input_size = None
        self._states = None
        self._last: dict[str, Any] | None = None

    def _state_names(self) -> list[str]:
        return ["h", "c"][: self._state_count]

    def __call__(self, x: Any, initial_state: Any = None, lengths: Any = None, training: bool = False) -> Output:
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        x : array_like
            The sequences, (batch, time, features), or (time, batch, features) when time_major; any real dtype
            and memory layout, converted to the layer's dtype. The first call builds an unbuilt layer for
            x's features.
        initial_state : list of array_like or None, default None
            The states to start from, one (batch, state size) array per state of the cell (a lone array where
            it has one state). None: zeros, or the states a stateful layer carries from its previous call.
        lengths : array_like or None, default None
            The number of valid steps of each sequence, (batch,) integers in [0, time]. The valid steps must
            come first in each row (padding at the end): outputs past a sequence's length are zero, and the
            state returned (and carried by a stateful layer) is the state at its last valid step. None: every
            sequence has all time steps.
        training : bool, default False
            Keep what ``backward()`` needs.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            With return_sequences, the output of every step, (batch, time, units) ((time, batch, units) when
            time_major); else the last output, (batch, units). With return_state, a list: that output, then the
            final states, (batch, state size) each.

        Raises
        ------
        ValueError
            For an argument of the wrong shape or size, lengths out of range, or a stateful layer's carried
            states for another batch size.
        TypeError
            For an argument that is not a real (numeric) array.
        """
        return self._run(x, initial_state, lengths, training)

    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the layer's last ``training=True`` call.

        Parameters
        ----------
        d_out : array_like or list
            dL/d(output of that call), with the structure of the output: one array of its shape or, with
            return_state, a list ``[d_out, d_state, ...]`` of one entry per returned array, an entry None
            standing for zeros.

        Returns
        -------
        dict
            ``"x"``: dL/dx, of x's shape; ``"initial_state"``: a list, dL/d(each initial state), (batch, state
            size); and dL/d(weight) for every name of ``get_weights()``. The weight gradients are those of that
            call alone (not accumulated).

        Raises
        ------
        ValueError
            If there was no ``training=True`` call (or ``set_weights`` came after it), or an entry of `d_out`
            has the wrong shape.
        TypeError
            If `d_out` does not have the output's structure.
        """
        return self._backward(d_out)

    def _run(self, x: Any, initial_state: Any, lengths: Any, training: bool, max_threads: int = 0) -> Output:
        """__call__ with at most max_threads threads (0: as many as the pool and the shapes allow)."""
        raise NotImplementedError

    def _backward(self, d_out: Any, max_threads: int = 0) -> dict[str, Any]:
        """backward with at most max_threads threads (0: as many as the pool and the shapes allow)."""
        raise NotImplementedError

    @property
    def dropout_masks(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The dropout masks of the last training call ({} without dropout)."""
        return {}

    @property
    def states(self) -> list[np.ndarray] | None:
        """list of numpy.ndarray or None: The states a stateful layer carries into its next call (copies).

        A list of (batch, state size) arrays, [h] or [h, c] for LSTM, of the layer's dtype.

        None before a stateful layer's first call, after ``reset_states()``, and always for a layer with
        stateful=False.

        Examples
        --------
        >>> layer = rf.GRU(3, stateful=True, seed=0)
        >>> layer.states is None
        True
        >>> _ = layer(np.ones((2, 5, 4)))
        >>> [s.shape for s in layer.states]
        [(2, 3)]
        """
        return None if self._states is None else [s.copy() for s in self._states]

    def reset_states(self) -> None:
        """Forget the states a stateful layer carries: its next call starts from zeros (or its initial_state),
        with any batch size, as Keras' ``reset_states``.

        Examples
        --------
        >>> layer = rf.SimpleRNN(3, stateful=True, seed=0)
        >>> _ = layer(np.ones((2, 5, 4)))
        >>> layer.reset_states()
        >>> layer.states is None
        True
        """
        self._states = None

    def _checked_input(self, x: Any) -> tuple[np.ndarray, int, int]:
        """x as an array of the layer's dtype with its batch and time sizes (the layer built on first use)."""
        x = as_float_array(x, "x", self.dtype)
        layout = "(time, batch, features)" if self.time_major else "(batch, time, features)"
        if x.ndim != 3:
            raise ValueError(f"x must be 3-D {layout}, got shape {x.shape}")
        if not self.built:
            if x.shape[2] < 1:
                raise ValueError(f"x must have at least one feature, got shape {x.shape}")
            self.build(x.shape[2])
        if x.shape[2] != self.input_size:
            raise ValueError(f"x must have {self.input_size} features (the layer's input_size), got shape {x.shape}")
        batch, time = (x.shape[1], x.shape[0]) if self.time_major else (x.shape[0], x.shape[1])
        return x, batch, time

    def _carried_states(self, batch: int) -> list[np.ndarray] | None:
        """The states a call without initial_state starts from: a stateful layer's carried ones, else None."""
        if not (self.stateful and self._states is not None):
            return None
        if self._states[0].shape[0] != batch:
            raise ValueError(f"stateful layer carries states for batch {self._states[0].shape[0]}, got a batch of "
                             f"{batch}; call reset_states() first")
        return self._states

    def _state_list(self, initial_state: Any) -> list[Any]:
        """A given initial_state as a list of the layer's states (unchecked entries)."""
        return self._array_list(initial_state, self._state_count, "initial_state", str(self._state_names()))

    def _output_shape(self, batch: int, time: int) -> tuple[int, ...]:
        if not self.return_sequences:
            return (batch, self.units)
        return (time, batch, self.units) if self.time_major else (batch, time, self.units)

    def _state_sizes(self) -> list[int]:
        return [self.units] * self._state_count

    def _require_finite(self, arr: np.ndarray, name: str) -> None:
        """ValueError for NaN or infinity where the layer has check_finite=True."""
        if self.check_finite and not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or infinity (the layer has check_finite=True)")

    def _given_states(self, initial_state: Any, batch: int) -> list[np.ndarray]:
        """A given initial_state checked: one (batch, state size) array per state, of the layer's dtype."""
        states = []
        for name, size, s in zip(self._state_names(), self._state_sizes(), self._state_list(initial_state)):
            arr = as_float_array(s, f"initial_state ({name})", self.dtype)
            check_shape(arr, (batch, size), f"initial_state ({name})", "(batch, state size)")
            self._require_finite(arr, f"initial_state ({name})")
            states.append(arr)
        return states

    def _checked_d_out(self, d_out: Any, batch: int, time: int) -> list[np.ndarray | None]:
        """d_out as [d_out, d_h(, d_c)] for a call of `batch` sequences of `time` steps: arrays of the layer's
        dtype and the output's shapes, None where not given."""
        names = ["d_out", *(f"d_{s}" for s in self._state_names())]
        if self.return_state:
            parts = self._array_list(d_out, len(names), "d_out", f"{names} (the layer returns its states)",
                                     lone_array=False, wrong_length=TypeError)
        else:
            parts = [d_out] + [None] * self._state_count
        shapes = [self._output_shape(batch, time), *((batch, size) for size in self._state_sizes())]
        checked: list[np.ndarray | None] = []
        for name, part, shape in zip(names, parts, shapes):
            if part is None:
                checked.append(None)
                continue
            arr = as_float_array(part, name, self.dtype)
            check_shape(arr, shape, name)
            self._require_finite(arr, name)
            checked.append(arr)
        return checked

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the layer's output (without the states of return_state) for an input of `input_shape`.

        Parameters
        ----------
        input_shape : tuple of int or None
            (batch, time, features), or (time, batch, features) when time_major; None for a size not known.

        Returns
        -------
        tuple of int or None
            (batch, time, units) ((time, batch, units) when time_major) with return_sequences, else
            (batch, units).

        Raises
        ------
        ValueError
            If `input_shape` does not have 3 entries.

        Examples
        --------
        >>> rf.LSTM(8, return_sequences=True).compute_output_shape((None, 20, 3))
        (None, 20, 8)
        >>> rf.LSTM(8).compute_output_shape((None, 20, 3))
        (None, 8)
        """
        if len(input_shape) != 3:
            raise ValueError(f"a recurrent layer takes 3-D input, got the shape {input_shape}")
        if not self.return_sequences:
            return (input_shape[1] if self.time_major else input_shape[0], self.units)
        return (*input_shape[:2], self.units)

    def check_stackable(self) -> None:
        """Check that the layer can be one layer of a Sequential model.

        Raises
        ------
        ValueError
            If the layer has return_state=True or time_major=True (a model passes one batch-major array from
            layer to layer).
        """
        if self.return_state or self.time_major:
            raise ValueError("a recurrent layer in a Sequential model must have return_state=False and "
                             "time_major=False")

    def call_in_model(self, x: Any, lengths: Any, training: bool) -> Any:
        """The layer's call inside a Sequential model: ``layer(x, lengths=lengths, training=training)``.

        Parameters
        ----------
        x : array_like
            The previous layer's output (or the model's input), (batch, time, features).
        lengths : array_like or None
            The sequences' lengths, (batch,), or None (see the layer's call).
        training : bool
            Whether the call is a training call (see the layer's call).

        Returns
        -------
        numpy.ndarray
            The layer's output.
        """
        return self(x, lengths=lengths, training=training)

    def step_in_model(self, x_t: Any) -> Any:
        """The layer's ``step()`` inside a Sequential model's ``step()``.

        Parameters
        ----------
        x_t : array_like
            The previous layer's output for this step (or the model's input), (batch, features).

        Returns
        -------
        numpy.ndarray
            The new h, (batch, units).

        Raises
        ------
        ValueError
            For a go_backwards layer (its first step reads the end of the sequence), or a layer without
            ``step()`` (an RNN of a NumPy cell).
        """
        if self.go_backwards:
            raise ValueError("a go_backwards layer cannot run one step at a time")
        return self.step(x_t)
