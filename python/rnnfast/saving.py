"""One file for a whole model: the architecture and the compile settings as JSON, the weights and the optimiser's
state as tensors, in a safetensors file (no pickle) — the format of docs/model-file-format.md, which the C++
reader (rnnfast::Model::load, and StreamingModel here) implements too.

load_model checks the whole file before it builds anything: the container (_model_file.read_file), then every
layer's config against the format's tables, the layers' chaining, the exact set of tensors with their shapes and
dtypes, and the compile settings with the optimiser's slots. Only a file that passed builds layers, so a hostile
file costs time and memory in proportion to its size and raises ValueError saying what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from ._model_file import FORMAT_VERSION, FileRefused, parse_json, read_file, write_file
from ._registry import deserialize, get_class, serialize
from .layers.core import ACTIVATIONS

# ---- the format's member tables: each member's check returns what is wrong with a value, or None --------------
Check = Callable[[Any], "str | None"]


def _boolean(v: Any) -> str | None:
    return None if type(v) is bool else "must be a boolean"


def _false(v: Any) -> str | None:
    return "must be false (a layer of a Sequential model)" if v is not False else None


def _integer(minimum: int, allow_null: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if v is None and allow_null:
            return None
        if type(v) is not int:
            return "must be an integer" + (" or null" if allow_null else "")
        return None if v >= minimum else f"must be >= {minimum}"
    return check


def _number(low: float, high: float | None = None, open_low: bool = False, allow_null: bool = False) -> Check:
    """A number in [low, high) (or (low, ...) with open_low)."""
    def check(v: Any) -> str | None:
        if v is None and allow_null:
            return None
        if type(v) not in (int, float):
            return "must be a number" + (" or null" if allow_null else "")
        if (v <= low if open_low else v < low) or (high is not None and v >= high):
            return f"must be {'>' if open_low else '>='} {low}" + (f" and < {high}" if high is not None else "")
        return None
    return check


def _between(low: float, high: float) -> Check:
    def check(v: Any) -> str | None:
        if type(v) not in (int, float):
            return "must be a number"
        return None if low <= v <= high else f"must be >= {low} and <= {high}"
    return check


def _choice(*choices: Any) -> Check:
    return lambda v: None if type(v) is str and v in choices else f"must be one of {', '.join(map(repr, choices))}"


_RATE, _SEED, _DTYPE = _number(0.0, 1.0), _integer(0, allow_null=True), _choice("float32", "float64")
_RECURRENT_MEMBERS: dict[str, Check] = {
    "units": _integer(1), "input_size": _integer(1), "return_sequences": _boolean, "return_state": _false,
    "go_backwards": _boolean, "stateful": _boolean, "time_major": _false, "dropout": _RATE,
    "recurrent_dropout": _RATE, "seed": _SEED, "dtype": _DTYPE, "check_finite": _boolean, "layer_norm": _boolean,
    "layer_norm_epsilon": _between(1e-30, 1e30),  # float32 holds it as a normal number
}
_RECURRENT_CLASSES: dict[str, dict[str, Check]] = {
    "SimpleRNN": {**_RECURRENT_MEMBERS, "activation": _choice("tanh", "relu")},
    "LSTM": {**_RECURRENT_MEMBERS, "peephole": _boolean, "unit_forget_bias": _boolean},
    "GRU": {**_RECURRENT_MEMBERS, "reset_after": _boolean},
}
_DENSE_MEMBERS: dict[str, Check] = {"units": _integer(1), "activation": _choice(*ACTIVATIONS), "use_bias": _boolean,
                                    "input_size": _integer(1), "seed": _SEED, "dtype": _DTYPE}
_EMBEDDING_MEMBERS: dict[str, Check] = {"input_dim": _integer(1), "output_dim": _integer(1), "seed": _SEED,
                                        "dtype": _DTYPE}
_MERGE_MODES = ("concat", "sum", "mul", "ave")
_LOSS_MEMBERS: dict[str, dict[str, Check]] = {
    **{name: {} for name in ("mse", "mean_squared_error", "mae", "mean_absolute_error")},
    **{name: {"from_logits": _boolean} for name in ("binary_crossentropy", "bce", "sparse_categorical_crossentropy")},
}
_POSITIVE_OR_NULL = _number(0.0, open_low=True, allow_null=True)
_OPTIMIZER_MEMBERS: dict[str, tuple[type, dict[str, Check]]] = {
    cls.__name__: (cls, {"learning_rate": _number(0.0, open_low=True), "clipnorm": _POSITIVE_OR_NULL,
                         "clipvalue": _POSITIVE_OR_NULL, "global_clipnorm": _POSITIVE_OR_NULL, **extra})
    for cls, extra in (
        (_optimizers.SGD, {"momentum": _RATE, "nesterov": _boolean}),
        (_optimizers.RMSprop, {"rho": _RATE, "momentum": _RATE, "epsilon": _number(0.0, open_low=True),
                               "centered": _boolean}),
        (_optimizers.Adam, {"beta_1": _RATE, "beta_2": _RATE, "epsilon": _number(0.0, open_low=True),
                            "amsgrad": _boolean}),
    )
}


def _object(value: Any, members: dict[str, Check] | set[str], where: str) -> dict[str, Any]:
    """`value` as an object with exactly `members` (each passing its check, when given one)."""
    if not isinstance(value, dict):
        raise FileRefused(f"has {where} that is not an object")
    missing, unknown = sorted(set(members) - set(value)), sorted(set(value) - set(members))
    if missing or unknown:
        raise FileRefused(f"has {where} without the members {missing}" if missing
                          else f"has {where} with unknown members {unknown}")
    if isinstance(members, dict):
        for key, check in members.items():
            why = check(value[key])
            if why is not None:
                raise FileRefused(f"has {where} whose {key} {why}, got {value[key]!r}")
    return value


# ---- the architecture: checked layer by layer, each giving its expected tensors and output features -----------
class _Plan:
    """One layer of a checked architecture: how to build it, what the file must hold for it, the features it
    takes (None: an Embedding's ids) and gives, whether it needs a sequence as input and whether it gives one
    (None: what it was given)."""

    def __init__(self, build: Callable[[], Any], weights: dict[str, tuple[tuple[int, ...], str]],
                 input_size: int | None, output_size: int, needs_sequence: bool, gives_sequence: bool | None) -> None:
        self.build, self.weights, self.input_size, self.output_size = build, weights, input_size, output_size
        self.needs_sequence, self.gives_sequence = needs_sequence, gives_sequence


def _recurrent_plan(entry: Any, where: str) -> tuple[_Plan, str, dict[str, Any]]:
    entry = _object(entry, {"class", "config"}, where)
    if type(entry["class"]) is not str or entry["class"] not in _RECURRENT_CLASSES:
        raise FileRefused(f"has {where} of class {entry['class']!r} where SimpleRNN, LSTM or GRU was expected")
    config = _object(entry["config"], _RECURRENT_CLASSES[entry["class"]], f"{where} ({entry['class']}) config")
    if entry["class"] == "GRU" and config["layer_norm"] and not config["reset_after"]:
        raise FileRefused(f"has {where} (GRU) with layer_norm but not reset_after")
    unbuilt = {**config, "input_size": None}  # nothing is allocated until the weights are set from the file
    try:
        layer = deserialize({"class": entry["class"], "config": unbuilt})
        shapes = layer.weight_shapes(config["input_size"])
    except (TypeError, ValueError) as error:
        raise FileRefused(f"has {where} ({entry['class']}) whose config is refused: {error}") from None
    plan = _Plan(lambda: layer, {k: (s, config["dtype"]) for k, s in shapes.items()}, config["input_size"],
                 config["units"], True, config["return_sequences"])
    return plan, entry["class"], config


def _layer_plan(entry: Any, where: str) -> _Plan:
    entry = _object(entry, {"class", "config"}, where)
    cls = entry["class"]
    if type(cls) is not str:
        raise FileRefused(f"has {where} whose class is not a string")
    if cls in _RECURRENT_CLASSES:
        return _recurrent_plan(entry, where)[0]
    if cls == "Dense" or cls == "TimeDistributed":
        inner = _object(entry["config"], {"layer"}, f"{where} (TimeDistributed) config")["layer"] \
            if cls == "TimeDistributed" else entry
        inner = _object(inner, {"class", "config"}, f"{where}'s inner layer")
        if inner["class"] != "Dense":
            raise FileRefused(f"has {where} whose inner layer is {inner['class']!r}; TimeDistributed wraps Dense")
        c = _object(inner["config"], _DENSE_MEMBERS, f"{where} (Dense) config")
        shapes: dict[str, tuple[tuple[int, ...], str]] = {"kernel": ((c["input_size"], c["units"]), c["dtype"])}
        if c["use_bias"]:
            shapes["bias"] = ((c["units"],), c["dtype"])
        dense = {"class": "Dense", "config": {**c, "input_size": None}}
        unbuilt = {"class": cls, "config": {"layer": dense}} if cls == "TimeDistributed" else dense
        return _Plan(lambda: deserialize(unbuilt), shapes, c["input_size"], c["units"], cls == "TimeDistributed", None)
    if cls == "Embedding":
        c = _object(entry["config"], _EMBEDDING_MEMBERS, f"{where} (Embedding) config")
        return _Plan(lambda: deserialize(entry), {"embeddings": ((c["input_dim"], c["output_dim"]), c["dtype"])}, None,
                     c["output_dim"], False, True)
    if cls == "Bidirectional":
        c = _object(entry["config"], {"layer", "backward_layer", "merge_mode"}, f"{where} (Bidirectional) config")
        if type(c["merge_mode"]) is not str or c["merge_mode"] not in _MERGE_MODES:
            raise FileRefused(f"has {where} (Bidirectional) whose merge_mode must be one of "
                              f"{', '.join(map(repr, _MERGE_MODES))}, got {c['merge_mode']!r}")
        forward, fcls, fc = _recurrent_plan(c["layer"], f"{where}'s forward layer")
        backward, bcls, bc = _recurrent_plan(c["backward_layer"], f"{where}'s backward layer")
        if fcls != bcls or any(fc[k] != bc[k] for k in ("units", "return_sequences", "dtype", "input_size")) \
                or fc["go_backwards"] == bc["go_backwards"]:
            raise FileRefused(f"has {where} (Bidirectional) whose two layers are not of one class with equal "
                              "units, return_sequences, dtype and input_size and opposite go_backwards")
        weights = {f"{side}/{k}": v for side, plan in (("forward", forward), ("backward", backward))
                   for k, v in plan.weights.items()}
        merge = c["merge_mode"]
        wrapper = get_class("Bidirectional")
        return _Plan(lambda: wrapper(forward.build(), merge_mode=merge, backward_layer=backward.build()),  # type: ignore[misc]
                     weights, fc["input_size"], forward.output_size * (2 if merge == "concat" else 1), True,
                     fc["return_sequences"])
    raise FileRefused(f"has {where} of an unknown class {cls!r}")


def _architecture_plans(architecture: Any) -> list[_Plan]:
    if not isinstance(architecture, list) or not architecture:
        raise FileRefused("has an architecture that is not a non-empty list of layers")
    plans = [_layer_plan(entry, f"layer {i}") for i, entry in enumerate(architecture)]
    sequence, ended = True, -1  # the model's input is a sequence; `ended`: the layer that made it a vector
    for i, plan in enumerate(plans):
        if i > 0 and plan.input_size is None:
            raise FileRefused(f"has an Embedding as layer {i}; an Embedding can only be the first layer")
        if i > 0 and plan.input_size != plans[i - 1].output_size:
            raise FileRefused(f"has layer {i} taking {plan.input_size} features where layer {i - 1} gives "
                              f"{plans[i - 1].output_size}")
        if plan.needs_sequence and not sequence:
            raise FileRefused(f"has layer {i} ({architecture[i]['class']}) whose input is not a sequence (layer "
                              f"{ended} has return_sequences false)")
        if plan.gives_sequence is not None:
            sequence, ended = plan.gives_sequence, i
    return plans


def _compile_spec(text: str) -> tuple[_losses.Loss, _optimizers.Optimizer, list[str]]:
    spec = _object(parse_json(text, "its compile settings"), {"loss", "optimizer", "metrics"}, "compile settings")
    loss = _object(spec["loss"], {"name", "config"}, "a loss")
    if type(loss["name"]) is not str or loss["name"] not in _LOSS_MEMBERS:
        raise FileRefused(f"names an unknown loss {loss['name']!r}")
    loss_config = _object(loss["config"], _LOSS_MEMBERS[loss["name"]], f"the loss {loss['name']!r}'s config")
    optimizer = _object(spec["optimizer"], {"class", "config"}, "an optimiser")
    if type(optimizer["class"]) is not str or optimizer["class"] not in _OPTIMIZER_MEMBERS:
        raise FileRefused(f"names an unknown optimiser {optimizer['class']!r}")
    optimizer_cls, members = _OPTIMIZER_MEMBERS[optimizer["class"]]
    config = _object(optimizer["config"], members, f"the optimiser {optimizer['class']}'s config")
    if config["clipnorm"] is not None and config["global_clipnorm"] is not None:
        raise FileRefused("has an optimiser with both clipnorm and global_clipnorm")
    metrics = spec["metrics"]
    cross_entropy = bool(_LOSS_MEMBERS[loss["name"]])
    if metrics != [] and not (metrics == ["accuracy"] and cross_entropy):
        raise FileRefused(f"has the metrics {metrics!r}; the format holds [] or ['accuracy'] with a cross-entropy")
    return _losses.get(loss["name"], **loss_config), optimizer_cls(**config), metrics


def _check_tensors(tensors: Mapping[str, tuple[tuple[int, ...], Any]], plans: list[_Plan],
                   optimizer: _optimizers.Optimizer | None) -> None:
    """The file holds exactly the weights of `plans` (and, compiled, the optimiser's state), each as expected.
    `tensors`: every tensor's shape and dtype."""
    expected = {f"layers.{i}.{k}": v for i, plan in enumerate(plans) for k, v in plan.weights.items()}
    for name, (shape, dtype) in expected.items():
        if name not in tensors:
            raise FileRefused(f"has no tensor {name!r}, which the architecture needs")
        if tensors[name] != (shape, dtype):
            raise FileRefused(f"has tensor {name!r} of shape {list(tensors[name][0])} and dtype {tensors[name][1]} "
                              f"where the architecture needs {list(shape)} and {dtype}")
    state = {k: v for k, v in tensors.items() if k.startswith("optimizer.")}
    unknown = sorted(set(tensors) - set(expected) - set(state))
    if unknown:
        raise FileRefused(f"has tensors the architecture does not name: {unknown[:5]}")
    if optimizer is None:
        if state:
            raise FileRefused(f"has optimiser tensors {sorted(state)[:5]} but no compile settings")
        return
    if state.pop("optimizer.iterations", None) != ((), "int64"):
        raise FileRefused("has compile settings but no optimizer.iterations as an int64 scalar")
    slots = optimizer.slot_count()
    for name, (shape, dtype) in expected.items():
        param = name[len("layers."):].replace(".", "/", 1)
        present = [f"optimizer.{param}/{k}" in state for k in range(slots)]
        if any(present) and not all(present):
            raise FileRefused(f"has some but not all {slots} optimiser slots of {param!r}")
        for k in range(slots if all(present) else 0):
            slot = state.pop(f"optimizer.{param}/{k}")
            if slot != (shape, dtype):
                raise FileRefused(f"has optimiser slot {param}/{k} of shape {list(slot[0])} and dtype {slot[1]} "
                                  f"where its weight has {list(shape)} and {dtype}")
    if state:
        raise FileRefused(f"has optimiser tensors that belong to no weight: {sorted(state)[:5]}")


def _check_model(metadata: Mapping[str, str], tensors: Mapping[str, tuple[tuple[int, ...], Any]],
                 ) -> tuple[list[_Plan], tuple[_losses.Loss, _optimizers.Optimizer, list[str]] | None]:
    """Everything of a model file but its data: the layers, the compile settings, the tensors they demand."""
    plans = _architecture_plans(parse_json(metadata["architecture"], "its architecture"))
    compiled = _compile_spec(metadata["compile"]) if "compile" in metadata else None
    _check_tensors(tensors, plans, None if compiled is None else compiled[1])
    return plans, compiled


# ---- saving and loading --------------------------------------------------------------------------------------
def _written_classes(entry: Any) -> list[str]:
    """The classes a serialized layer names, nested ones included."""
    if isinstance(entry, dict):
        found = [entry["class"]] if isinstance(entry.get("class"), str) and "config" in entry else []
        return found + [c for value in entry.values() for c in _written_classes(value)]
    if isinstance(entry, list):
        return [c for value in entry for c in _written_classes(value)]
    return []


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Write a Sequential model to one safetensors file: architecture, weights, compile settings, optimiser state.

    The file is the format of docs/model-file-format.md: a safetensors file (no pickle, so loading runs no code)
    whose metadata holds the architecture (every layer's get_config()) and, for a compiled model, the loss, the
    optimiser and its settings as JSON, and whose tensors are the weights (``layers.<i>.<weight>``, Keras'
    layouts) and the optimiser's slots and step counter (``optimizer.*``), with a SHA-256 of the whole file.
    load_model reads it back in Python, StreamingModel and ``rnnfast::Model<T>::load`` in C++, and generic
    safetensors tools list its tensors. Not saved: the states that stateful layers carry between calls, the
    states step() carries, and the position of the dropout generators (a loaded layer starts again from its
    seed).

    The write is atomic: the file is written under a new name beside `path`, flushed to disk and renamed over
    `path`, so readers see the old file or the new one, never a part, also while other processes save to the
    same path. An existing file keeps its permissions; a link at `path` is replaced, not written through.
    ``model.save(path)`` is the same call.

    Parameters
    ----------
    model : Sequential
        The model. Every layer must have its weights (give the first layer ``input_size`` and build, or call the
        model once). A model with an RNN layer of a NumPy cell cannot be saved (its cell is Python code).
    path : str or os.PathLike
        The file to write; an existing file is replaced. The extension is free (``.safetensors`` by custom).

    Raises
    ------
    TypeError
        If `model` is not a Sequential.
    ValueError
        If a layer has no weights yet, holds a NumPy cell, or the model is one the format cannot hold (e.g. a
        Bidirectional with ``merge_mode=None``, or a loss or optimiser that is not rnnfast's own); the file at
        `path` is then left as it was.
    OSError
        If the file cannot be written.

    See Also
    --------
    load_model, StreamingModel

    Examples
    --------
    >>> model = rf.Sequential([rf.LSTM(8, input_size=3, seed=0), rf.Dense(1, input_size=8, seed=1)])
    >>> model.compile(loss="mse", optimizer=rf.optimizers.Adam(1e-3, clipnorm=1.0))
    >>> rf.save_model(model, "model.safetensors")
    >>> loaded = rf.load_model("model.safetensors")
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    >>> bool(np.array_equal(loaded.predict(x), model.predict(x)))
    True
    """
    sequential: Any = get_class("Sequential")
    if sequential is None or not isinstance(model, sequential):
        raise TypeError(f"save_model saves a Sequential model, got {type(model).__name__}")
    architecture = [serialize(layer) for layer in model.layers]
    if "RNN" in _written_classes(architecture):
        raise ValueError("a model with an RNN of a NumPy cell cannot be saved: the cell is Python code")
    tensors: dict[str, np.ndarray] = {}
    for i, weights in enumerate(model.get_weights()):
        if not weights:
            raise ValueError(f"layer {i} has no weights yet: call the model (or build its layers) before saving")
        tensors.update({f"layers.{i}.{k}": v for k, v in weights.items()})
    compact: dict[str, Any] = {"separators": (",", ":"), "allow_nan": False}
    metadata = {"format": "rnnfast", "format_version": FORMAT_VERSION,
                "architecture": json.dumps(architecture, **compact)}
    if model.loss is not None and model.optimizer is not None:
        metadata["compile"] = json.dumps({
            "loss": {"name": model.loss.name, "config": model.loss.get_config()},
            "optimizer": {"class": type(model.optimizer).__name__, "config": model.optimizer.get_config()},
            "metrics": model.metrics,
        }, **compact)
        tensors.update({f"optimizer.{k}": v for k, v in model.optimizer.get_state().items()})
    arrays = {k: np.asarray(v) for k, v in tensors.items()}
    try:  # what load_model would refuse is not written (the file at `path` stays as it was)
        _check_model(metadata, {k: (v.shape, v.dtype) for k, v in arrays.items()})
    except FileRefused as error:
        raise ValueError(f"this model cannot be saved: the file {error}") from None
    write_file(path, arrays, metadata)


def load_model(path: str | os.PathLike) -> Any:
    """Read a model written by save_model (or Sequential.save).

    It returns a Sequential with the same layers (classes and configs), weights and, for a model that was
    compiled, the same loss, metrics, optimiser settings and optimiser state (its slots and iterations), so
    training continues where it stopped. Files of format versions 1 and 2 are read.

    The file is treated as hostile input. It is checked whole, against docs/model-file-format.md, before any
    layer is built: the container (header size, strict JSON, tensor dtypes, shapes and offsets tiling the data,
    the file size, the SHA-256 checksum), every layer's config, the layers' chaining, the exact set of tensors
    with their shapes and dtypes, and the compile settings with the optimiser's slots. The data is read only
    once the rest has passed, so a hostile file costs time and memory in proportion to its size, and a
    damaged, truncated, foreign or hostile file raises ValueError naming the file and what is wrong.

    Parameters
    ----------
    path : str or os.PathLike
        A model file.

    Returns
    -------
    Sequential
        The model, compiled if the saved one was.

    Raises
    ------
    ValueError
        If the file is not a valid model file (or not a regular file).
    OSError
        If `path` cannot be opened (FileNotFoundError for a missing file).

    See Also
    --------
    save_model, StreamingModel

    Examples
    --------
    >>> model = rf.Sequential([rf.GRU(4, input_size=2, seed=0), rf.Dense(1, input_size=4, seed=1)])
    >>> model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    >>> model.save("m.safetensors")
    >>> loaded = rf.load_model("m.safetensors")
    >>> [type(layer).__name__ for layer in loaded.layers], loaded.loss.name, loaded.metrics
    (['GRU', 'Dense'], 'binary_crossentropy', ['accuracy'])
    >>> with open("bad.safetensors", "wb") as f:
    ...     _ = f.write(b"not a model file")
    >>> rf.load_model("bad.safetensors")
    Traceback (most recent call last):
    ...
    ValueError: 'bad.safetensors' declares a header of ... bytes; a model file's is 2 to 1048576 bytes
    """
    checked: list[Any] = []
    tensors, _metadata = read_file(path, lambda meta, specs: checked.extend(_check_model(meta, specs)))
    plans, compiled = checked
    if compiled is not None and int(tensors["optimizer.iterations"]) < 0:
        raise ValueError(f"{os.fspath(path)!r} has a negative optimizer.iterations")
    by_layer: list[dict[str, np.ndarray]] = [{} for _ in plans]
    state: dict[str, np.ndarray] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            state[key[len("optimizer."):]] = value
        else:
            index, weight = key[len("layers."):].split(".", 1)
            by_layer[int(index)][weight] = value
    try:  # the checks above leave nothing for these to refuse; a refusal still names the file
        layers = [plan.build() for plan in plans]
        for layer, weights in zip(layers, by_layer):
            layer.set_weights(weights)
        model = get_class("Sequential")(layers)  # type: ignore[misc]
    except (TypeError, ValueError) as error:
        raise ValueError(f"{os.fspath(path)!r} holds a model rnnfast cannot build: {error}") from None
    if compiled is not None:
        loss, optimizer, metrics = compiled
        optimizer.set_state(state)
        model.compile(loss=loss, optimizer=optimizer, metrics=metrics)
    return model
