"""One file for a whole model: safetensors (no pickle), the architecture and the compile settings as JSON in its
metadata, the weights and the optimiser's state as tensors.

File layout (the safetensors format): an 8-byte little-endian header length N, N bytes of JSON header —
{"<tensor>": {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}} —
then the tensors' bytes, little-endian, row-major. Tensor names: "layers.<i>.<weight>" (a Bidirectional layer's
weights keep their "forward/" and "backward/" prefixes) and "optimizer.<state>". Metadata (all strings):
"format" = "rnnfast", "format_version" = "1", "architecture" = a JSON list of {"class", "config"} per layer,
"compile" = JSON of the loss, optimiser and metrics (absent if the model was never compiled), "data_sha256" = the
SHA-256 of the tensors' bytes, so that damage anywhere in the file is caught. A C++ reader only needs the header
and the architecture's layer configs.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Any

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from .bidirectional import Bidirectional
from .core_layers import Dense, Embedding, TimeDistributed
from .layers import GRU, LSTM, SimpleRNN
from .model import Sequential
from .rnn import RNN

FORMAT_VERSION = "1"
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_NAMES = {v: k for k, v in _DTYPES.items()}
_LAYER_CLASSES = {cls.__name__: cls for cls in (SimpleRNN, LSTM, GRU, Dense, Embedding)}
_MAX_HEADER = 100 * 2**20  # a header larger than this is a damaged file, not a model


def _layer_spec(layer: Any) -> dict[str, Any]:
    if isinstance(layer, RNN):
        raise ValueError("a model with an RNN of a NumPy cell cannot be saved: the cell is Python code")
    if isinstance(layer, TimeDistributed):
        return {"class": "TimeDistributed", "config": {"layer": _layer_spec(layer.layer)}}
    if isinstance(layer, Bidirectional):
        return {"class": "Bidirectional", "config": {"layer": _layer_spec(layer.forward_layer),
                                                     "backward_layer": _layer_spec(layer.backward_layer),
                                                     "merge_mode": layer.merge_mode}}
    return {"class": type(layer).__name__, "config": layer.get_config()}


def _make_layer(spec: Any) -> Any:
    if not isinstance(spec, dict) or "class" not in spec or not isinstance(spec.get("config"), dict):
        raise ValueError(f"the architecture holds a malformed layer entry: {spec!r}")
    cls, config = spec["class"], dict(spec["config"])
    if cls == "TimeDistributed":
        return TimeDistributed(_make_layer(config["layer"]))
    if cls == "Bidirectional":
        return Bidirectional(_make_layer(config["layer"]), merge_mode=config.get("merge_mode", "concat"),
                             backward_layer=_make_layer(config["backward_layer"]))
    if cls not in _LAYER_CLASSES:
        raise ValueError(f"the architecture names an unknown layer class {cls!r}")
    return _LAYER_CLASSES[cls](**config)


def save_model(model: Sequential, path: str | os.PathLike) -> None:
    """Writes the model (architecture, weights, compile settings and optimiser state) to one file."""
    if not isinstance(model, Sequential):
        raise TypeError(f"save_model saves a Sequential model, got {type(model).__name__}")
    architecture = [_layer_spec(layer) for layer in model.layers]
    tensors: dict[str, np.ndarray] = {}
    for i, weights in enumerate(model.get_weights()):
        if not weights:
            raise ValueError(f"layer {i} has no weights yet: call the model (or build its layers) before saving")
        tensors.update({f"layers.{i}.{k}": v for k, v in weights.items()})
    metadata = {"format": "rnnfast", "format_version": FORMAT_VERSION, "architecture": json.dumps(architecture)}
    if model.loss is not None and model.optimizer is not None:
        metadata["compile"] = json.dumps({
            "loss": {"name": model.loss.name, "config": model.loss.get_config()},
            "optimizer": {"class": type(model.optimizer).__name__, "config": model.optimizer.get_config()},
            "metrics": model.metrics,
        })
        tensors.update({f"optimizer.{k}": v for k, v in model.optimizer.get_state().items()})
    write_safetensors(path, tensors, metadata)


def load_model(path: str | os.PathLike) -> Sequential:
    """Reads a file written by save_model (or Sequential.save): the same layers, weights, loss, optimiser and
    optimiser state. A damaged or foreign file raises ValueError."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != "rnnfast":
        raise ValueError(f"{os.fspath(path)!r} is a safetensors file but not an rnnfast model")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{os.fspath(path)!r} has format version {metadata.get('format_version')!r}; this "
                         f"rnnfast reads version {FORMAT_VERSION}")
    try:
        architecture = json.loads(metadata["architecture"])
        layers = [_make_layer(spec) for spec in architecture]
        model = Sequential(layers)
        for i, layer in enumerate(layers):
            prefix = f"layers.{i}."
            layer.set_weights({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if "compile" in metadata:
            spec = json.loads(metadata["compile"])
            optimizer_cls = getattr(_optimizers, spec["optimizer"]["class"])
            if not (isinstance(optimizer_cls, type) and issubclass(optimizer_cls, _optimizers.Optimizer)):
                raise ValueError(f"unknown optimiser {spec['optimizer']['class']!r}")
            optimizer = optimizer_cls(**spec["optimizer"]["config"])
            optimizer.set_state({k[len("optimizer."):]: v for k, v in tensors.items() if k.startswith("optimizer.")})
            model.compile(loss=_losses.get(spec["loss"]["name"], **spec["loss"]["config"]), optimizer=optimizer,
                          metrics=spec["metrics"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{os.fspath(path)!r} holds an inconsistent model: {error!r}") from error
    return model


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    header: dict[str, Any] = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, value in tensors.items():
        arr = np.asarray(value)
        dtype = np.dtype(arr.dtype).newbyteorder("<")
        if dtype not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {arr.dtype}; the file holds float32, float64 and int64")
        blob = np.ascontiguousarray(arr, dtype=dtype).tobytes()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {**metadata, "data_sha256": hashlib.sha256(b"".join(blobs)).hexdigest()}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as other writers do
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:  # written aside, then renamed: an interrupted save leaves the old file whole
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a safetensors file; ValueError naming what is wrong for a damaged one."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{name!r} is too short to be a safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(_MAX_HEADER, len(data) - 8):
        raise ValueError(f"{name!r} is truncated or not a safetensors file (header of {size} bytes, file of "
                         f"{len(data)})")
    try:
        header = json.loads(data[8:8 + size].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{name!r} has a damaged header: {error}") from error
    if not isinstance(header, dict):
        raise ValueError(f"{name!r} has a damaged header")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{name!r} has damaged metadata")
    body = memoryview(data)[8 + size:]
    digest = metadata.get("data_sha256")
    if digest is not None and hashlib.sha256(body).hexdigest() != digest:
        raise ValueError(f"{name!r} is damaged: its tensors' bytes do not match the checksum in its header")
    tensors = {}
    for key, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(n) for n in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{name!r}: tensor {key!r} has a damaged or unsupported entry {info!r}") from error
        count = int(np.prod(shape, dtype=np.int64))
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
            raise ValueError(f"{name!r}: tensor {key!r} does not fit the file (truncated or damaged)")
        tensors[key] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    return tensors, metadata


class StreamingModel:
    """A saved model read by the C++ loader (the one a C++ program uses: rnnfast::Model in rnnfast/model.hpp),
    run one time step at a time (batch 1) or over whole sequences — to try from Python what the C++ program will
    do.

        model = rf.StreamingModel("forecaster.safetensors")
        y_t = model.step(x_t)     # x_t: (input_size,) or (1, input_size); y_t: (1, output_size)
        model.reset()             # zeros; model.state() reads the state, model.reset(state) sets it
        y = model.predict(x)      # x: (batch, time, input_size) -> (batch, time, output_size), every step's
                                  # output (a model that returns only the last step's has it at y[:, -1])

    Streamable models stack SimpleRNN/LSTM/GRU layers (no go_backwards) and Dense layers; anything else, or a
    damaged file, raises ValueError.
    """

    def __init__(self, path: str | os.PathLike, dtype: Any = "float32") -> None:
        from ._engine import core
        from ._validation import check_dtype

        self.dtype = check_dtype(dtype)
        cls = core.StreamingModel32 if self.dtype == np.float32 else core.StreamingModel64
        self._model = cls(os.fspath(path))
        self.input_size = int(self._model.input_size)
        self.output_size = int(self._model.output_size)

    def step(self, x_t: Any) -> np.ndarray:
        try:
            return self._model.step(x_t)
        except TypeError:
            x = np.ascontiguousarray(x_t, dtype=self.dtype).reshape(1, -1)
            if x.shape[1] != self.input_size:
                raise ValueError(f"x_t must hold {self.input_size} values, got shape {np.shape(x_t)}") from None
            return self._model.step(x)

    def reset(self, state: Any = None) -> None:
        """Zeros the streaming state, or sets it to `state` as state() returned it."""
        if state is None:
            self._model.reset()
            return
        values = np.ascontiguousarray(state, dtype=self.dtype)
        if values.shape != (self.state_size,):
            raise ValueError(f"state must have shape ({self.state_size},) as state() returns, got {values.shape}")
        self._model.set_state(values)

    @property
    def state_size(self) -> int:
        return int(self._model.state_size)

    def state(self) -> np.ndarray:
        """The streaming state as one vector: each recurrent layer's h, then its c (LSTM only)."""
        return self._model.state()

    def predict(self, x: Any) -> np.ndarray:
        """Whole sequences from zero states (the streaming state is left alone)."""
        values = np.ascontiguousarray(x, dtype=self.dtype)
        if values.ndim != 3 or values.shape[2] != self.input_size:
            raise ValueError(f"x must be (batch, time, {self.input_size}), got shape {np.shape(x)}")
        return self._model.run(values)

    def copy(self) -> StreamingModel:
        """Another stream of this model: the weights are shared (read-only), the state is copied. Streams step
        independently, also on several threads at once (step releases the GIL)."""
        other = object.__new__(StreamingModel)
        other.dtype, other.input_size, other.output_size = self.dtype, self.input_size, self.output_size
        other._model = self._model.copy()
        return other
