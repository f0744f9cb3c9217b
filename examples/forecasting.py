"""Example (a): forecasting a time series — a noisy sum of two sines, 50 steps in — one step ahead and ten steps
ahead, with SimpleRNN, LSTM and GRU, against a naive last-value forecast and a linear model on the same window.

    python examples/forecasting.py            # about a minute; writes forecasting_*.png next to this file
    python examples/forecasting.py --quick    # a few epochs, for a smoke test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import rnnfast as rf
from rnnfast.__main__ import linear_forecast

CELLS = {"SimpleRNN": rf.SimpleRNN, "LSTM": rf.LSTM, "GRU": rf.GRU}


def train(cell, ahead: int, data, epochs: int, seed: int) -> tuple[rf.Sequential, float, float]:
    x_train, y_train, x_valid, y_valid = data
    model = rf.Sequential([cell(20, return_sequences=True, seed=seed), cell(20, seed=seed + 1),
                           rf.Dense(ahead, seed=seed + 2)])
    model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.005))
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_valid, y_valid), verbose=0,
              seed=seed, callbacks=[rf.EarlyStopping(patience=3, restore_best_weights=True)])
    return model, float(model.evaluate(x_valid, y_valid, batch_size=500)), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    epochs, count = (2, 1500) if args.quick else (20, 8000)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, float]] = {}
    examples: dict[int, dict[str, np.ndarray]] = {}
    for ahead in (1, 10):
        x, y = rf.datasets.time_series(count + 1000, 50, ahead=ahead, seed=42)
        data = (x[:count], y[:count], x[count:], y[count:])
        x_valid, y_valid = data[2], data[3]
        scores = {"naive": float(np.mean((np.repeat(x_valid[:, -1], ahead, axis=1) - y_valid) ** 2)),
                  "linear": float(np.mean((linear_forecast(data[0], data[1], x_valid) - y_valid) ** 2))}
        examples[ahead] = {"x": x_valid[0, :, 0], "y": y_valid[0]}
        for name, cell in CELLS.items():
            model, mse, seconds = train(cell, ahead, data, epochs, seed=7)
            scores[name] = mse
            examples[ahead][name] = model.predict(x_valid[:1])[0]
            print(f"{ahead:2d} ahead  {name:10s} validation MSE {mse:.5f}  ({seconds:.1f} s)")
        print(f"{ahead:2d} ahead  naive      {scores['naive']:.5f}, linear {scores['linear']:.5f}")
        results[ahead] = scores

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, ahead in zip(axes, (1, 10)):
        names = list(results[ahead])
        ax.bar(names, [results[ahead][n] for n in names], color=["#999", "#777", "C0", "C1", "C2"])
        ax.set_yscale("log")
        ax.set_title(f"validation MSE, {ahead} step{'s' if ahead > 1 else ''} ahead")
    fig.tight_layout()
    fig.savefig(args.out / "forecasting_mse.png", dpi=100)

    fig, ax = plt.subplots(figsize=(9, 4))
    ex = examples[10]
    ax.plot(range(50), ex["x"], "k.-", label="input")
    ax.plot(range(50, 60), ex["y"], "ko-", label="target")
    for k, name in enumerate(CELLS):
        ax.plot(range(50, 60), ex[name], "x-", color=f"C{k}", label=name)
    ax.set_xlabel("step")
    ax.legend()
    ax.set_title("ten steps ahead, one validation series")
    fig.tight_layout()
    fig.savefig(args.out / "forecasting_series.png", dpi=100)
    print(f"plots: {args.out / 'forecasting_mse.png'}, {args.out / 'forecasting_series.png'}")


if __name__ == "__main__":
    main()
