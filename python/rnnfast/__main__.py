"""``python -m rnnfast demo``: train SimpleRNN, LSTM and GRU forecasters and compare them with simple baselines.

``python -m rnnfast info``: version, product backend and threads.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import rnnfast as rf

from ._engine import core as _core


def forecasters(units: int, seed: int) -> dict[str, rf.Sequential]:
    """The three recurrent forecasters of examples/forecasting.py: one recurrent layer and a linear head."""
    return {name: rf.Sequential([cls(units, seed=seed), rf.Dense(1, seed=seed + 1)])
            for name, cls in (("SimpleRNN", rf.SimpleRNN), ("LSTM", rf.LSTM), ("GRU", rf.GRU))}


def linear_forecast(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Least squares on the whole input window (and a constant): the linear model every RNN must beat."""
    def design(x: np.ndarray) -> np.ndarray:
        return np.hstack([x[:, :, 0], np.ones((len(x), 1), dtype=x.dtype)])
    coef, *_ = np.linalg.lstsq(design(x_train).astype(np.float64), y_train.astype(np.float64), rcond=None)
    return design(x_test) @ coef


def demo(epochs: int = 20, units: int = 20, seed: int = 42) -> dict[str, float]:
    """Trains SimpleRNN, LSTM and GRU forecasters of the next value of a noisy sum of sines (50 steps in) with
    Sequential.fit, and prints their test MSE next to a naive last-value forecast and a linear model."""
    x, y = rf.datasets.time_series(7000, 50, seed=seed)
    x_train, y_train, x_test, y_test = x[:6000], y[:6000], x[6000:], y[6000:]
    results = {"naive (last value)": float(np.mean((x_test[:, -1] - y_test) ** 2)),
               "linear (50 inputs)": float(np.mean((linear_forecast(x_train, y_train, x_test) - y_test) ** 2))}
    print(f"rnnfast {rf.__version__} demo: forecasting the next value of a noisy sum of sines (50 steps in)")
    print(f"  train {x_train.shape}, test {x_test.shape}; {epochs} epochs of Adam, batch 32")
    for name, model in forecasters(units, seed).items():
        model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.005))
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0, seed=seed)
        results[name] = float(model.evaluate(x_test, y_test, batch_size=500))
        print(f"  {name:10s} trained in {time.perf_counter() - start:5.1f} s")
    print("  test MSE:")
    for name, mse in results.items():
        print(f"    {name:20s} {mse:.5f}")
    return results


def info() -> None:
    print(f"rnnfast {rf.__version__}; products: {_core.gemm_backend()}; instruction set: {_core.instruction_set}; "
          f"threads: {rf.get_num_threads()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnfast", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train three small forecasters and print how they compare")
    p_demo.add_argument("--epochs", type=int, default=20)
    p_demo.add_argument("--units", type=int, default=20)
    sub.add_parser("info", help="version, product backend, threads")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.epochs, args.units)
    else:
        info()
    return 0


if __name__ == "__main__":
    sys.exit(main())
