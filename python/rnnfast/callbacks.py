"""What fit() records and calls: History, Callback and EarlyStopping, with Keras' names and rules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import Sequential


class History:
    """What fit() returns: history[name] is a list of one value per epoch (loss, metrics, val_*)."""

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
    """Hooks of fit(); the model is set as self.model. on_epoch_end may set model.stop_training = True."""

    model: Sequential

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...
    def on_train_end(self, logs: dict[str, float] | None = None) -> None: ...


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than min_delta for `patience` epochs (Keras);
    restore_best_weights puts back the weights of the best epoch when it stops or training ends."""

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
        self.best = -math.inf if self.higher_is_better else math.inf
        self.wait = 0
        self.best_weights: list[dict[str, np.ndarray]] | None = None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit() does not log "
                             f"(it logs {sorted(logs)})")
        value = logs[self.monitor]
        improved = value > self.best + self.min_delta if self.higher_is_better else value < self.best - self.min_delta
        if improved:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
