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
    """A stack of layers, each feeding the next, trained with Keras' compile / fit / evaluate / predict.

    The layers: the recurrent ones (SimpleRNN, LSTM, GRU, RNN, Bidirectional), batch-major and with
    ``return_state=False``, stacked with ``return_sequences=True`` below another recurrent layer; Dense (on a
    sequence it acts on every step, as TimeDistributed(Dense)), TimeDistributed, and Embedding as the first
    layer for integer ids. The input is a batch of sequences, ``(batch, time, features)`` (or ``(batch, time)``
    integer ids for an Embedding); the output is ``(batch, units)`` after a last recurrent layer with
    ``return_sequences=False``, or a sequence ``(batch, time, units)``.

    Variable-length sequences are given as per-sequence `lengths` to fit, evaluate and predict (there is no
    Keras mask, no Masking layer or ``mask_zero``): the valid steps must come first in each row (back-padding),
    see fit. A layer creates its weights when it is given ``input_size``, or else when it first sees its input
    (a Dense after a recurrent layer does not infer its size from it before the model is called). The model
    drives its layers through the Layer protocol (rnnfast.layers.Layer) only. Pickling and copy.deepcopy copy
    it whole: layers, weights, compile settings and the optimiser's state.

    Parameters
    ----------
    layers : Sequence of Layer or None, default None
        The layers, first to last; each is checked as add() checks it. None: an empty model to add() to.

    Attributes
    ----------
    layers : list of Layer
        The layers.
    loss : rnnfast.losses.Loss or None
        Set by compile (None before).
    optimizer : rnnfast.optimizers.Optimizer or None
        Set by compile (None before).
    metrics : list of str
        ``["accuracy"]`` or ``[]``, set by compile.
    stop_training : bool
        Set to True by a callback to end fit after the current epoch; fit resets it to False when it starts.

    Raises
    ------
    TypeError, ValueError
        As add().

    Examples
    --------
    >>> x, y = rf.datasets.time_series(64, 20, seed=0)
    >>> model = rf.Sequential([rf.LSTM(16, return_sequences=True, seed=0), rf.LSTM(16, seed=1), rf.Dense(1, seed=2)])
    >>> model.compile(loss="mse", optimizer=rf.optimizers.Adam(1e-3, clipnorm=1.0))
    >>> history = model.fit(x[:48], y[:48], batch_size=16, epochs=2, verbose=0, validation_data=(x[48:], y[48:]),
    ...                     callbacks=[rf.EarlyStopping(patience=3)], seed=0)
    >>> sorted(history.history)
    ['loss', 'val_loss']
    >>> model.predict(x[:5]).shape
    (5, 1)
    >>> model.count_params()
    3281
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
        """Append a layer to the top of the stack.

        Parameters
        ----------
        layer : Layer
            An rnnfast layer that can be part of a Sequential model (a recurrent layer with
            ``return_state=False`` and ``time_major=False``).

        Raises
        ------
        TypeError
            If `layer` is not an rnnfast layer (Keras and PyTorch layers are not; see from_keras, from_torch).
        ValueError
            If the layer cannot be stacked (``return_state=True`` or ``time_major=True``).

        Examples
        --------
        >>> model = rf.Sequential()
        >>> model.add(rf.GRU(8, input_size=3))
        >>> model.add(rf.Dense(1))
        >>> len(model.layers)
        2
        """
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes rnnfast layers, got {type(layer).__name__}")
        layer.check_stackable()
        self.layers.append(layer)

    # ---- configuration --------------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Return the architecture: every layer's class and config (no weights, no compile settings).

        Returns
        -------
        dict
            ``{"layers": [{"class": name, "config": layer.get_config()}, ...]}``, JSON-serialisable; from_config
            rebuilds the model from it.

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(4, input_size=2), rf.Dense(1)])
        >>> [entry["class"] for entry in model.get_config()["layers"]]
        ['GRU', 'Dense']
        """
        return {"layers": [serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Sequential:
        """Build a model from an architecture, as get_config() returns it, with fresh weights.

        A layer with a seed gets the initial weights it had when first built; weights, compile settings and
        states are not part of a config (save and load_model carry them).

        Parameters
        ----------
        config : Mapping
            ``{"layers": [{"class": name, "config": {...}}, ...]}``.

        Returns
        -------
        Sequential
            A new, uncompiled model.

        Raises
        ------
        ValueError
            If `config` is not of that form, or names an unknown layer class.

        Examples
        --------
        >>> model = rf.Sequential([rf.LSTM(4, input_size=2, seed=0), rf.Dense(1, seed=1)])
        >>> clone = rf.Sequential.from_config(model.get_config())
        >>> clone
        Sequential([
          LSTM(4, input_size=2, seed=0),
          Dense(1, seed=1)
        ])
        """
        if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
            raise ValueError(f"a Sequential config is {{'layers': [serialized layers]}}, got {config!r}")
        return cls([deserialize(entry) for entry in config["layers"]])

    def count_params(self) -> int:
        """Return the number of weight values of every layer (all trainable; a layer not built yet counts 0).

        Returns
        -------
        int
            The total, as Keras' ``count_params``.

        Examples
        --------
        >>> rf.Sequential([rf.SimpleRNN(4, input_size=2), rf.Dense(1, input_size=4)]).count_params()
        33
        """
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print a table of the layers and the parameter counts, as Keras' ``model.summary()``.

        One row per layer: its name and class, its output shape and its parameter count, then the totals (with
        their size in bytes). Output shapes have None for the batch and time sizes, and "?" where the input size
        is not known yet (the first layer without input_size, before the model was called); a layer not built
        yet is marked "(unbuilt)" and counts 0.

        Parameters
        ----------
        line_length : int or None, default None
            The table's width in characters; None: 80. At least 40 is used.
        print_fn : callable or None, default None
            Called once with the whole table as one string (lines separated by newlines); None: print.

        Examples
        --------
        >>> model = rf.Sequential([rf.LSTM(8, input_size=3), rf.Dense(1)])
        >>> model.summary(line_length=60)
        Model: "sequential"
        ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
        Layer (type)            Output Shape                 Param #
        ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
        lstm... (LSTM)          (None, 8)                        384
        dense... (Dense)        (None, 1)                0 (unbuilt)
        ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
         Total params: 384 (1.50 KB)
         Trainable params: 384 (1.50 KB)
         Non-trainable params: 0 (0.00 B)
        >>> lines = []
        >>> model.summary(print_fn=lines.append)
        >>> len(lines)
        1
        """
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
        """Set the loss, the optimiser and the metrics for training and evaluation.

        Compiling again replaces all three; a new optimiser starts without state. Note the order of the
        arguments: ``compile(loss, optimizer)``, where Keras has ``compile(optimizer, loss)``; pass them by keyword.

        Parameters
        ----------
        loss : str or rnnfast.losses.Loss
            A name (``"mse"``, ``"mae"``, ``"binary_crossentropy"``, ``"sparse_categorical_crossentropy"`` and
            their aliases, see rnnfast.losses.get) or a loss instance, e.g.
            ``rf.losses.SparseCategoricalCrossentropy(from_logits=True)``. Required (unlike Keras).
        optimizer : str or rnnfast.optimizers.Optimizer, default "adam"
            A name (``"sgd"``, ``"rmsprop"``, ``"adam"``, with Keras' defaults) or an optimiser instance, used
            as it is (give each model its own). Keras' default is ``"rmsprop"``.
        metrics : Sequence of str or None, default None
            None or ``[]``: the loss alone. ``["accuracy"]`` (or ``["acc"]``): the accuracy as well, logged as
            ``"accuracy"``; only with binary_crossentropy or sparse_categorical_crossentropy.

        Raises
        ------
        ValueError
            For an unknown loss, optimiser or metric, or accuracy with a regression loss.

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(8, input_size=3), rf.Dense(4)])
        >>> model.compile(loss=rf.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...               optimizer=rf.optimizers.RMSprop(1e-3), metrics=["accuracy"])
        >>> model.loss.name, type(model.optimizer).__name__, model.metrics
        ('sparse_categorical_crossentropy', 'RMSprop', ['accuracy'])
        """
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
        """Return copies of every layer's weights: one dict per layer, as the layer's get_weights().

        Unlike Keras' flat list of arrays, each layer's weights are a dict by name (e.g. ``"kernel"``,
        ``"recurrent_kernel"``, ``"bias"``), in Keras' layouts; an unbuilt layer gives ``{}``.

        Returns
        -------
        list[dict[str, numpy.ndarray]]

        Examples
        --------
        >>> model = rf.Sequential([rf.LSTM(4, input_size=2), rf.Dense(1, input_size=4)])
        >>> [{name: w.shape for name, w in layer.items()} for layer in model.get_weights()]
        [{'kernel': (2, 16), 'recurrent_kernel': (4, 16), 'bias': (16,)}, {'kernel': (4, 1), 'bias': (1,)}]
        """
        return [layer.get_weights() for layer in self.layers]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Replace every layer's weights, e.g. with what get_weights() returned.

        The states step() carries restart from zeros with the new weights.

        Parameters
        ----------
        weights : Sequence[Mapping[str, array_like]]
            One dict per layer, each with exactly the names and shapes of that layer's get_weights(); an unbuilt
            layer is built from its ``"kernel"``.

        Raises
        ------
        ValueError
            If there is not one dict per layer, or a layer refuses its dict (names, shapes).

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(4, input_size=2, seed=0), rf.Dense(1, input_size=4, seed=1)])
        >>> other = rf.Sequential([rf.GRU(4, input_size=2, seed=5), rf.Dense(1, input_size=4, seed=6)])
        >>> other.set_weights(model.get_weights())
        >>> x = np.ones((1, 3, 2), np.float32)
        >>> bool(np.array_equal(other.predict(x), model.predict(x)))
        True
        """
        if len(weights) != len(self.layers):
            raise ValueError(f"set_weights expects {len(self.layers)} dicts (one per layer), got {len(weights)}")
        for layer, w in zip(self.layers, weights):
            layer.set_weights(w)

    def _parameters(self) -> dict[str, np.ndarray]:
        """The live weight arrays, "<layer index>/<name>", updated in place by the optimiser."""
        return {f"{i}/{k}": v for i, layer in enumerate(self.layers) for k, v in layer.trainable_weights.items()}

    # ---- forward and backward ---------------------------------------------------------------------------------
    def __call__(self, x: Any, lengths: Any = None, training: bool = False) -> np.ndarray:
        """The model's output for one batch, ``model(x)``: predict without batching (see predict)."""
        out = x
        for layer in self.layers:
            out = layer.call_in_model(out, lengths, training)
        return out

    def step(self, x_t: Any) -> np.ndarray:
        """Run one time step of every layer, keeping the recurrent states inside the layers.

        For streams (audio, control, events): each layer's step(), the recurrent ones in C++ (rnnfast::Stream).
        The states start from zeros, and again after reset_step(), set_weights() or a change of the batch
        size; a training step (fit, train_on_batch) keeps them and steps on with the new weights. Step by step
        it equals predict() on each prefix of the sequence (the prefix's last step, for a sequence output); no
        dropout, no lengths. To run a saved model the way a C++ program does, see StreamingModel.

        Parameters
        ----------
        x_t : array_like
            The input of one step, ``(batch, features)``, or ``(batch,)`` integer ids for an Embedding.

        Returns
        -------
        numpy.ndarray
            The model's output for this step, ``(batch, output features)``.

        Raises
        ------
        ValueError
            If a layer cannot run one step at a time (Bidirectional, ``go_backwards=True``), or `x_t` does not
            fit.

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(4, input_size=2, seed=0), rf.Dense(1, input_size=4, seed=1)])
        >>> x = np.random.default_rng(0).standard_normal((1, 6, 2)).astype(np.float32)
        >>> for t in range(6):
        ...     y_t = model.step(x[:, t])
        >>> y_t.shape, bool(np.allclose(y_t, model.predict(x), atol=1e-6))
        ((1, 1), True)
        >>> model.reset_step()
        """
        out = x_t
        for layer in self.layers:
            out = layer.step_in_model(out)
        return out

    def reset_step(self) -> None:
        """Zero the states step() carries (a new stream starts from zeros); the layers' weights stay.

        Examples
        --------
        >>> model = rf.Sequential([rf.LSTM(4, input_size=1, seed=0), rf.Dense(1, input_size=4, seed=1)])
        >>> first = model.step(np.ones((1, 1), np.float32))
        >>> model.reset_step()
        >>> bool(np.array_equal(model.step(np.ones((1, 1), np.float32)), first))
        True
        """
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
        """Run one optimiser step on one batch, and return its loss (and accuracy) before the step.

        The forward pass runs with ``training=True`` (dropout on), the loss leaves out the steps past `lengths`
        when the output is a sequence, and the gradients of every weight go to one optimiser step. fit calls it
        for every batch. Unlike Keras' train_on_batch it always returns a dict.

        Parameters
        ----------
        x : array_like
            One batch of inputs, ``(batch, time, features)`` (or ``(batch, time)`` ids for an Embedding).
        y : array_like
            Its targets, of the shape of the model's output (class ids for sparse_categorical_crossentropy).
        lengths : array_like of int or None, default None
            ``(batch,)`` valid steps per sequence, in [0, time], with the valid steps first in each row (see
            fit); None: every step is valid.

        Returns
        -------
        dict[str, float]
            ``{"loss": ...}``, plus ``"accuracy"`` with that metric.

        Raises
        ------
        ValueError
            If the model is not compiled, or `y` or `lengths` does not fit.

        Examples
        --------
        >>> x, y = rf.datasets.adding_problem(8, 10, seed=0)
        >>> model = rf.Sequential([rf.GRU(4, seed=0), rf.Dense(1, seed=1)])
        >>> model.compile(loss="mse")
        >>> sorted(model.train_on_batch(x, y))
        ['loss']
        """
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
        """Train the model for `epochs` passes over (x, y) in batches, as Keras' fit; return a History.

        Each epoch takes the samples in a new random order (with `shuffle`), cuts them into batches of
        `batch_size` (the last one may be smaller) and makes one optimiser step per batch (train_on_batch; with
        `tbptt_steps` and per-step targets, one per chunk of a batch). After the epoch, the model is evaluated
        on `validation_data`, the values are recorded in the History, and the callbacks' on_epoch_end run; a
        callback that sets ``model.stop_training`` ends training there. The loss recorded for an epoch is the
        mean of its batches' losses, each computed before its step and weighted by its number of sequences.

        Variable-length sequences: pass `lengths`, the number of valid steps of each sequence. The valid steps
        must come first in each row, padding after them (back-padding, ``pad_sequences(..., padding="post")``
        in Keras): the recurrent layers stop at each sequence's length (outputs past it are zeros, the state
        is that of the last valid step) and, when the output is a sequence, the loss and the metrics leave out
        the steps past each length. The padding's values do not change the result (an Embedding still needs
        valid ids there). Front-padded data (Keras' ``pad_sequences`` default, ``padding="pre"``) must be
        converted first (see the example): given as it is, the model reads the padding as the sequence and
        cuts off its last steps, and trains without an error, but wrongly.

        Truncated backpropagation through time (`tbptt_steps` = k): each batch runs in chunks of k steps. The
        recurrent states start from zeros for each batch and are carried from chunk to chunk; each chunk is
        backpropagated and stepped on its own, so training memory follows k, not the sequence length (sequences
        of thousands of steps). Targets with a time axis, of shape ``(n, time, ...)``, are cut into chunks alike
        and every chunk trains; targets per sequence (any other shape) train only on the last chunk, the earlier
        ones advancing the state without dropout. (A per-sequence target whose second axis happens to equal
        `time` is taken as per-step.) Stateful layers start every batch from zeros and are reset after it. A
        Bidirectional layer cannot be trained this way.

        Parameters
        ----------
        x : array_like
            The inputs, ``(n, time, features)`` float, or ``(n, time)`` integer ids for an Embedding first
            layer.
        y : array_like
            The targets: of the model's output shape, ``(n, units)`` or ``(n, time, units)``; integer class ids
            ``(n,)`` or ``(n, time)`` for sparse_categorical_crossentropy.
        batch_size : int, default 32
            The sequences per optimiser step, >= 1.
        epochs : int, default 1
            The number of passes over the data.
        verbose : int, default 1
            0: silent. 1: a tqdm progress bar per epoch showing the running loss (and accuracy), plus the line
            of verbose=2 when there is validation_data. 2: one line per epoch with its values, e.g.
            ``epoch 1/10: loss 0.0123, val_loss 0.0134``.
        validation_data : tuple or None, default None
            ``(x_val, y_val)`` or ``(x_val, y_val, lengths_val)``, evaluated after every epoch (as evaluate, in
            batches of `batch_size`) and logged as ``"val_loss"`` (and ``"val_accuracy"``). Keras'
            ``validation_split`` has no equivalent: slice the data yourself.
        shuffle : bool, default True
            Take the samples in a new random order every epoch; False: in the given order.
        callbacks : Sequence of Callback or None, default None
            Objects whose on_train_begin, on_epoch_end and on_train_end fit calls, e.g. EarlyStopping.
        lengths : array_like of int or None, default None
            ``(n,)`` the number of valid steps of each sequence, integers in [0, time], the valid steps first in
            each row (see above). None: every step of every sequence is valid.
        tbptt_steps : int or None, default None
            k >= 1: truncated backpropagation through time in chunks of k steps (see above). None: full
            backpropagation through every sequence.
        seed : int or None, default None
            Seed of the shuffling order (``np.random.default_rng(seed)``); None: fresh entropy. Dropout masks come
            from the layers' own seeds.

        Returns
        -------
        History
            ``history.history["loss"]`` (and ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``): one value per
            epoch run.

        Raises
        ------
        ValueError
            If the model is not compiled; x and y hold different numbers of samples; `lengths` is not of shape
            ``(n,)`` or out of range; ``batch_size < 1`` or ``tbptt_steps < 1``; `tbptt_steps` with a
            Bidirectional layer; or the targets do not fit the output.
        TypeError
            If `lengths` does not hold integers.

        Examples
        --------
        >>> x, y = rf.datasets.time_series(64, 20, seed=0)
        >>> model = rf.Sequential([rf.LSTM(8, seed=0), rf.Dense(1, seed=1)])
        >>> model.compile(loss="mse", optimizer="adam")
        >>> history = model.fit(x[:48], y[:48], batch_size=16, epochs=2, verbose=0,
        ...                     validation_data=(x[48:], y[48:]), seed=0)
        >>> sorted(history.history), len(history.history["loss"])
        (['loss', 'val_loss'], 2)

        Variable lengths, back-padded (the steps past each length are ignored):

        >>> lengths = np.random.default_rng(1).integers(5, 21, size=64)
        >>> _ = model.fit(x, y, epochs=1, verbose=0, lengths=lengths)

        Front-padded rows (Keras' pad_sequences default) moved to the front before training:

        >>> front = np.array([[0, 0, 5, 6], [0, 7, 8, 9]])
        >>> n = np.array([2, 3])
        >>> back = np.zeros_like(front)
        >>> for i, length in enumerate(n):
        ...     back[i, :length] = front[i, front.shape[1] - length:]
        >>> back
        array([[5, 6, 0, 0],
               [7, 8, 9, 0]])

        Truncated BPTT on a per-step target, the next value of the series:

        >>> seq = rf.Sequential([rf.GRU(8, return_sequences=True, seed=0), rf.Dense(1, seed=1)])
        >>> seq.compile(loss="mse")
        >>> _ = seq.fit(x[:, :-1], x[:, 1:], epochs=1, verbose=0, tbptt_steps=5)
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
        """Return the loss (and accuracy) over (x, y), computed batch by batch without training (no dropout).

        The loss is the mean over all samples, or, for a sequence output with `lengths`, over all valid steps of
        all sequences (the same value as one batch holding everything).

        Parameters
        ----------
        x : array_like
            The inputs, as for fit.
        y : array_like
            The targets, as for fit.
        batch_size : int, default 32
            The sequences per forward pass (memory, not the result).
        lengths : array_like of int or None, default None
            ``(n,)`` valid steps per sequence, the valid steps first in each row (see fit); None: all valid.
        verbose : int, default 0
            1: a tqdm progress bar; anything else: silent.
        return_dict : bool, default False
            Return ``{"loss": ..., "accuracy": ...}`` instead of a float or a list.

        Returns
        -------
        float or list[float] or dict[str, float]
            The loss; ``[loss, accuracy]`` with ``metrics=["accuracy"]``; the dict with ``return_dict=True``.

        Raises
        ------
        ValueError
            If the model is not compiled, or `y` or `lengths` does not fit.

        Examples
        --------
        >>> x, y = rf.datasets.time_series(32, 10, seed=0)
        >>> model = rf.Sequential([rf.GRU(4, seed=0), rf.Dense(1, seed=1)])
        >>> model.compile(loss="mse")
        >>> loss = model.evaluate(x, y)
        >>> isinstance(loss, float), sorted(model.evaluate(x, y, return_dict=True))
        (True, ['loss'])
        """
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
        """Return the model's outputs for x, computed batch by batch at inference (no dropout).

        Stateful layers carry their states from one batch to the next, as in Keras. With `lengths`, a recurrent
        layer's outputs past a sequence's length are zeros (a Dense after it gives ``activation(bias)`` there:
        ignore those steps) and a last recurrent layer with ``return_sequences=False`` gives the output of each
        sequence's last valid step.

        Parameters
        ----------
        x : array_like
            The inputs, ``(n, time, features)`` (or ``(n, time)`` ids for an Embedding).
        batch_size : int, default 32
            The sequences per forward pass (memory, not the result).
        lengths : array_like of int or None, default None
            ``(n,)`` valid steps per sequence, the valid steps first in each row (see fit); None: all valid.
        verbose : int, default 0
            1: a tqdm progress bar; anything else: silent.

        Returns
        -------
        numpy.ndarray
            ``(n, units)`` or ``(n, time, units)``, of the layers' dtype (float32 by default). An empty x
            gives an empty float64 array of shape ``(0,)``.

        Examples
        --------
        >>> model = rf.Sequential([rf.LSTM(4, input_size=2, return_sequences=True, seed=0),
        ...                        rf.Dense(3, input_size=4, seed=1)])
        >>> x = np.random.default_rng(0).standard_normal((5, 7, 2)).astype(np.float32)
        >>> y = model.predict(x, batch_size=2)
        >>> y.shape, y.dtype
        ((5, 7, 3), dtype('float32'))
        >>> lengths = np.array([7, 3, 5, 1, 7])
        >>> bool(np.allclose(model.predict(x, lengths=lengths)[1, :3], y[1, :3], atol=1e-6))
        True
        """
        from tqdm.auto import tqdm

        x_arr = np.asarray(x)
        lens = None if lengths is None else np.asarray(lengths)
        outs = [self(x_arr[idx], lengths=None if lens is None else lens[idx])
                for idx in tqdm(_batches(len(x_arr), int(batch_size), np.arange(len(x_arr))), disable=verbose != 1,
                                desc="predict", unit="batch")]
        return np.concatenate(outs) if outs else np.zeros((0,))

    def save(self, path: Any) -> None:
        """Write the model to one safetensors file: architecture, weights, compile settings, optimiser state.

        The same as ``rf.save_model(self, path)`` (see it for the format, the checks and the atomic write);
        ``rf.load_model(path)`` reads it back, ``rf.StreamingModel(path)`` and C++'s ``rnnfast::Model`` run it.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists).

        Raises
        ------
        ValueError
            If a layer has no weights yet, or the model cannot be held by the format (see save_model).
        OSError
            If the file cannot be written.

        Examples
        --------
        >>> model = rf.Sequential([rf.GRU(4, input_size=2, seed=0), rf.Dense(1, input_size=4, seed=1)])
        >>> model.save("m.safetensors")
        >>> rf.load_model("m.safetensors").count_params()
        101
        """
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
