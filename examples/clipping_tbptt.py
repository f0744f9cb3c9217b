"""Example (c): gradient clipping and truncated BPTT on long sequences — 8 series of 10,000 steps each, a
model predicting the next value at every step.

1. Truncated BPTT: fit(..., tbptt_steps=100) runs each batch in chunks of 100 steps, carrying the state and
   backpropagating within a chunk only, so training memory follows the chunk, not the 10,000 steps. The
   script trains the same LSTM with full and truncated BPTT and prints the loss and the process's peak memory.
2. Gradient clipping: a SimpleRNN whose recurrent weights start large (1.5× the orthogonal initialisation) has
   exploding gradients; with plain SGD the weights blow up to NaN within the first epoch, while clipnorm (per
   weight) or global_clipnorm (all weights together) keep the steps bounded and it learns.

    python examples/clipping_tbptt.py            # about a minute; writes clipping_tbptt.png here
    python examples/clipping_tbptt.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import rnnfast as rf


def long_series(count: int, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sines whose frequency drifts slowly; x (count, steps, 1), y = the next value at every step."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)
    freq = 0.05 + 0.03 * np.sin(2 * np.pi * t[None, :] / rng.uniform(2000, 6000, (count, 1)))
    s = np.sin(np.cumsum(freq, axis=1) + rng.uniform(0, 6.3, (count, 1))) + 0.05 * rng.normal(size=(count, steps + 1))
    s = s.astype(np.float32)
    return s[:, :-1, None], s[:, 1:, None]


def peak_mib() -> float:
    """The process's peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return kib / 1024


def seq2seq(cell, units: int, seed: int, **options) -> rf.Sequential:
    return rf.Sequential([cell(units, return_sequences=True, seed=seed, **options), rf.Dense(1, seed=seed + 1)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    steps, epochs = (2000, 2) if args.quick else (10000, 8)
    x, y = long_series(8, steps)

    print(f"1. truncated BPTT: LSTM(32), 8 sequences of {steps} steps, next-value prediction")
    tbptt_curve = []
    for chunk in (100, None):
        model = seq2seq(rf.LSTM, 32, seed=1)
        model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.005))
        history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, tbptt_steps=chunk, seed=0)
        label = f"tbptt_steps={chunk}" if chunk else "full BPTT"
        print(f"   {label:16s} loss per epoch {' '.join(f'{v:.4f}' for v in history.history['loss'])}; "
              f"{len(history.history['loss']) * (steps // (chunk or steps))} updates; "
              f"process peak memory so far {peak_mib():.0f} MiB")
        if chunk:
            tbptt_curve = history.history["loss"]

    print("2. clipping: SimpleRNN(32) with its recurrent kernel scaled by 1.5, SGD(0.1), tbptt_steps=100")
    curves = {}
    for label, clipping in (("no clipping", {}), ("clipnorm=1", {"clipnorm": 1.0}),
                            ("global_clipnorm=1", {"global_clipnorm": 1.0})):
        model = seq2seq(rf.SimpleRNN, 32, seed=3)
        model.layers[0].build(1)
        w = model.layers[0].get_weights()
        w["recurrent_kernel"] *= 1.5
        model.layers[0].set_weights(w)
        model.compile(loss="mse", optimizer=rf.optimizers.SGD(0.1, **clipping))
        with np.errstate(all="ignore"):
            history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, tbptt_steps=100, seed=0)
        curves[label] = history.history["loss"]
        print(f"   {label:18s} loss per epoch {' '.join(f'{v:.4g}' for v in curves[label])}")

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(range(1, len(tbptt_curve) + 1), tbptt_curve, "o-")
    axes[0].set_title(f"LSTM, tbptt_steps=100 over {steps} steps")
    for label, curve in curves.items():
        diverged = not all(np.isfinite(curve))
        finite = [v if np.isfinite(v) else np.nan for v in curve]
        axes[1].plot(range(1, len(curve) + 1), finite, "o-", label=label + (" (diverged: NaN)" if diverged else ""))
    axes[1].set_yscale("log")
    axes[1].set_title("exploding gradients: SimpleRNN, SGD(0.1)")
    axes[1].legend()
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylabel("training MSE")
    fig.tight_layout()
    fig.savefig(args.out / "clipping_tbptt.png", dpi=100)
    print(f"plot: {args.out / 'clipping_tbptt.png'}")


if __name__ == "__main__":
    main()
