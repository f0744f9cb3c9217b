"""Models from other frameworks: rnnfast.from_torch and rnnfast.from_keras.

    model = rf.from_torch(torch.nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True))
    y = model.predict(x)          # what the module's output sequence is: module(x)[0]

rnnfast models take batch-major input, (batch, time, features): for a module with batch_first=False (PyTorch's
default), pass x.transpose(1, 0, 2) and transpose the output back.

The weights are copied (torch is needed only for the import). PyTorch and rnnfast (Keras) differ in layout:
weight_ih is kernelᵀ; the LSTM gate order (i, f, g, o) is Keras' (i, f, c, o); the GRU's (r, z, n) becomes Keras'
(z, r, h) with reset_after=True and the two biases as the rows of bias; the LSTM and SimpleRNN add their two
biases into one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from .layers.recurrent import _Recurrent
from .model import Sequential


def _recurrent_layer(kind: str, kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray, dtype: Any,
                     activation: str = "tanh", reset_after: bool = True, **options: Any) -> _Recurrent:
    """A SimpleRNN ("RNN" or "SimpleRNN"), LSTM or GRU with these weights, in Keras layout and gate order."""
    units = recurrent_kernel.shape[0]
    common = {"input_size": kernel.shape[0], "dtype": dtype, **options}
    layer: _Recurrent
    if kind == "LSTM":
        layer = LSTM(units, unit_forget_bias=False, **common)
    elif kind == "GRU":
        layer = GRU(units, reset_after=reset_after, **common)
    else:
        layer = SimpleRNN(units, activation=activation, **common)
    layer.set_weights({"kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias})
    return layer


def _dense_layer(kernel: np.ndarray, bias: np.ndarray | None, activation: str, dtype: Any) -> Dense:
    dense = Dense(kernel.shape[1], activation=activation, use_bias=bias is not None, input_size=kernel.shape[0],
                  dtype=dtype)
    dense.set_weights({"kernel": kernel, **({"bias": bias} if bias is not None else {})})
    return dense


def _gate_permutation(kind: str, units: int) -> np.ndarray:
    """Indices into PyTorch's gate blocks, in Keras' order."""
    blocks = {"GRU": [1, 0, 2], "LSTM": [0, 1, 2, 3], "RNN": [0]}[kind]
    return np.concatenate([np.arange(b * units, (b + 1) * units) for b in blocks])


def _direction(module: Any, kind: str, layer: int, suffix: str, dtype: Any) -> _Recurrent:
    """One direction of one layer of nn.RNN/LSTM/GRU as an rnnfast layer returning its output sequence."""
    units = module.hidden_size

    def get(name: str) -> np.ndarray | None:
        p = getattr(module, f"{name}_l{layer}{suffix}", None)
        return None if p is None else p.detach().cpu().numpy().astype(np.float64)

    w_ih, w_hh, b_ih, b_hh = get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")
    if w_ih is None or w_hh is None:
        raise ValueError(f"from_torch: {type(module).__name__} has no weights of layer {layer}{suffix}")
    if getattr(module, "proj_size", 0):
        raise ValueError("from_torch: LSTMs with proj_size are not supported")
    perm = _gate_permutation(kind, units)
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else b_hh
    # LSTM and SimpleRNN add their two biases; the GRU keeps them as the rows of its reset_after bias.
    bias = np.stack([b_ih[perm], b_hh[perm]]) if kind == "GRU" else (b_ih + b_hh)[perm]
    return _recurrent_layer(kind, w_ih[perm].T, w_hh[perm].T, bias, dtype,
                            activation=getattr(module, "nonlinearity", "tanh"), return_sequences=True)


def _recurrent_layers(module: Any, dtype: Any) -> list[Any]:
    kind = type(module).__name__  # its dropout between layers acts only in training: not imported
    layers: list[Any] = []
    for layer in range(module.num_layers):
        forward = _direction(module, kind, layer, "", dtype)
        if module.bidirectional:
            backward = _direction(module, kind, layer, "_reverse", dtype)
            backward.go_backwards = True
            layers.append(Bidirectional(forward, merge_mode="concat", backward_layer=backward))
        else:
            layers.append(forward)
    return layers


_ACTIVATIONS = {"Tanh": "tanh", "ReLU": "relu", "Sigmoid": "sigmoid", "Softmax": "softmax", "Identity": "linear"}


def from_torch(module: Any, dtype: Any = "float32") -> Sequential:
    """Return an rnnfast Sequential model that computes what a PyTorch module computes at inference.

    Accepted modules:

    - ``nn.RNN`` (tanh or relu), ``nn.LSTM`` (without ``proj_size``) and ``nn.GRU``, with any ``num_layers``,
      ``bidirectional``, ``bias`` and ``batch_first``: the model computes the output sequence, ``module(x)[0]``,
      of shape ``(batch, time, hidden_size × directions)``. Each layer becomes a SimpleRNN, LSTM or GRU with
      ``return_sequences=True`` (a Bidirectional with ``merge_mode="concat"`` when bidirectional); take
      ``y[:, -1]`` for the last step. The dropout between layers acts only in training and is not imported;
      the initial states are zeros (no ``h0``).
    - an ``nn.Sequential`` of those and of ``nn.Linear`` layers (Dense, applied to every step), each Linear
      optionally followed by ``nn.Tanh``, ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Softmax(dim=-1)`` or
      ``nn.Identity`` (the Dense's activation); ``nn.Dropout`` is skipped. A recurrent module in it passes its
      output sequence on, as if it were ``module(x)[0]`` (PyTorch itself would pass the tuple).

    The weights are copied (torch is needed only for the import) and converted to Keras' layouts: ``weight_ih``
    becomes ``kernel`` (transposed), the gate order (i, f, g, o) of the LSTM is Keras' (i, f, c, o), the GRU's
    (r, z, n) becomes Keras' (z, r, h) with ``reset_after=True`` and the two biases as the two rows of its bias;
    the LSTM's and SimpleRNN's two biases are added into one. An imported model trains, saves and streams like
    any other.

    rnnfast models take batch-major input, ``(batch, time, features)``, whatever the module's ``batch_first``:
    for a module with ``batch_first=False`` (PyTorch's default), pass ``x.transpose(1, 0, 2)`` and transpose
    the output back.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` or ``nn.Sequential`` as above.
    dtype : str, default "float32"
        ``"float32"`` or ``"float64"``: the dtype of the rnnfast model (the weights are converted to it).

    Returns
    -------
    Sequential
        A model that is not compiled; its first layer knows its input size.

    Raises
    ------
    ValueError
        For a module or a part of one that cannot be imported (an activation not after a Linear, a Softmax
        over another axis, ``proj_size``, other module types), or an empty nn.Sequential.
    ImportError
        If PyTorch is not installed.

    See Also
    --------
    from_keras

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> _ = torch.manual_seed(0)  # doctest: +SKIP
    >>> lstm = torch.nn.LSTM(3, 8, num_layers=2, bidirectional=True, batch_first=True)  # doctest: +SKIP
    >>> model = rf.from_torch(lstm)  # doctest: +SKIP
    >>> [type(layer).__name__ for layer in model.layers]  # doctest: +SKIP
    ['Bidirectional', 'Bidirectional']
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    >>> with torch.no_grad():  # doctest: +SKIP
    ...     expected = lstm(torch.from_numpy(x))[0].numpy()
    >>> bool(np.allclose(model.predict(x), expected, atol=1e-5))  # doctest: +SKIP
    True

    A stack with a head, from a time-major (``batch_first=False``) GRU:

    >>> net = torch.nn.Sequential(torch.nn.GRU(3, 16),  # doctest: +SKIP
    ...                           torch.nn.Linear(16, 2), torch.nn.Softmax(dim=-1))
    >>> rf.from_torch(net)  # doctest: +SKIP
    Sequential([
      GRU(16, input_size=3, return_sequences=True),
      Dense(2, activation='softmax', input_size=16)
    ])
    >>> rf.from_torch(net).predict(x).shape  # x is (batch, time, features) all the same  # doctest: +SKIP
    (2, 5, 2)
    """
    try:
        import torch
    except ImportError as error:  # pragma: no cover - only without torch
        raise ImportError("from_torch needs PyTorch installed") from error
    modules = list(module) if isinstance(module, torch.nn.Sequential) else [module]
    layers: list[Any] = []
    for m in modules:
        name = type(m).__name__
        if isinstance(m, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
            layers.extend(_recurrent_layers(m, dtype))
        elif isinstance(m, torch.nn.Linear):
            bias = None if m.bias is None else m.bias.detach().cpu().numpy()
            layers.append(_dense_layer(m.weight.detach().cpu().numpy().T, bias, "linear", dtype))
        elif name in _ACTIVATIONS and layers and isinstance(layers[-1], Dense) and layers[-1].activation == "linear":
            if name == "Softmax" and m.dim not in (-1, None):
                raise ValueError("from_torch: only nn.Softmax over the last axis (dim=-1) is supported")
            layers[-1].activation = _ACTIVATIONS[name]
        elif isinstance(m, torch.nn.Dropout):
            continue  # inactive at inference
        else:
            raise ValueError(f"from_torch cannot import {name} (RNN, LSTM, GRU, Linear and activations after "
                             f"Linear are supported)")
    if not layers:
        raise ValueError("from_torch: nothing to import")
    return Sequential(layers)


def _keras_recurrent(layer: Any, dtype: Any) -> _Recurrent:
    config = layer.get_config()
    kind = type(layer).__name__
    if config.get("return_state"):
        raise ValueError(f"from_keras: {layer.name} has return_state=True, which a Sequential model cannot pass on")
    if kind in ("LSTM", "GRU") and (config.get("activation") != "tanh"
                                    or config.get("recurrent_activation") != "sigmoid"):
        raise ValueError(f"from_keras: {layer.name} must use tanh and sigmoid activations (the engine's cells)")
    weights = [np.asarray(w) for w in layer.get_weights()]
    kernel, recurrent = weights[0], weights[1]
    options = {"return_sequences": bool(config.get("return_sequences")),
               "go_backwards": bool(config.get("go_backwards")), "stateful": bool(config.get("stateful")),
               "dropout": float(config.get("dropout", 0.0)),
               "recurrent_dropout": float(config.get("recurrent_dropout", 0.0))}
    if kind == "SimpleRNN" and config.get("activation") not in ("tanh", "relu"):
        raise ValueError(f"from_keras: {layer.name} must use tanh or relu")
    reset_after = bool(config.get("reset_after", True))
    if len(weights) > 2:
        bias = weights[2]
    else:  # use_bias=False: zeros of the shape the layer's bias would have
        width = recurrent.shape[1]
        bias = np.zeros((2, width) if kind == "GRU" and reset_after else (width,))
    return _recurrent_layer(kind, kernel, recurrent, bias, dtype, activation=config.get("activation", "tanh"),
                            reset_after=reset_after, **options)


def _keras_dense(layer: Any, dtype: Any) -> Dense:
    config = layer.get_config()
    activation = config.get("activation") or "linear"
    if activation not in ("linear", "tanh", "relu", "sigmoid", "softmax"):
        raise ValueError(f"from_keras: {layer.name} has activation {activation!r}, which rnnfast's Dense lacks")
    weights = [np.asarray(w) for w in layer.get_weights()]
    return _dense_layer(weights[0], weights[1] if len(weights) > 1 else None, activation, dtype)


def from_keras(model_or_layer: Any, dtype: Any = "float32") -> Sequential:
    """Return an rnnfast Sequential model that computes what a Keras 3 model or layer computes at inference.

    Accepted: a ``keras.Sequential`` (or another model with a ``layers`` list, taken in order) or a single
    layer, made of ``SimpleRNN`` (tanh or relu), ``LSTM`` and ``GRU`` (tanh activation and sigmoid recurrent
    activation; ``reset_after`` either way; ``use_bias`` either way), ``Bidirectional`` of those (every merge
    mode), ``Dense`` (linear, tanh, relu, sigmoid or softmax) and ``TimeDistributed(Dense)``; ``InputLayer`` and
    ``Dropout`` are skipped. Keras and rnnfast share weight layouts and gate orders, so the weights are copied
    as they are. The layers' options ``return_sequences``, ``go_backwards``, ``stateful``, ``dropout`` and
    ``recurrent_dropout`` come along (dropout acts only when the rnnfast model trains). An imported LSTM has
    ``unit_forget_bias=False``: its weights are the Keras layer's, not a fresh initialisation. The Keras model
    must be built (have weights): give it a ``keras.Input`` or call it once.

    Keras 3 needs a backend: without TensorFlow installed, ``import keras`` fails unless the environment variable
    ``KERAS_BACKEND`` (e.g. ``"torch"`` or ``"jax"``) is set before keras is first imported (or ``"backend"`` is
    set in ``~/.keras/keras.json``). rnnfast itself does not import keras: it reads the layers' get_config() and
    get_weights().

    Parameters
    ----------
    model_or_layer : keras.Model or keras.layers.Layer
        A built Keras 3 Sequential model or one of the layers above.
    dtype : str, default "float32"
        ``"float32"`` or ``"float64"``: the dtype of the rnnfast model (the weights are converted to it).

    Returns
    -------
    Sequential
        A model that is not compiled; its first layer knows its input size.

    Raises
    ------
    ValueError
        For a layer that cannot be imported (another type, e.g. Embedding or Conv1D; other activations;
        ``return_state=True``), or a model with no layers to import.

    See Also
    --------
    from_torch

    Examples
    --------
    Without TensorFlow, choose a backend before keras is imported:

    >>> import os
    >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")  # doctest: +SKIP
    >>> import keras  # doctest: +SKIP
    >>> net = keras.Sequential([keras.Input((None, 3)),  # doctest: +SKIP
    ...                         keras.layers.LSTM(8, return_sequences=True),
    ...                         keras.layers.Bidirectional(keras.layers.GRU(4)),
    ...                         keras.layers.Dense(1)])
    >>> model = rf.from_keras(net)  # doctest: +SKIP
    >>> model  # doctest: +SKIP
    Sequential([
      LSTM(8, input_size=3, return_sequences=True, unit_forget_bias=False),
      Bidirectional(GRU(4, input_size=8)),
      Dense(1, input_size=8)
    ])
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    >>> bool(np.allclose(model.predict(x), net.predict(x, verbose=0), atol=1e-5))  # doctest: +SKIP
    True
    """
    layers_in = getattr(model_or_layer, "layers", None)
    sources = list(layers_in) if layers_in is not None and not hasattr(model_or_layer, "cell") \
        and type(model_or_layer).__name__ != "Bidirectional" else [model_or_layer]
    layers: list[Any] = []
    for layer in sources:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind in ("SimpleRNN", "LSTM", "GRU"):
            layers.append(_keras_recurrent(layer, dtype))
        elif kind == "Bidirectional":
            merge_mode = layer.get_config().get("merge_mode")
            layers.append(Bidirectional(_keras_recurrent(layer.forward_layer, dtype), merge_mode=merge_mode,
                                        backward_layer=_keras_recurrent(layer.backward_layer, dtype)))
        elif kind == "Dense":
            layers.append(_keras_dense(layer, dtype))
        elif kind == "TimeDistributed" and type(layer.layer).__name__ == "Dense":
            layers.append(_keras_dense(layer.layer, dtype))
        elif kind == "Dropout":
            continue  # inactive at inference
        else:
            raise ValueError(f"from_keras cannot import {kind} (SimpleRNN, LSTM, GRU, Bidirectional, Dense and "
                             f"TimeDistributed(Dense) are supported)")
    if not layers:
        raise ValueError("from_keras: nothing to import")
    return Sequential(layers)
