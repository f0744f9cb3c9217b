"""Example (b): the short-term-memory problem. In the adding problem (rnnfast.datasets.adding_problem) the
target is the sum of two marked values, the first of them among the first 10 of 100 steps: a model must carry it
across ~90 steps. A SimpleRNN's gradient vanishes over that span and it stays at the error of predicting the
mean (about 0.17); LSTM and GRU cells learn it. Prints and plots the learning curves.

    python examples/short_term_memory.py            # about half a minute; writes short_term_memory.png here
    python examples/short_term_memory.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import rnnfast as rf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=100, help="sequence length")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    count, epochs = (1200, 2) if args.quick else (12000, 15)
    x, y = rf.datasets.adding_problem(count, args.steps, seed=0)
    split = count * 5 // 6
    curves = {}
    for name, cell in (("SimpleRNN", rf.SimpleRNN), ("LSTM", rf.LSTM), ("GRU", rf.GRU)):
        model = rf.Sequential([cell(32, seed=1), rf.Dense(1, seed=2)])
        model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.005, clipnorm=1.0))
        history = model.fit(x[:split], y[:split], batch_size=64, epochs=epochs, verbose=0, seed=0,
                            validation_data=(x[split:], y[split:]))
        curves[name] = history.history["val_loss"]
        print(f"{name:10s} validation MSE per epoch: " + " ".join(f"{v:.4f}" for v in curves[name]))
    print("predicting the mean sum (1.0) scores about 0.167")

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, "o-", label=name)
    ax.axhline(1 / 6, color="gray", ls="--", label="predict the mean")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE")
    ax.set_title(f"adding problem, {args.steps} steps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "short_term_memory.png", dpi=100)
    print(f"plot: {args.out / 'short_term_memory.png'}")


if __name__ == "__main__":
    main()
