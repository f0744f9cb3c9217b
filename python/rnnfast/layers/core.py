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
        return bool(self._weights)

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        return self._weights

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        if not isinstance(weights, Mapping):
            raise TypeError(f"set_weights expects a dict of arrays, got {type(weights).__name__}")
        if not self.built:
            self._build_from(weights)
        self._weights = self._checked_weights(weights, self._weight_shapes(), self.dtype)
        self._last = None

    def _build_from(self, weights: Mapping[str, Any]) -> None:
        raise ValueError("set_weights needs a built layer: pass its input size or call it first")


class Dense(_WeightedLayer):
    """y = act(x·W + b) over the last axis: x (batch, features) or (batch, time, features), every step alike.

    activation: None/"linear", "tanh", "relu", "sigmoid" or "softmax". Weights: kernel (input_size, units)
    (Glorot uniform), bias (units,) (zeros).
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
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "input_size": self.input_size, "seed": self.seed, "dtype": self.dtype.name}

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
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
        """{"x", "kernel", "bias"} for the last training call, given dL/d(output)."""
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
        return (*input_shape[:-1], self.units)


class TimeDistributed(Layer):
    """Applies a Dense layer to every time step of (batch, time, features) (Dense does so on 3-D input already;
    this wrapper is for code written for Keras). Weights and gradients are the inner layer's."""

    def __init__(self, layer: Dense) -> None:
        if not isinstance(layer, Dense):
            raise TypeError(f"TimeDistributed wraps a Dense layer, got {type(layer).__name__}")
        self.layer = layer

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TimeDistributed:
        if not isinstance(config, Mapping) or set(config) != {"layer"}:
            raise ValueError(f"a TimeDistributed config is {{'layer': a serialized Dense}}, got {config!r}")
        return cls(deserialize(config["layer"]))

    def get_config(self) -> dict[str, Any]:
        return {"layer": serialize(self.layer)}

    @property
    def built(self) -> bool:
        return self.layer.built

    def build(self, input_size: int) -> None:
        self.layer.build(input_size)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x_arr = np.asarray(x)
        if x_arr.ndim != 3:
            raise ValueError(f"TimeDistributed needs x of shape (batch, time, features), got {x_arr.shape}")
        return self.layer(x_arr, training=training)

    def backward(self, d_out: Any) -> dict[str, Any]:
        return self.layer.backward(d_out)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        self.layer.set_weights(weights)

    @property
    def trainable_weights(self) -> dict[str, np.ndarray]:
        return self.layer.trainable_weights

    def weights_updated(self) -> None:
        self.layer.weights_updated()

    @property
    def units(self) -> int:
        return self.layer.units

    @property
    def input_shape(self) -> Shape | None:
        return self.layer.input_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"TimeDistributed takes 3-D input (batch, time, features), got the shape {input_shape}")
        return self.layer.compute_output_shape(input_shape)

    def _repr_arguments(self, config: Mapping[str, Any]) -> list[str]:
        return [repr(self.layer)]


class Embedding(_WeightedLayer):
    """Integer ids (batch, time) in [0, input_dim) → vectors (batch, time, output_dim), Keras' "uniform"
    initialisation (±0.05). No mask: pass per-sequence `lengths` to the model instead. Its backward has no
    gradient for the ids ("x" is None)."""

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
        return self.output_dim

    def get_config(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "seed": self.seed,
                "dtype": self.dtype.name}

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        ids = np.asarray(x)
        if ids.ndim != 2:
            raise ValueError(f"x must be integer ids of shape (batch, time), got shape {ids.shape}")
        if not (np.issubdtype(ids.dtype, np.integer) or (ids.size and np.all(np.mod(ids, 1) == 0)) or not ids.size):
            raise TypeError(f"x must hold integer ids, got dtype {ids.dtype}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(f"ids must be in [0, {self.input_dim}), got {ids.min()}..{ids.max()}")
        if training:
            self._last = {"ids": ids}
        return self._weights["embeddings"][ids]

    def backward(self, d_out: Any) -> dict[str, Any]:
        if self._last is None:
            raise ValueError("backward() needs a preceding call with training=True (and no set_weights since)")
        ids = self._last["ids"]
        d = as_float_array(d_out, "d_out", self.dtype)
        check_shape(d, (*ids.shape, self.output_dim), "d_out")
        grad = np.zeros((self.input_dim, self.output_dim), dtype=self.dtype)
        np.add.at(grad, ids.reshape(-1), d.reshape(-1, self.output_dim))
        return {"x": None, "embeddings": grad}

    def step(self, x_t: Any) -> np.ndarray:
        """The vectors of one step's ids: x_t (batch,) -> (batch, output_dim)."""
        return self(np.asarray(x_t).reshape(-1, 1))[:, 0]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    @property
    def input_shape(self) -> Shape | None:
        return (None, None)
