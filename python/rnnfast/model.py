"""Sequential models: a stack of layers trained with compile() and fit(), Keras' habits.

    model = rf.Sequential([rf.LSTM(32, return_sequences=True), rf.LSTM(32), rf.Dense(1)])
    model.compile(loss="mse", optimizer=rf.optimizers.Adam(1e-3, clipnorm=1.0))
    history = model.fit(x, y, batch_size=32, epochs=10, validation_data=(xv, yv),
                        callbacks=[rf.EarlyStopping(patience=3)])
    model.evaluate(xv, yv), model.predict(x_new)

Per-sequence `lengths` are passed to every recurrent layer; when the model's output is a sequence, the loss and
the metrics leave out the steps past each sequence's length. `fit(..., tbptt_steps=k)` trains by truncated
backpropagation through time (see fit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from ._registry import deserialize, register, serialize
from .callbacks import Callback, History
from .layers import Layer
from .saving import save_model


def _batches(n: int, batch_size: int, order: np.ndarray) -> list[np.ndarray]:
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


@register
class Sequential:
    """A stack of layers, each feeding the next: recurrent layers (SimpleRNN, LSTM, GRU, RNN, Bidirectional;
    return_state=False, batch-major), Dense, TimeDistributed and Embedding.

    The model drives its layers through the Layer protocol (rnnfast.layers.Layer) only. Pickling and
    copy.deepcopy copy it whole: layers, weights, compile settings and the optimiser's state.
    """

    def __init__(self, layers: Sequence[Any] | None = None) -> None:
        self.layers: list[Any] = []
        for layer in layers or []:
            self.add(layer)
        self.loss: _losses.Loss | None = None
        self.optimizer: _optimizers.Optimizer | None = None
        self.metrics: list[str] = []
        self.stop_training = False

    def add(self, layer: Any) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes rnnfast layers, got {type(layer).__name__}")
        layer.check_stackable()
        self.layers.append(layer)

    # ---- configuration --------------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """{"layers": [{"class": name, "config": layer.get_config()}, ...]} (JSON-serialisable; no weights, no
        compile settings)."""
        return {"layers": [serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Sequential:
        """A model of the layers of `config` (as get_config() returns it), with fresh weights."""
        if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
            raise ValueError(f"a Sequential config is {{'layers': [serialized layers]}}, got {config!r}")
        return cls([deserialize(entry) for entry in config["layers"]])

    def count_params(self) -> int:
        """The number of weight values of every layer (a layer not built yet counts 0)."""
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
        """Prints one row per layer (name, output shape, parameter count) and the totals, as Keras does.
        Output shapes have None for the batch and time sizes; "?" where the input size is not known yet."""
        width = max(int(line_length or 80), 40)
        name_w, param_w = width * 4 // 10, width * 2 // 10
        shape_w = width - name_w - param_w
        lines = ['Model: "sequential"', "━" * width,
                 f"{'Layer (type)':<{name_w}}{'Output Shape':<{shape_w}}{'Param #':>{param_w}}", "━" * width]
        shape = self.layers[0].input_shape if self.layers else None
        for layer in self.layers:
            shape = None if shape is None else layer.compute_output_shape(shape)
            name = layer.name
            params = f"{layer.count_params():,}" + ("" if layer.built else " (unbuilt)")
            row_shape = "?" if shape is None else "(" + ", ".join(str(n) for n in shape) + ")"
            lines.append(f"{f'{name} ({type(layer).__name__})':<{name_w}}{row_shape:<{shape_w}}{params:>{param_w}}")
        total = self.count_params()
        itemsize = max((w.dtype.itemsize for layer in self.layers for w in layer.trainable_weights.values()),
                       default=4)
        lines += ["━" * width, f" Total params: {total:,} ({_byte_size(total * itemsize)})",
                  f" Trainable params: {total:,} ({_byte_size(total * itemsize)})", " Non-trainable params: 0 (0.00 B)"]
        (print_fn or print)("\n".join(lines))

    def compile(self, loss: Any, optimizer: Any = "adam", metrics: Sequence[str] | None = None) -> None:
        """loss: a name ("mse", "mae", "binary_crossentropy", "sparse_categorical_crossentropy") or an rnnfast
        loss; optimizer: a name or an rnnfast optimiser; metrics: ["accuracy"] for classification losses."""
        self.loss = _losses.get(loss)
        self.optimizer = _optimizers.get(optimizer)
        for m in metrics or []:
            if m not in ("accuracy", "acc"):
                raise ValueError(f"unknown metric {m!r}: rnnfast knows 'accuracy'")
            if not isinstance(self.loss, (_losses.BinaryCrossentropy, _losses.SparseCategoricalCrossentropy)):
                raise ValueError("accuracy needs binary_crossentropy or sparse_categorical_crossentropy")
        self.metrics = ["accuracy"] if metrics else []

    # ---- weights ----------------------------------------------------------------------------------------------
    def get_weights(self) -> list[dict[str, np.ndarray]]:
        """One dict per layer, as the layer's get_weights()."""
        return [layer.get_weights() for layer in self.layers]

    def set_weights(self, weights: Sequence[Any]) -> None:
        if len(weights) != len(self.layers):
            raise ValueError(f"set_weights expects {len(self.layers)} dicts (one per layer), got {len(weights)}")
        for layer, w in zip(self.layers, weights):
            layer.set_weights(w)

    def _parameters(self) -> dict[str, np.ndarray]:
        """The live weight arrays, "<layer index>/<name>", updated in place by the optimiser."""
        return {f"{i}/{k}": v for i, layer in enumerate(self.layers) for k, v in layer.trainable_weights.items()}

    # ---- forward and backward ---------------------------------------------------------------------------------
    def __call__(self, x: Any, lengths: Any = None, training: bool = False) -> np.ndarray:
        out = x
        for layer in self.layers:
            out = layer.call_in_model(out, lengths, training)
        return out

    def step(self, x_t: Any) -> np.ndarray:
        """One time step of every layer with the recurrent states kept inside (each layer's step(), in C++):
        x_t is (batch, features), or (batch,) integer ids for an Embedding; returns the model's output for this
        step. reset_step() zeros the states. Bidirectional and go_backwards layers cannot run one step at a
        time."""
        out = x_t
        for layer in self.layers:
            out = layer.step_in_model(out)
        return out

    def reset_step(self) -> None:
        """Zero the states step() carries."""
        for layer in self.layers:
            layer.reset_step()

    def _backward(self, d_out: np.ndarray) -> dict[str, np.ndarray]:
        grads: dict[str, np.ndarray] = {}
        d: Any = d_out
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.layers[i].backward(d)
            grads.update({f"{i}/{k}": v for k, v in g.items() if k not in ("x", "initial_state")})
            d = g["x"]
            if d is None:  # an Embedding: nothing below it
                break
        return grads

    def _mask(self, out: np.ndarray, lengths: np.ndarray | None) -> np.ndarray | None:
        """Steps past each sequence's length leave a sequence output's loss and metrics."""
        if lengths is None or out.ndim != 3:
            return None
        return (np.arange(out.shape[1])[None, :] < np.asarray(lengths)[:, None]).astype(np.float64)

    def _require_compiled(self) -> tuple[_losses.Loss, _optimizers.Optimizer]:
        if self.loss is None or self.optimizer is None:
            raise ValueError("compile() the model first")
        return self.loss, self.optimizer

    def train_on_batch(self, x: Any, y: Any, lengths: Any = None) -> dict[str, float]:
        """One optimiser step on one batch; returns its loss (and metrics) before the step."""
        loss_fn, optimizer = self._require_compiled()
        out = self(x, lengths=lengths, training=True)
        mask = self._mask(out, lengths)
        value, d_out = loss_fn.value_and_gradient(y, out, mask)
        optimizer.apply(self._parameters(), self._backward(d_out))
        for layer in self.layers:
            layer.weights_updated()  # packed weights, step() streams and NumPy cells take the new values
        logs = {"loss": value}
        if self.metrics:
            logs["accuracy"] = _losses.accuracy(loss_fn, y, out, mask)
        return logs

    # ---- Keras' loop ------------------------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, batch_size: int = 32, epochs: int = 1, verbose: int = 1,
            validation_data: tuple[Any, ...] | None = None, shuffle: bool = True,
            callbacks: Sequence[Callback] | None = None, lengths: Any = None, tbptt_steps: int | None = None,
            seed: int | None = None) -> History:
        """Trains for `epochs` passes over (x, y) in batches; returns a History.

        validation_data: (x_val, y_val) or (x_val, y_val, lengths_val), evaluated after each epoch.
        shuffle: a new order of the samples each epoch (from `seed`). verbose: 0 silent, 1 a progress bar per
        epoch (tqdm), 2 one line per epoch.
        tbptt_steps=k: truncated BPTT. Each batch of sequences runs in chunks of k steps; the recurrent state is
        carried from chunk to chunk (starting from zeros), and each chunk is backpropagated and stepped on its
        own, so memory is bounded by the chunk, not the sequence. Targets with a time axis (y of shape (n, time,
        ...)) are cut alike; targets per sequence only train on the last chunk (the earlier ones advance the
        state).
        """
        from tqdm.auto import tqdm

        _loss_fn, _ = self._require_compiled()
        x_arr, y_arr = np.asarray(x), np.asarray(y)
        n = len(x_arr)
        if len(y_arr) != n:
            raise ValueError(f"x and y must hold the same number of samples, got {n} and {len(y_arr)}")
        lens = None if lengths is None else np.asarray(lengths)
        if lens is not None and lens.shape != (n,):
            raise ValueError(f"lengths must have shape ({n},), got {lens.shape}")
        if tbptt_steps is not None:
            tbptt_steps = int(tbptt_steps)
            if tbptt_steps < 1:
                raise ValueError(f"tbptt_steps must be >= 1, got {tbptt_steps}")
            if any(layer.needs_whole_sequence for layer in self.layers):
                raise ValueError("truncated BPTT cannot run a Bidirectional layer (its backward direction needs the "
                                 "whole sequence)")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        rng = np.random.default_rng(seed)
        history = History()
        callbacks = list(callbacks or [])
        for cb in callbacks:
            cb.model = self
            cb.on_train_begin()
        self.stop_training = False
        for epoch in range(int(epochs)):
            order = rng.permutation(n) if shuffle else np.arange(n)
            batches = _batches(n, batch_size, order)
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=verbose != 1, leave=True, unit="batch")
            sums: dict[str, float] = {}
            seen = 0
            for idx in bar:
                xb, yb = x_arr[idx], y_arr[idx]
                lb = None if lens is None else lens[idx]
                logs = self.train_on_batch(xb, yb, lb) if tbptt_steps is None else self._train_tbptt(xb, yb, lb,
                                                                                                  tbptt_steps)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
                seen += len(idx)
                bar.set_postfix({k: f"{v / seen:.4g}" for k, v in sums.items()}, refresh=False)
            epoch_logs = {k: v / max(seen, 1) for k, v in sums.items()}
            if validation_data is not None:
                xv, yv, *rest = validation_data
                values = self.evaluate(xv, yv, batch_size=batch_size, lengths=rest[0] if rest else None,
                                       return_dict=True)
                epoch_logs.update({f"val_{k}": v for k, v in values.items()})
            history._record(epoch, epoch_logs)
            if verbose == 2 or (verbose == 1 and validation_data is not None):
                print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4g}" for k, v in epoch_logs.items()))
            for cb in callbacks:
                cb.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _train_tbptt(self, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None, k: int) -> dict[str, float]:
        recurrent = [layer for layer in self.layers if layer.carries_state]
        time = x.shape[1]
        per_step_targets = y.ndim >= 2 and y.shape[1] == time
        saved = [(layer, layer.stateful) for layer in recurrent]
        totals: dict[str, float] = {}
        weight = 0.0
        try:
            for layer in recurrent:
                layer.reset_states()
                layer.stateful = True
            for start in range(0, time, k):
                stop = min(start + k, time)
                xc = x[:, start:stop]
                lc = None if lengths is None else np.clip(lengths - start, 0, stop - start)
                last = stop == time
                if not (per_step_targets or last):
                    self(xc, lengths=lc)  # advances the carried state; nothing to learn from here
                    continue
                logs = self.train_on_batch(xc, y[:, start:stop] if per_step_targets else y, lc)
                share = float(stop - start) if per_step_targets else 1.0
                for name, v in logs.items():
                    totals[name] = totals.get(name, 0.0) + v * share
                weight += share
        finally:
            for layer, stateful in saved:
                layer.stateful = stateful
                layer.reset_states()
        return {name: v / weight for name, v in totals.items()}

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, lengths: Any = None, verbose: int = 0,
                 return_dict: bool = False) -> Any:
        """The loss (and metrics) over (x, y), batch by batch without training: a float, or [loss, *metrics],
        or a dict with return_dict=True."""
        from tqdm.auto import tqdm

        loss_fn, _ = self._require_compiled()
        x_arr, y_arr = np.asarray(x), np.asarray(y)
        lens = None if lengths is None else np.asarray(lengths)
        totals: dict[str, float] = {}
        weight = 0.0
        for idx in tqdm(_batches(len(x_arr), int(batch_size), np.arange(len(x_arr))), disable=verbose != 1,
                        desc="evaluate", unit="batch"):
            lb = None if lens is None else lens[idx]
            out = self(x_arr[idx], lengths=lb)
            mask = self._mask(out, lb)
            count = float(mask.sum()) if mask is not None else float(len(idx))
            totals["loss"] = totals.get("loss", 0.0) + loss_fn(y_arr[idx], out, mask) * count
            if self.metrics:
                totals["accuracy"] = totals.get("accuracy", 0.0) + _losses.accuracy(loss_fn, y_arr[idx], out,
                                                                                    mask) * count
            weight += count
        values = {k: v / max(weight, 1.0) for k, v in totals.items()}
        if return_dict:
            return values
        return [values["loss"], values["accuracy"]] if self.metrics else values["loss"]

    def predict(self, x: Any, batch_size: int = 32, lengths: Any = None, verbose: int = 0) -> np.ndarray:
        """The model's outputs for x, batch by batch (inference: no dropout)."""
        from tqdm.auto import tqdm

        x_arr = np.asarray(x)
        lens = None if lengths is None else np.asarray(lengths)
        outs = [self(x_arr[idx], lengths=None if lens is None else lens[idx])
                for idx in tqdm(_batches(len(x_arr), int(batch_size), np.arange(len(x_arr))), disable=verbose != 1,
                                desc="predict", unit="batch")]
        return np.concatenate(outs) if outs else np.zeros((0,))

    def save(self, path: Any) -> None:
        """Architecture, weights, compile settings and optimiser state in one file (see rnnfast.saving);
        rnnfast.load_model(path) reads it back."""
        save_model(self, path)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])"


def _byte_size(n: int) -> str:
    """Keras' size of a parameter count: B, KB, MB, GB (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"
