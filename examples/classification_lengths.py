"""Sequence classification from the last output, with per-sequence `lengths`, and why the padding side matters.

The task: sequences of 16 to 64 noisy values (σ = 0.5); somewhere in each, at a random place, the values climb by 3
over 8 steps (label 1) or fall by 3 (label 0). Their sum and mean say nothing; telling the two apart takes the
order of the values, anywhere in the valid part. A linear model on the padded rows, which can only weigh each
position, gets about 0.7 (the trend a climb adds to a short sequence); a Bidirectional GRU reading each sequence
up to its length gets about 0.98.

The sequences are stored padded with zeros to 64 steps. rnnfast's `lengths` means: the first lengths[i] steps of
row i are valid, the padding after them (Keras' pad_sequences(..., padding="post")). pad_sequences pads in front
by default (padding="pre"). The script trains the same model three times:

(a) back-padded rows with their lengths: it learns the task;
(b) the same sequences front-padded, with the same lengths: no error, no warning, but the model reads the first
    lengths[i] steps of each row — the padding, then only the beginning of the sequence, or padding alone when
    lengths[i] <= 32 — and ends near the linear model (chance on the sequences of at most 32 steps);
(c) the front-padded rows moved to back padding by to_back_padding() (below): the arrays of (a) exactly, and the
    same training run.

    python examples/classification_lengths.py            # a few seconds; writes classification_lengths.png here
    python examples/classification_lengths.py --quick    # a smoke test
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

TIME = 64  # the common length the sequences are padded to
RAMP = np.linspace(-1.5, 1.5, 8)  # the climb of label 1; label 0 has its mirror image, the fall


def ramp_sequences(count: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """`count` sequences of 16 to TIME values (float32), and their labels (count, 1): 1 where the sequence
    holds a climb, 0 where it holds a fall, at a random place in Gaussian noise."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(16, TIME + 1, count)
    labels = rng.integers(0, 2, count)
    sequences = []
    for length, label in zip(lengths, labels):
        s = rng.normal(0.0, 0.5, length)
        start = rng.integers(0, length - len(RAMP) + 1)
        s[start:start + len(RAMP)] += RAMP if label else RAMP[::-1]
        sequences.append(s.astype(np.float32))
    return sequences, labels[:, None].astype(np.float32)


def pad(sequences: list[np.ndarray], padding: str) -> np.ndarray:
    """Zero-padded to TIME steps, as keras.utils.pad_sequences(sequences, TIME, "float32", padding=padding):
    (count, TIME, 1), the padding after each sequence ("post") or in front of it ("pre", Keras' default)."""
    x = np.zeros((len(sequences), TIME, 1), dtype=np.float32)
    for row, s in zip(x, sequences):
        if padding == "post":
            row[:len(s), 0] = s
        else:
            row[TIME - len(s):, 0] = s
    return x


def to_back_padding(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Front-padded rows rearranged to back padding, the layout rnnfast's `lengths` assumes.

    x: (n, time, ...) with row i's valid steps the last lengths[i] (padding="pre"); lengths: (n,) integers in
    [0, time]. Returns a new array with row i's valid steps first, in their order, and its padding after them:
    each row rotated left by its amount of padding, in one gather (step t of row i is step
    (t + time - lengths[i]) mod time of the input). The padding values move along unchanged, whatever they are.
    """
    n, time_steps = x.shape[:2]
    lengths = np.asarray(lengths)
    if lengths.shape != (n,) or lengths.min(initial=0) < 0 or lengths.max(initial=0) > time_steps:
        raise ValueError(f"lengths must be ({n},) integers in [0, {time_steps}]")
    source = (np.arange(time_steps)[None, :] + (time_steps - lengths)[:, None]) % time_steps
    return x[np.arange(n)[:, None], source]


def classifier() -> rf.Sequential:
    model = rf.Sequential([rf.Bidirectional(rf.GRU(16, seed=1)), rf.Dense(1, seed=3)])
    model.compile(loss=rf.losses.BinaryCrossentropy(from_logits=True), optimizer=rf.optimizers.Adam(0.005),
                  metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    count, epochs = (1500, 3) if args.quick else (8000, 15)
    splits = {}
    for name, n, seed in (("train", count, 0), ("valid", count // 8, 1), ("test", count // 4, 2)):
        sequences, y = ramp_sequences(n, seed)
        lengths = np.array([len(s) for s in sequences])
        splits[name] = {"back": pad(sequences, "post"), "front": pad(sequences, "pre"), "y": y, "lengths": lengths}

    train, test = splits["train"], splits["test"]
    linear = rf.Sequential([rf.Dense(1, seed=3)])
    linear.compile(loss=rf.losses.BinaryCrossentropy(from_logits=True), optimizer=rf.optimizers.Adam(0.005),
                   metrics=["accuracy"])
    linear.fit(train["back"][..., 0], train["y"], batch_size=64, epochs=epochs, verbose=0, seed=0)
    linear_accuracy = linear.evaluate(test["back"][..., 0], test["y"], batch_size=500)[1]
    print(f"linear model on the back-padded rows (no recurrence): test accuracy {linear_accuracy:.3f}")

    converted = {name: to_back_padding(split["front"], split["lengths"]) for name, split in splits.items()}
    same = all(np.array_equal(converted[name], split["back"]) for name, split in splits.items())
    print(f"to_back_padding(front-padded rows) equals the back-padded rows: {same}")
    short = test["lengths"] <= TIME // 2
    print(f"{short.mean():.0%} of the test sequences have at most {TIME // 2} steps: front-padded, their first "
          "lengths[i] steps are padding only")

    runs = {"(a) back-padded, lengths": {name: split["back"] for name, split in splits.items()},
            "(b) front-padded, the same lengths": {name: split["front"] for name, split in splits.items()},
            "(c) front-padded → to_back_padding(), lengths": converted}
    curves = {}
    for label, x in runs.items():
        model = classifier()
        start = time.perf_counter()
        history = model.fit(x["train"], train["y"], lengths=train["lengths"], batch_size=64, epochs=epochs,
                            verbose=0, seed=0, validation_data=(x["valid"], splits["valid"]["y"],
                                                                splits["valid"]["lengths"]))
        seconds = time.perf_counter() - start
        logits = model.predict(x["test"], batch_size=500, lengths=test["lengths"])
        hits = (logits[:, 0] > 0) == (test["y"][:, 0] > 0.5)
        curves[label] = history.history["val_accuracy"]
        print(f"{label}  ({seconds:.1f} s)\n    test accuracy {hits.mean():.3f} (at most {TIME // 2} steps "
              f"{hits[short].mean():.3f}, longer {hits[~short].mean():.3f}); validation accuracy per epoch "
              + " ".join(f"{v:.3f}" for v in curves[label]))

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    styles = [{"ls": "-", "marker": "o", "lw": 3, "alpha": 0.6}, {"ls": "-", "marker": "s"},
              {"ls": "--", "marker": "x", "color": "k"}]
    for (label, curve), style in zip(curves.items(), styles):
        ax.plot(range(1, len(curve) + 1), curve, label=label, **style)
    ax.axhline(linear_accuracy, color="gray", ls=":", label="linear model, no recurrence (test)")
    ax.axhline(0.5, color="lightgray", ls="--", label="chance")
    ax.set_ylim(0.25, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("climb or fall? Bidirectional(GRU(16)) on 16–64 steps padded to 64")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(args.out / "classification_lengths.png", dpi=100)
    print(f"plot: {args.out / 'classification_lengths.png'}")


if __name__ == "__main__":
    main()
