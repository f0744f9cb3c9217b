"""Optimisers with Keras 3's update rules and gradient clipping; the updates run fused and in place in C++.

    opt = rf.optimizers.Adam(learning_rate=1e-3, global_clipnorm=1.0)
    opt.apply(params, grads)   # dicts name -> array: params are updated in place, slots created on first use

Clipping, as Keras: `clipnorm` scales each gradient to an L2 norm of at most clipnorm; `global_clipnorm` scales
all gradients of a step by one factor so that their joint norm is at most global_clipnorm; `clipvalue` clips
each element to [-clipvalue, clipvalue]. clipnorm and global_clipnorm exclude each other; when a norm clip is set,
clipvalue is not applied (Keras' order of precedence).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._engine import core as _core


def _positive(value: Any, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if float(value) < 0 or (float(value) == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return float(value)


def _fraction(value: Any, name: str) -> float:
    v = _positive(value, name, allow_zero=True)
    if v >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return v


class Optimizer:
    """What the optimisers share: clipping, the step counter, slots per parameter name, and their state."""

    _kind = ""

    def __init__(self, learning_rate: float, clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None) -> None:
        self.learning_rate = _positive(learning_rate, "learning_rate")
        self.clipnorm = None if clipnorm is None else _positive(clipnorm, "clipnorm")
        self.clipvalue = None if clipvalue is None else _positive(clipvalue, "clipvalue")
        self.global_clipnorm = None if global_clipnorm is None else _positive(global_clipnorm, "global_clipnorm")
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError("only one of clipnorm and global_clipnorm can be set")
        self.iterations = 0
        self._slots: dict[str, list[np.ndarray]] = {}

    def _settings(self) -> dict[str, Any]:
        return {"momentum": 0.0, "nesterov": False, "rho": 0.9, "centered": False, "beta_1": 0.9, "beta_2": 0.999,
                "amsgrad": False, "epsilon": 1e-7}

    def slot_count(self) -> int:
        """The arrays of state the optimiser keeps per parameter (its slots)."""
        raise NotImplementedError

    def apply(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """One step: every params[name] (a C-contiguous float array, updated in place) by grads[name]."""
        missing = sorted(set(params) - set(grads))
        if missing:
            raise ValueError(f"grads has no entry for the parameters {missing}")
        names = list(params)
        values, gradients, slots = [], [], []
        for name in names:
            value = params[name]
            if not isinstance(value, np.ndarray) or value.dtype not in (np.float32, np.float64) \
                    or not value.flags.c_contiguous or not value.flags.writeable:
                raise TypeError(f"parameter {name!r} must be a writable C-contiguous float32/float64 array")
            if value.dtype != params[names[0]].dtype:
                raise TypeError("all parameters must have one dtype")
            grad = np.ascontiguousarray(grads[name], dtype=value.dtype)
            if grad.shape != value.shape:
                raise ValueError(f"gradient {name!r} has shape {grad.shape}, its parameter {value.shape}")
            state = self._slots.get(name)
            if state is None or len(state) != self.slot_count() \
                    or any(s.shape != value.shape or s.dtype != value.dtype for s in state):
                state = [np.zeros_like(value) for _ in range(self.slot_count())]
                self._slots[name] = state
            values.append(value)
            gradients.append(grad)
            slots.append(state)
        self.iterations += 1
        _core.optimizer_step(self._kind, self.learning_rate, clipnorm=self.clipnorm or 0.0,
                             global_clipnorm=self.global_clipnorm or 0.0, clipvalue=self.clipvalue or 0.0,
                             step=self.iterations, params=values, grads=gradients, slots=slots, **self._settings())

    # ---- state, for saving a model ----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    def get_state(self) -> dict[str, np.ndarray]:
        """The slots ("<param>/<k>") and the step counter ("iterations")."""
        state = {f"{name}/{k}": s.copy() for name, slots in self._slots.items() for k, s in enumerate(slots)}
        state["iterations"] = np.array(self.iterations, dtype=np.int64)
        return state

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.iterations = int(state.get("iterations", 0))
        slots: dict[str, dict[int, np.ndarray]] = {}
        for key, value in state.items():
            if key == "iterations":
                continue
            name, _, k = key.rpartition("/")
            slots.setdefault(name, {})[int(k)] = np.array(value)
        self._slots = {name: [d[k] for k in sorted(d)] for name, d in slots.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum and Nesterov momentum as Keras: m ← μ·m − lr·g, then
    p ← p + m (or p ← p + μ·m − lr·g with nesterov=True)."""

    _kind = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **clipping: Any) -> None:
        super().__init__(learning_rate, **clipping)
        self.momentum = _fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "momentum": self.momentum, "nesterov": self.nesterov}

    def slot_count(self) -> int:
        return 1 if self.momentum > 0 else 0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop as Keras: v ← ρ·v + (1−ρ)·g², p ← p − lr·g/√(v + ε) (centred: v − ḡ² + ε; with momentum the
    increments accumulate)."""

    _kind = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **clipping: Any) -> None:
        super().__init__(learning_rate, **clipping)
        self.rho = _fraction(rho, "rho")
        self.momentum = _fraction(momentum, "momentum")
        self.epsilon = _positive(epsilon, "epsilon")
        self.centered = bool(centered)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def slot_count(self) -> int:
        return 1 + (self.momentum > 0) + self.centered

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam as Keras: m ← m + (1−β₁)(g − m), v ← v + (1−β₂)(g² − v),
    p ← p − lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε) (AMSGrad: the running maximum of v)."""

    _kind = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **clipping: Any) -> None:
        super().__init__(learning_rate, **clipping)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")
        self.amsgrad = bool(amsgrad)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def slot_count(self) -> int:
        return 3 if self.amsgrad else 2

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier: Any) -> Optimizer:
    """An optimiser from an instance or a name ("sgd", "rmsprop", "adam", with Keras' defaults)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"optimizer must be an rnnfast optimiser or one of {sorted(_BY_NAME)}, got {identifier!r}")
