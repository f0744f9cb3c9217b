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
    """The base class of SGD, RMSprop and Adam: gradient clipping, the step counter and the slots.

    An optimiser updates named parameter arrays in place from their gradients (apply), keeping per parameter
    name the arrays of state its rule needs (its slots, e.g. Adam's two moments), created as zeros on the first
    step of that name. Sequential.fit calls apply once per batch with every weight of the model, named
    ``"<layer index>/<weight>"``. The update runs in C++, fused: one pass over each parameter clips its gradient,
    updates the slots and the parameter. The base class is not used on its own; its arguments are those every
    optimiser takes.

    Clipping, before the update, as Keras (at most one of the three acts):

    - `clipnorm`: each gradient array is scaled to an L2 norm of at most clipnorm (``g * clipnorm / max(‖g‖,
      clipnorm)``; each weight tensor on its own);
    - else `global_clipnorm`: all gradients of the step are scaled by one factor so that their joint L2 norm is
      at most global_clipnorm (PyTorch's ``clip_grad_norm_``);
    - else `clipvalue`: each element is clipped to ``[-clipvalue, clipvalue]`` (PyTorch's ``clip_grad_value_``).

    clipnorm and global_clipnorm exclude each other; with either set, clipvalue is not applied (Keras' order of
    precedence).

    Parameters
    ----------
    learning_rate : float
        The step size, a finite number > 0. A plain attribute: assigning ``optimizer.learning_rate`` between
        steps (e.g. from a Callback) changes it (no schedule objects).
    clipnorm : float or None, default None
        The largest L2 norm of each gradient array; None: no per-array clipping.
    clipvalue : float or None, default None
        The largest absolute value of a gradient element; None: no clipping by value.
    global_clipnorm : float or None, default None
        The largest joint L2 norm of all gradients of a step; None: no global clipping.

    Attributes
    ----------
    learning_rate, clipnorm, clipvalue, global_clipnorm : float or None
        The arguments.
    iterations : int
        The number of steps applied so far (Keras' ``optimizer.iterations``); Adam's bias corrections use it.

    Raises
    ------
    TypeError
        If an argument is not a finite real number (a bool included).
    ValueError
        If an argument is <= 0, or both clipnorm and global_clipnorm are set.

    Examples
    --------
    >>> opt = rf.optimizers.SGD(learning_rate=0.1, clipvalue=1.0)
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> opt.apply(params, {"w": np.array([0.5, -4.0])})  # the -4 is clipped to -1
    >>> params["w"]
    array([0.95, 2.1 ])
    >>> opt.iterations
    1
    """

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
        """Return the number of state arrays (slots) the optimiser keeps per parameter.

        Returns
        -------
        int
            Each slot has its parameter's shape and dtype; the model file holds them (see get_state).
        """
        raise NotImplementedError

    def apply(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update step to every parameter, in place.

        The gradients are clipped (as the class describes; `global_clipnorm` over all of `grads` given for
        `params`), then each ``params[name]`` is updated by the optimiser's rule from ``grads[name]`` and its
        slots, which are kept under `name` and created as zeros on the first step of a name (or when its shape or
        dtype changed). iterations grows by one.

        Parameters
        ----------
        params : Mapping[str, numpy.ndarray]
            The parameters, updated in place: writable, C-contiguous float32 or float64 arrays, all of one dtype.
        grads : Mapping[str, array_like]
            A gradient for every name of `params` (other names are ignored), of its parameter's shape; converted
            to the parameters' dtype.

        Raises
        ------
        ValueError
            If a name of `params` has no gradient, or a gradient has another shape than its parameter.
        TypeError
            If a parameter is not a writable C-contiguous float array, or the parameters' dtypes differ.
        """
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
        """Return the constructor arguments, as the model file records them.

        Returns
        -------
        dict
            JSON-serialisable keyword arguments (None for a clipping that is off):
            ``type(opt)(**opt.get_config())`` is an optimiser with the same settings and no state.
        """
        return {"learning_rate": self.learning_rate, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    def get_state(self) -> dict[str, np.ndarray]:
        """Return copies of the slots and the step counter.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``"<param>/<k>"``: slot k of the parameter named param (k = 0 … slot_count() − 1, in the order
            the class lists), and ``"iterations"``: the step counter, an int64 scalar array.
        """
        state = {f"{name}/{k}": s.copy() for name, slots in self._slots.items() for k, s in enumerate(slots)}
        state["iterations"] = np.array(self.iterations, dtype=np.int64)
        return state

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Replace the slots and the step counter with those of `state`, as get_state returned it.

        Parameters
        ----------
        state : Mapping[str, array_like]
            ``"<param>/<k>"`` slots and ``"iterations"`` (0 when absent); the arrays are copied. Slots that do
            not fit their parameter's shape or dtype at the next apply start again from zeros.
        """
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
    """Stochastic gradient descent with optional (Nesterov) momentum, Keras 3's ``SGD`` (name ``"sgd"``).

    For a gradient g (after clipping) and parameter p:

    - momentum 0: ``p ← p − lr·g``;
    - else, with the velocity m (one slot, zeros at first): ``m ← μ·m − lr·g``, then ``p ← p + m``, or with
      Nesterov momentum ``p ← p + μ·m − lr·g``.

    With a constant learning rate this is the update of ``torch.optim.SGD(lr, momentum, nesterov=...)`` (which
    keeps m/−lr instead of m).

    Parameters
    ----------
    learning_rate : float, default 0.01
        The step size lr, > 0 (Keras' default).
    momentum : float, default 0.0
        μ, in [0, 1). 0: plain SGD, no slot.
    nesterov : bool, default False
        Nesterov momentum (no effect without momentum).
    **clipping
        ``clipnorm``, ``global_clipnorm``, ``clipvalue``: each a float > 0 or None (the default), keyword
        only; Keras' gradient clipping, as Optimizer describes.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or out of range (see Optimizer).

    Examples
    --------
    >>> opt = rf.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    >>> opt.slot_count()
    1
    >>> params = {"w": np.array([1.0])}
    >>> opt.apply(params, {"w": np.array([1.0])})  # m = -0.1, then p += 0.9 * m - 0.1 * g
    >>> params["w"].round(4)
    array([0.81])
    """

    _kind = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **clipping: Any) -> None:
        super().__init__(learning_rate, **clipping)
        self.momentum = _fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "momentum": self.momentum, "nesterov": self.nesterov}

    def slot_count(self) -> int:
        """Return 1 (the velocity) with momentum, else 0.

        Returns
        -------
        int
            The number of slots per parameter.
        """
        return 1 if self.momentum > 0 else 0

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, clipping included.

        Returns
        -------
        dict
            ``learning_rate``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``momentum``, ``nesterov``.
        """
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, Keras 3's ``RMSprop`` (name ``"rmsprop"``).

    For a gradient g (after clipping) and parameter p, with the slots v (the mean square), m (with momentum)
    and a (the mean gradient, when centred), zeros at first:

    - ``v ← ρ·v + (1−ρ)·g²``;
    - ``d = v + ε``, or when centred ``a ← ρ·a + (1−ρ)·g`` and ``d = v − a² + ε``;
    - ``δ = lr·g/√d``; with momentum ``m ← μ·m + δ`` and ``p ← p − m``, else ``p ← p − δ``.

    ε is added inside the square root, as Keras does (``torch.optim.RMSprop`` adds its ε to √v, and defaults to
    lr 0.01, alpha 0.99, eps 1e-8).

    Parameters
    ----------
    learning_rate : float, default 0.001
        The step size lr, > 0.
    rho : float, default 0.9
        ρ, the decay of the moving averages, in [0, 1).
    momentum : float, default 0.0
        μ, in [0, 1). 0: no momentum slot.
    epsilon : float, default 1e-7
        ε, > 0.
    centered : bool, default False
        Divide by an estimate of the variance of the gradient (v − a²) instead of its second moment.
    **clipping
        ``clipnorm``, ``global_clipnorm``, ``clipvalue``: each a float > 0 or None (the default), keyword
        only; Keras' gradient clipping, as Optimizer describes.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or out of range (see Optimizer).

    Examples
    --------
    >>> opt = rf.optimizers.RMSprop(learning_rate=0.01, centered=True)
    >>> opt.slot_count()  # v and a
    2
    >>> params = {"w": np.array([1.0, -1.0])}
    >>> opt.apply(params, {"w": np.array([0.2, -0.2])})
    >>> params["w"].round(4)  # a first centred step moves by lr / sqrt(rho * (1 - rho))
    array([ 0.9667, -0.9667])
    """

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
        """Return 1 (v), plus 1 with momentum (m), plus 1 when centred (a).

        Returns
        -------
        int
            The number of slots per parameter, in the order v, m, a.
        """
        return 1 + (self.momentum > 0) + self.centered

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, clipping included.

        Returns
        -------
        dict
            ``learning_rate``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``rho``, ``momentum``,
            ``epsilon``, ``centered``.
        """
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam, Keras 3's ``Adam`` (name ``"adam"``).

    For a gradient g (after clipping) and parameter p at step t (counted from 1, see iterations), with the
    slots m and v (and v̂ with AMSGrad), zeros at first:

    - ``m ← m + (1−β₁)·(g − m)``, ``v ← v + (1−β₂)·(g² − v)``;
    - AMSGrad: ``v̂ ← max(v̂, v)``, used in place of v below;
    - ``p ← p − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε)``.

    This is ``torch.optim.Adam`` but for where ε enters: Keras adds it to √v before the bias correction (as
    "ε̂" in Kingma & Ba), PyTorch to the corrected root; their defaults also differ (PyTorch eps 1e-8).

    Parameters
    ----------
    learning_rate : float, default 0.001
        The step size lr, > 0.
    beta_1 : float, default 0.9
        β₁, the decay of the first moment, in [0, 1).
    beta_2 : float, default 0.999
        β₂, the decay of the second moment, in [0, 1).
    epsilon : float, default 1e-7
        ε, > 0.
    amsgrad : bool, default False
        Use the running maximum of v (AMSGrad, Reddi et al.), a third slot.
    **clipping
        ``clipnorm``, ``global_clipnorm``, ``clipvalue``: each a float > 0 or None (the default), keyword
        only; Keras' gradient clipping, as Optimizer describes.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or out of range (see Optimizer).

    Examples
    --------
    >>> opt = rf.optimizers.Adam(learning_rate=0.01, global_clipnorm=1.0)
    >>> params = {"w": np.array([1.0, 1.0])}
    >>> opt.apply(params, {"w": np.array([3.0, -4.0])})  # clipped to norm 1; a first step moves by about lr
    >>> params["w"].round(4)
    array([0.99, 1.01])
    >>> sorted(opt.get_state())
    ['iterations', 'w/0', 'w/1']
    """

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
        """Return 2 (m, v), or 3 with AMSGrad (m, v, v̂).

        Returns
        -------
        int
            The number of slots per parameter.
        """
        return 3 if self.amsgrad else 2

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, clipping included.

        Returns
        -------
        dict
            ``learning_rate``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``beta_1``, ``beta_2``,
            ``epsilon``, ``amsgrad``.
        """
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier: Any) -> Optimizer:
    """Return an optimiser from a name or an instance, as Sequential.compile does.

    Parameters
    ----------
    identifier : str or Optimizer
        ``"sgd"``, ``"rmsprop"`` or ``"adam"`` (case-insensitive) for a new optimiser with Keras' defaults, or
        an Optimizer, returned as it is: not copied, so a model compiled with it uses (and adds to) its slots and
        iterations. Give each model its own instance: slots are kept by parameter name, and two models name
        their weights alike.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        If `identifier` is neither an Optimizer nor a known name.

    Examples
    --------
    >>> rf.optimizers.get("Adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"optimizer must be an rnnfast optimiser or one of {sorted(_BY_NAME)}, got {identifier!r}")
