"""The non-recurrent layers of a model: Dense, TimeDistributed and Embedding, with their backward passes.

They follow the Layer protocol (layers/base.py): `layer(x, training=False)`, `layer.backward(d_out)` for the last
training call (returning {"x", and a gradient per weight name}), get_weights/set_weights in Keras layouts.
Their arithmetic is one NumPy matrix product per call (over every batch row and time step at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .._initializers import glorot_uniform
from .._registry import deserialize, serialize
from .._validation import as_float_array, check_choice, check_dtype, check_int, check_shape
from .base import Layer, Shape

ACTIVATIONS = ("linear", "tanh", "relu", "sigmoid", "softmax")


def _activate(name: str, a: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.maximum(a, 0)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * a))  # stable for any a
    if name == "softmax":
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return a


def _activation_backward(name: str, y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """dL/d(pre-activation) from the activation's output y and dL/dy."""
    if name == "tanh":
        return d * (1 - y * y)
    if name == "relu":
        return np.where(y > 0, d, 0)
    if name == "sigmoid":
        return d * y * (1 - y)
    if name == "softmax":
        return y * (d - (d * y).sum(axis=-1, keepdims=True))
    return d


class _WeightedLayer(Layer):
    """Weights in a dict of arrays, Keras-style get/set, and the bookkeeping of the last training call."""

    def __init__(self, seed: int | None, dtype: Any) -> None:
        if seed is not None:
            check_int(seed, "seed", 0)
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self._weights: dict[str, np.ndarray] = {}
        self._last: dict[str, Any] | None = None

    def _weight_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    @property
    def built(self) -> bool:
        """bool: Whether the layer has its weights."""
        return bool(self._weights)

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The live weight arrays by name, in Keras' layout, of the layer's dtype.

        {} before the layer is built. An optimiser changes them in place, then calls ``weights_updated()``.
        """
        return self._weights

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace all of the layer's weights; drops the pending backward.

        Parameters
        ----------
        weights : Mapping[str, array_like]
            Exactly the names and shapes of ``get_weights()``; the arrays are copied, converted to the layer's
            dtype. An unbuilt Dense layer takes its input size from ``weights["kernel"].shape[0]``.

        Raises
        ------
        TypeError
            If `weights` is not a dict (a Mapping), or holds non-numeric arrays.
        ValueError
            If a name is missing or unexpected, or an array has the wrong shape.

        Examples
        --------
        >>> layer = rf.Dense(2)
        >>> layer.set_weights({"kernel": np.ones((3, 2)), "bias": np.zeros(2)})
        >>> layer.input_size, layer(np.ones((1, 3))).tolist()
        (3, [[3.0, 3.0]])
        """
        if not isinstance(weights, Mapping):
            raise TypeError(f"set_weights expects a dict of arrays, got {type(weights).__name__}")
        if not self.built:
            self._build_from(weights)
        self._weights = self._checked_weights(weights, self._weight_shapes(), self.dtype)
        self._last = None

    def _build_from(self, weights: Mapping[str, Any]) -> None:
        raise ValueError("set_weights needs a built layer: pass its input size or call it first")


class Dense(_WeightedLayer):
    """Densely connected layer, as Keras' Dense: y = act(x·W + b) over the last axis.

    x is (batch, features), or (batch, time, features) where every step is mapped alike (as Keras'
    ``TimeDistributed(Dense(...))``), and y has units features in place of features. The weights are the kernel
    W, (input_size, units), Glorot-uniform initialised from `seed`, and the bias b, (units,), zeros. The call is
    ``layer(x, training=False)``; ``training=True`` keeps what ``backward(d_out)`` needs.

    Parameters
    ----------
    units : int
        The number of output features (at least 1).
    activation : str or None, default None
        None or "linear" (no activation), "tanh", "relu", "sigmoid", or "softmax" (over the last axis).
    use_bias : bool, default True
        Whether the layer has a bias (without it the weights are the kernel alone).
    input_size : int or None, default None
        The number of input features: the layer is built at once. None: built at the first call (or by
        ``set_weights``), from the last axis of x.
    seed : int or None, default None
        Seed (an integer ≥ 0) of the kernel's initialisation; None: fresh randomness.
    dtype : str or numpy.dtype, default "float32"
        "float32" or "float64": the dtype of the weights, outputs and gradients (inputs are converted to it).

    Raises
    ------
    ValueError
        For units or input_size below 1, an unknown activation or dtype.
    TypeError
        For an argument of the wrong type.

    Examples
    --------
    >>> layer = rf.Dense(2, activation="softmax", input_size=3, seed=0)
    >>> y = layer(np.ones((4, 3)))
    >>> y.shape, y.dtype, bool(np.allclose(y.sum(axis=-1), 1))
    ((4, 2), dtype('float32'), True)
    >>> layer(np.ones((4, 10, 3))).shape  # every time step alike
    (4, 10, 2)
    >>> {name: w.shape for name, w in layer.get_weights().items()}
    {'kernel': (3, 2), 'bias': (2,)}
    """

    _config_defaults: ClassVar[dict[str, Any]] = {"activation": "linear"}

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 input_size: int | None = None, seed: int | None = None, dtype: Any = "float32") -> None:
        super().__init__(seed, dtype)
        self.units = check_int(units, "units", 1)
        self.activation = check_choice("linear" if activation is None else activation, "activation", ACTIVATIONS)
        self.use_bias = bool(use_bias)
        self.input_size: int | None = None
        if input_size is not None:
            self.build(check_int(input_size, "input_size", 1))

    def _weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {"kernel": (self.input_size, self.units)}  # type: ignore[dict-item]
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def build(self, input_size: int) -> None:
        """Create fresh weights for inputs of `input_size` features (Glorot-uniform kernel from the seed, zero
        bias); drops the pending backward.

        Parameters
        ----------
        input_size : int
            The number of input features (the last axis of x).
        """
        self.input_size = input_size
        rng = np.random.default_rng(self.seed)
        weights = {"kernel": glorot_uniform(rng, (input_size, self.units))}
        if self.use_bias:
            weights["bias"] = np.zeros(self.units)
        self._weights = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in weights.items()}
        self._last = None

    def _build_from(self, weights: Mapping[str, Any]) -> None:
        if "kernel" not in weights or np.ndim(weights["kernel"]) != 2:
            raise ValueError(f"set_weights needs a 2-D kernel (input_size, {self.units}) to build the layer")
        self.build(int(np.shape(weights["kernel"])[0]))

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            units, activation (None as "linear"), use_bias, input_size, seed and dtype (its name),
            JSON-serialisable: ``rf.Dense.from_config(config)`` makes a layer with the same options.

        Examples
        --------
        >>> rf.Dense(2).get_config()
        {'units': 2, 'activation': 'linear', 'use_bias': True, 'input_size': None, 'seed': None, 'dtype': 'float32'}
        """
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "input_size": self.input_size, "seed": self.seed, "dtype": self.dtype.name}

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """Apply the layer to `x`.

        Parameters
        ----------
        x : array_like
            (batch, features) or (batch, time, features), any real dtype, converted to the layer's dtype. The
            first call builds an unbuilt layer for x's features.
        training : bool, default False
            Keep what ``backward()`` needs (a reference to x, not a copy: do not modify x in place before
            ``backward()``).

        Returns
        -------
        numpy.ndarray
            act(x·W + b): x's shape with units in place of features, of the layer's dtype.

        Raises
        ------
        ValueError
            If x is not 2-D or 3-D, or has another number of features than the layer's input_size.
        TypeError
            If x is not a real (numeric) array.
        """
        x = as_float_array(x, "x", self.dtype)
        if x.ndim not in (2, 3):
            raise ValueError(f"x must be (batch, features) or (batch, time, features), got shape {x.shape}")
        if not self.built:
            self.build(x.shape[-1])
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x must have {self.input_size} features (the layer's input_size), got {x.shape}")
        a = x @ self._weights["kernel"]
        if self.use_bias:
            a += self._weights["bias"]
        y = _activate(self.activation, a).astype(self.dtype, copy=False)
        if training:
            self._last = {"x": x, "y": y}
        return y

    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the last ``training=True`` call.

        Parameters
        ----------
        d_out : array_like
            dL/d(output of that call), of the output's shape.

        Returns
        -------
        dict
            ``"x"``: dL/dx, of x's shape; ``"kernel"``: dL/dW, (input_size, units), summed over the batch rows
            and time steps; ``"bias"``: dL/db, (units,) (with use_bias). All of the layer's dtype.

        Raises
        ------
        ValueError
            If there was no ``training=True`` call (or ``set_weights`` came after it), or `d_out` has the wrong
            shape.

        Examples
        --------
        >>> layer = rf.Dense(2, input_size=3, seed=0)
        >>> y = layer(np.ones((4, 3)), training=True)
        >>> grads = layer.backward(np.ones_like(y))
        >>> {name: g.shape for name, g in grads.items()}
        {'x': (4, 3), 'kernel': (3, 2), 'bias': (2,)}
        >>> grads["bias"].tolist()  # one per batch row
        [4.0, 4.0]
        """
        if self._last is None:
            raise ValueError("backward() needs a preceding call with training=True (and no set_weights since)")
        x, y = self._last["x"], self._last["y"]
        d = as_float_array(d_out, "d_out", self.dtype)
        check_shape(d, y.shape, "d_out")
        da = _activation_backward(self.activation, y, d)
        flat_x, flat_da = x.reshape(-1, x.shape[-1]), da.reshape(-1, self.units)
        grads = {"x": (da @ self._weights["kernel"].T).astype(self.dtype, copy=False),
                 "kernel": (flat_x.T @ flat_da).astype(self.dtype, copy=False)}
        if self.use_bias:
            grads["bias"] = flat_da.sum(axis=0).astype(self.dtype, copy=False)
        return grads

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the output for an input of `input_shape`: the last axis becomes units.

        Parameters
        ----------
        input_shape : tuple of int or None
            (batch, features) or (batch, time, features); None for a size not known.

        Returns
        -------
        tuple of int or None
            `input_shape` with units in place of its last entry.

        Examples
        --------
        >>> rf.Dense(2).compute_output_shape((None, 10, 3))
        (None, 10, 2)
        """
        return (*input_shape[:-1], self.units)


class TimeDistributed(Layer):
    """Applies a Dense layer to every time step of (batch, time, features) sequences, as Keras'
    TimeDistributed(Dense(...)).

    Dense does so on 3-D input already; this wrapper is for code written for Keras. The call is
    ``layer(x, training=False)``; the weights, their names and the gradients are the inner layer's.

    Parameters
    ----------
    layer : Dense
        The layer to apply at every step (the layer itself, not a copy).

    Raises
    ------
    TypeError
        If `layer` is not a Dense layer.

    Examples
    --------
    >>> layer = rf.TimeDistributed(rf.Dense(2, seed=0))
    >>> layer(np.ones((4, 10, 3))).shape
    (4, 10, 2)
    >>> sorted(layer.get_weights())
    ['bias', 'kernel']
    """

    def __init__(self, layer: Dense) -> None:
        if not isinstance(layer, Dense):
            raise TypeError(f"TimeDistributed wraps a Dense layer, got {type(layer).__name__}")
        self.layer = layer

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TimeDistributed:
        """Make a TimeDistributed with the options of `config`, with fresh weights.

        Parameters
        ----------
        config : Mapping[str, Any]
            A config as ``get_config()`` returns it: ``{"layer": {"class": "Dense", "config": ...}}``.

        Returns
        -------
        TimeDistributed
            A new wrapper of a new Dense layer.

        Raises
        ------
        ValueError
            If `config` is not such a dict.
        """
        if not isinstance(config, Mapping) or set(config) != {"layer"}:
            raise ValueError(f"a TimeDistributed config is {{'layer': a serialized Dense}}, got {config!r}")
        return cls(deserialize(config["layer"]))

    def get_config(self) -> dict[str, Any]:
        """The wrapper's constructor argument.

        Returns
        -------
        dict
            ``{"layer": {"class": "Dense", "config": dense.get_config()}}``, JSON-serialisable.

        Examples
        --------
        >>> rf.TimeDistributed(rf.Dense(2)).get_config()["layer"]["class"]
        'Dense'
        """
        return {"layer": serialize(self.layer)}

    @property
    def built(self) -> bool:
        """bool: Whether the inner Dense layer has its weights."""
        return self.layer.built

    def build(self, input_size: int) -> None:
        """Create fresh weights for the inner Dense layer, for inputs of `input_size` features.

        Parameters
        ----------
        input_size : int
            The number of input features (the last axis of x).
        """
        self.layer.build(input_size)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """Apply the Dense layer to every time step of `x`.

        Parameters
        ----------
        x : array_like
            (batch, time, features).
        training : bool, default False
            Keep what ``backward()`` needs.

        Returns
        -------
        numpy.ndarray
            (batch, time, units), of the Dense layer's dtype.

        Raises
        ------
        ValueError
            If x is not 3-D (or as the Dense layer's call).
        """
        x_arr = np.asarray(x)
        if x_arr.ndim != 3:
            raise ValueError(f"TimeDistributed needs x of shape (batch, time, features), got {x_arr.shape}")
        return self.layer(x_arr, training=training)

    def step(self, x_t: Any) -> np.ndarray:
        """One time step: the Dense layer applied to a step's input.

        Parameters
        ----------
        x_t : array_like
            One step's input, (batch, features).

        Returns
        -------
        numpy.ndarray
            (batch, units), what the call gives at that step.

        Examples
        --------
        >>> rf.TimeDistributed(rf.Dense(2, input_size=3)).step(np.ones((1, 3))).shape
        (1, 2)
        """
        return self.layer.step(x_t)

    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the last ``training=True`` call, the Dense layer's.

        Parameters
        ----------
        d_out : array_like
            dL/d(output of that call), (batch, time, units).

        Returns
        -------
        dict
            ``{"x", "kernel", "bias"}``, as the Dense layer's ``backward``.

        Raises
        ------
        ValueError
            If there was no ``training=True`` call, or `d_out` has the wrong shape.
        """
        return self.layer.backward(d_out)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace the Dense layer's weights.

        Parameters
        ----------
        weights : Mapping[str, array_like]
            "kernel" (input_size, units) and, with use_bias, "bias" (units,), as the Dense layer's
            ``set_weights``.
        """
        self.layer.set_weights(weights)

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        """dict[str, numpy.ndarray]: The Dense layer's live weight arrays by name ({} before it is built)."""
        return self.layer.trainable_weights

    def weights_updated(self) -> None:
        """Tell the Dense layer that its ``trainable_weights`` were changed in place."""
        self.layer.weights_updated()

    @property
    def units(self) -> int:
        """int: The Dense layer's number of output features."""
        return self.layer.units

    @property
    def input_shape(self) -> Shape | None:
        """tuple or None: (None, None, features), or None before the Dense layer is built."""
        return self.layer.input_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the output for an input of `input_shape`.

        Parameters
        ----------
        input_shape : tuple of int or None
            (batch, time, features); None for a size not known.

        Returns
        -------
        tuple of int or None
            (batch, time, units).

        Raises
        ------
        ValueError
            If `input_shape` does not have 3 entries.
        """
        if len(input_shape) != 3:
            raise ValueError(f"TimeDistributed takes 3-D input (batch, time, features), got the shape {input_shape}")
        return self.layer.compute_output_shape(input_shape)

    def _repr_arguments(self, config: Mapping[str, Any]) -> list[str]:
        return [repr(self.layer)]


class Embedding(_WeightedLayer):
    """Turns integer ids into vectors, as Keras' Embedding: ids (batch, time) → (batch, time, output_dim).

    The weight is "embeddings", (input_dim, output_dim), row i the vector of id i, initialised as Keras'
    "uniform" (uniform in [-0.05, 0.05]) from `seed`; the layer is built at construction. The call is
    ``layer(x, training=False)``. There is no mask (Keras' mask_zero): pass per-sequence ``lengths`` to the
    model instead. Its ``backward`` has no gradient for the ids ("x" is None).

    Parameters
    ----------
    input_dim : int
        The number of ids (the vocabulary's size): ids lie in [0, input_dim).
    output_dim : int
        The size of each vector.
    seed : int or None, default None
        Seed (an integer ≥ 0) of the initialisation; None: fresh randomness.
    dtype : str or numpy.dtype, default "float32"
        "float32" or "float64": the dtype of the vectors and gradients.

    Raises
    ------
    ValueError
        For input_dim or output_dim below 1, or an unknown dtype.
    TypeError
        For an argument of the wrong type.

    Examples
    --------
    >>> layer = rf.Embedding(10, 4, seed=0)
    >>> ids = np.array([[1, 2, 3], [0, 0, 9]])
    >>> y = layer(ids)
    >>> y.shape, y.dtype
    ((2, 3, 4), dtype('float32'))
    >>> bool(np.array_equal(y[1, 2], layer.get_weights()["embeddings"][9]))
    True
    """

    def __init__(self, input_dim: int, output_dim: int, seed: int | None = None, dtype: Any = "float32") -> None:
        super().__init__(seed, dtype)
        self.input_dim = check_int(input_dim, "input_dim", 1)
        self.output_dim = check_int(output_dim, "output_dim", 1)
        rng = np.random.default_rng(self.seed)
        self._weights = {"embeddings": rng.uniform(-0.05, 0.05, (self.input_dim, self.output_dim)).astype(self.dtype)}

    def _weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"embeddings": (self.input_dim, self.output_dim)}

    @property
    def units(self) -> int:
        """int: The size of each vector, output_dim."""
        return self.output_dim

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments.

        Returns
        -------
        dict
            input_dim, output_dim, seed and dtype (its name), JSON-serialisable.

        Examples
        --------
        >>> rf.Embedding(10, 4).get_config()
        {'input_dim': 10, 'output_dim': 4, 'seed': None, 'dtype': 'float32'}
        """
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "seed": self.seed,
                "dtype": self.dtype.name}

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """The vectors of the ids `x`.

        Parameters
        ----------
        x : array_like
            Integer ids, (batch, time), in [0, input_dim) (floats holding whole numbers are accepted).
        training : bool, default False
            Keep the ids for ``backward()``.

        Returns
        -------
        numpy.ndarray
            (batch, time, output_dim), of the layer's dtype.

        Raises
        ------
        ValueError
            If x is not 2-D, or an id is out of range.
        TypeError
            If x does not hold integers.
        """
        ids = np.asarray(x)
        if ids.ndim != 2:
            raise ValueError(f"x must be integer ids of shape (batch, time), got shape {ids.shape}")
        if ids.dtype == np.bool_ or not (np.issubdtype(ids.dtype, np.integer) or not ids.size
                                         or (np.issubdtype(ids.dtype, np.number) and np.all(np.mod(ids, 1) == 0))):
            raise TypeError(f"x must hold integer ids, got dtype {ids.dtype}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(f"ids must be in [0, {self.input_dim}), got {ids.min()}..{ids.max()}")
        if training:
            self._last = {"ids": ids}
        return self._weights["embeddings"][ids]

    def backward(self, d_out: Any) -> dict[str, Any]:
        """Gradients of a scalar loss L for the last ``training=True`` call.

        Parameters
        ----------
        d_out : array_like
            dL/d(output of that call), (batch, time, output_dim).

        Returns
        -------
        dict
            ``"x"``: None (ids have no gradient); ``"embeddings"``: dL/d(embeddings), (input_dim, output_dim),
            the rows of d_out summed into the rows of their ids (zero for ids not seen).

        Raises
        ------
        ValueError
            If there was no ``training=True`` call (or ``set_weights`` came after it), or `d_out` has the wrong
            shape.

        Examples
        --------
        >>> layer = rf.Embedding(5, 2, seed=0)
        >>> y = layer(np.array([[1, 1, 3]]), training=True)
        >>> grads = layer.backward(np.ones_like(y))
        >>> grads["x"] is None, grads["embeddings"][:, 0].tolist()
        (True, [0.0, 2.0, 0.0, 1.0, 0.0])
        """
        if self._last is None:
            raise ValueError("backward() needs a preceding call with training=True (and no set_weights since)")
        ids = self._last["ids"]
        d = as_float_array(d_out, "d_out", self.dtype)
        check_shape(d, (*ids.shape, self.output_dim), "d_out")
        grad = np.zeros((self.input_dim, self.output_dim), dtype=self.dtype)
        np.add.at(grad, ids.reshape(-1), d.reshape(-1, self.output_dim))
        return {"x": None, "embeddings": grad}

    def step(self, x_t: Any) -> np.ndarray:
        """The vectors of one step's ids.

        Parameters
        ----------
        x_t : array_like
            Integer ids, (batch,), in [0, input_dim).

        Returns
        -------
        numpy.ndarray
            (batch, output_dim), of the layer's dtype.

        Examples
        --------
        >>> rf.Embedding(10, 4).step(np.array([3, 7])).shape
        (2, 4)
        """
        ids = np.asarray(x_t)
        if ids.ndim != 1:
            raise ValueError(f"x_t must be one integer id per sequence, of shape (batch,), got shape {ids.shape}")
        return self(ids[:, None])[:, 0]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the output for ids of `input_shape`.

        Parameters
        ----------
        input_shape : tuple of int or None
            (batch, time); None for a size not known.

        Returns
        -------
        tuple of int or None
            (batch, time, output_dim).

        Examples
        --------
        >>> rf.Embedding(10, 4).compute_output_shape((None, 7))
        (None, 7, 4)
        """
        return (*input_shape, self.output_dim)

    @property
    def input_shape(self) -> Shape | None:
        """tuple: (None, None), ids of any batch size and length."""
        return (None, None)
