"""What fit() records and calls: History, Callback and EarlyStopping, with Keras' names and rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import Sequential


class History:
    """The record of a training run, as Sequential.fit returns it (Keras' ``History``).

    ``history[name]`` is a list with one value per epoch that ran: ``"loss"``, ``"accuracy"`` when the model was
    compiled with ``metrics=["accuracy"]``, and ``"val_loss"`` / ``"val_accuracy"`` when fit was given
    validation_data. A training value is the mean of the epoch's batch values, each computed before that batch's
    optimiser step and weighted by the batch's number of sequences; a validation value is that of
    Sequential.evaluate at the end of the epoch. fit makes a new History for every call, with no constructor
    arguments.

    Attributes
    ----------
    history : dict[str, list[float]]
        The values per name, in epoch order.
    epoch : list of int
        The 0-based indices of the epochs recorded (shorter than ``epochs`` when a callback stopped training).

    Examples
    --------
    >>> x, y = rf.datasets.time_series(32, 10, seed=0)
    >>> model = rf.Sequential([rf.GRU(4, seed=0), rf.Dense(1, seed=1)])
    >>> model.compile(loss="mse")
    >>> history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x[:8], y[:8]), seed=0)
    >>> history
    History(epochs=2, keys=['loss', 'val_loss'])
    >>> history.epoch, len(history.history["val_loss"])
    ([0, 1], 2)
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def _record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class Callback:
    """The base class of the objects Sequential.fit calls during training (a subset of Keras' ``Callback``).

    Subclass it and override any of its three methods, which do nothing here; pass instances as
    ``fit(..., callbacks=[...])``. Before training begins, fit sets ``self.model`` to the model it trains, then
    calls on_train_begin, on_epoch_end after every epoch (the validation values included), and on_train_end once
    training ends, also when a callback stopped it. Setting ``self.model.stop_training = True`` in on_epoch_end
    ends training after that epoch. There are no per-batch hooks. ``self.model.optimizer.learning_rate`` may be
    assigned between epochs (a schedule), ``self.model.get_weights()`` read, and so on.

    Attributes
    ----------
    model : Sequential
        The model being trained, set by fit.

    Examples
    --------
    >>> class Halve(rf.Callback):
    ...     def on_epoch_end(self, epoch, logs):
    ...         self.model.optimizer.learning_rate /= 2
    >>> x, y = rf.datasets.time_series(16, 8, seed=0)
    >>> model = rf.Sequential([rf.SimpleRNN(4, seed=0), rf.Dense(1, seed=1)])
    >>> model.compile(loss="mse", optimizer=rf.optimizers.SGD(0.1))
    >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[Halve()])
    >>> model.optimizer.learning_rate
    0.025
    """

    model: Sequential

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Called once by fit before the first epoch, after ``self.model`` was set.

        Parameters
        ----------
        logs : dict or None, default None
            Always None from fit (kept for Keras' signature).
        """

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Called by fit at the end of every epoch, after validation.

        Parameters
        ----------
        epoch : int
            The 0-based index of the epoch that ended.
        logs : dict[str, float]
            The epoch's values, as History records them: ``"loss"``, ``"accuracy"`` (with that metric), and
            ``"val_loss"``, ``"val_accuracy"`` (with validation_data).
        """

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Called once by fit when training ends: after the last epoch, or after the epoch that stopped it.

        Parameters
        ----------
        logs : dict or None, default None
            Always None from fit (kept for Keras' signature).
        """


class EarlyStopping(Callback):
    """Stop training when a monitored value stops improving, as Keras' ``EarlyStopping`` does.

    After each epoch it compares ``logs[monitor]`` with the best value so far: an improvement is a value lower
    than the best by more than `min_delta` (higher, in max mode). The first epoch is always the best so far
    (whatever its value, NaN included, as in Keras). Training stops at the end of the epoch that makes
    `patience` epochs in a row without improvement (``patience=0`` as 1: the first epoch that does not
    improve), never at the first epoch: Keras' count. The state restarts at every fit call, so one instance
    can serve several.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The name of the value to watch, one of the keys fit logs: ``"loss"``, ``"accuracy"``, ``"val_loss"``,
        ``"val_accuracy"``. A name fit does not log raises ValueError at the end of the first epoch (the
        default ``"val_loss"`` needs validation_data).
    patience : int, default 0
        The number of epochs in a row without improvement after which training stops.
    min_delta : float, default 0.0
        The amount by which a value must beat the best to count as an improvement (its absolute value is used).
    mode : str, default "auto"
        One of ``"auto"``, ``"min"``, ``"max"``. ``"min"``: lower is better; ``"max"``: higher is better;
        ``"auto"``: max when `monitor` contains ``"acc"``, else min.
    restore_best_weights : bool, default False
        Keep a copy of the weights of the best epoch and put them back when training ends, whether this
        callback stopped it or the epochs ran out. False leaves the weights of the last epoch.

    Attributes
    ----------
    stopped_epoch : int or None
        The 0-based epoch at which it stopped training; None if it did not.
    best : float or None
        The best value seen in the current or last fit; None before its first epoch.

    Raises
    ------
    ValueError
        If `mode` is not one of the three.

    Examples
    --------
    >>> x, y = rf.datasets.time_series(32, 10, seed=0)
    >>> model = rf.Sequential([rf.GRU(4, seed=0), rf.Dense(1, seed=1)])
    >>> model.compile(loss="mse", optimizer=rf.optimizers.SGD(1e-9))  # too small a step to improve
    >>> stopper = rf.EarlyStopping(monitor="loss", patience=1, min_delta=0.01, restore_best_weights=True)
    >>> history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stopper], shuffle=False)
    >>> len(history.epoch), stopper.stopped_epoch
    (2, 1)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.higher_is_better = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.restore_best_weights = bool(restore_best_weights)
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Reset the best value, the count of epochs without improvement, the saved weights and stopped_epoch.

        Parameters
        ----------
        logs : dict or None, default None
            Not used.
        """
        self.best: float | None = None
        self.wait = 0
        self.best_weights: list[dict[str, np.ndarray]] | None = None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Compare ``logs[monitor]`` with the best value; set ``model.stop_training`` when patience runs out.

        Parameters
        ----------
        epoch : int
            The 0-based index of the epoch that ended (recorded as stopped_epoch when it stops training).
        logs : dict[str, float]
            The epoch's values, as fit passes them.

        Raises
        ------
        ValueError
            If `logs` has no value named `monitor`.
        """
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit() does not log "
                             f"(it logs {sorted(logs)})")
        value = logs[self.monitor]
        if self.best is None:  # the first epoch is the best so far, whatever its value (as in Keras)
            improved = True
        elif self.higher_is_better:
            improved = value > self.best + self.min_delta
        else:
            improved = value < self.best - self.min_delta
        if improved:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            self.model.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """With restore_best_weights, set the model's weights to those of the best epoch.

        Parameters
        ----------
        logs : dict or None, default None
            Not used.
        """
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
