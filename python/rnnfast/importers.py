"""Models from other frameworks: rnnfast.from_torch.

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

from .bidirectional import Bidirectional
from .core_layers import Dense
from .layers import GRU, LSTM, SimpleRNN, _Recurrent
from .model import Sequential


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
    if getattr(module, "proj_size", 0):
        raise ValueError("from_torch: LSTMs with proj_size are not supported")
    perm = _gate_permutation(kind, units)
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else b_hh
    common = {"input_size": w_ih.shape[1], "return_sequences": True, "dtype": dtype}
    if kind == "LSTM":
        layer_ = LSTM(units, unit_forget_bias=False, **common)
        bias = (b_ih + b_hh)[perm]
    elif kind == "GRU":
        layer_ = GRU(units, reset_after=True, **common)
        bias = np.stack([b_ih[perm], b_hh[perm]])
    else:
        layer_ = SimpleRNN(units, activation=module.nonlinearity, **common)
        bias = b_ih + b_hh
    layer_.set_weights({"kernel": w_ih[perm].T, "recurrent_kernel": w_hh[perm].T, "bias": bias})
    return layer_


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
    """An rnnfast model computing what `module` computes: nn.RNN, nn.LSTM or nn.GRU (any num_layers,
    bidirectional, batch_first; the output sequence, as module(x)[0]), or an nn.Sequential of those and nn.Linear
    layers (each optionally followed by nn.Tanh, nn.ReLU, nn.Sigmoid or nn.Softmax(dim=-1)), a recurrent module
    passing its output sequence on. The model takes (batch, time, features) whatever the module's batch_first."""
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
            dense = Dense(m.out_features, use_bias=m.bias is not None, input_size=m.in_features, dtype=dtype)
            weights = {"kernel": m.weight.detach().cpu().numpy().T}
            if m.bias is not None:
                weights["bias"] = m.bias.detach().cpu().numpy()
            dense.set_weights(weights)
            layers.append(dense)
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
