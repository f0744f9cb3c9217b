"""A character-level language model of the Zen of Python (856 characters, the text `import this` prints), then
text generated from it one character at a time with model.step().

The model, Embedding → LSTM(return_sequences=True) → Dense(vocabulary), predicts the next character at every step
of windows of the text (SparseCategoricalCrossentropy(from_logits=True)); the training loss is printed and
plotted in nats and in bits per character. A text this short is learnt by heart: at a low temperature the samples
recite it; at temperature 1 and above they jump between its lines and misspell.

Generation: reset_step(), then the seed string one character id at a time through model.step (input (1,) ids:
an Embedding first layer takes one id per row), then each sampled character fed back. model.step keeps the LSTM's
state between calls, so every character costs one step, not a pass over everything generated so far.

    python examples/char_language_model.py            # about fifteen seconds; writes char_language_model.png here
    python examples/char_language_model.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import rnnfast as rf


def zen_of_python() -> str:
    """The Zen of Python, from the standard library's `this` module (rot13 there), without printing it."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def windows(ids: np.ndarray, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, length) and targets (n, length), the targets being the inputs shifted by one character."""
    starts = np.arange(0, len(ids) - length, stride)
    index = starts[:, None] + np.arange(length)[None, :]
    return ids[index], ids[index + 1]


def generate(model: rf.Sequential, vocabulary: list[str], seed: str, length: int, temperature: float,
             rng: np.random.Generator) -> str:
    """`seed` and `length` characters sampled after it, each from softmax(logits / temperature)."""
    model.reset_step()
    for char in seed:
        logits = model.step(np.array([vocabulary.index(char)]))
    out = []
    for _ in range(length):
        z = logits[0].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        k = int(rng.choice(len(vocabulary), p=p / p.sum()))
        out.append(vocabulary[k])
        logits = model.step(np.array([k]))
    return seed + "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    units, window, stride, epochs, sample_length = (32, 32, 4, 2, 80) if args.quick else (128, 64, 1, 25, 240)

    text = zen_of_python()
    vocabulary = sorted(set(text))
    ids = np.array([vocabulary.index(c) for c in text])
    x, y = windows(ids, window, stride)
    counts = np.bincount(ids, minlength=len(vocabulary)) / len(ids)
    unigram_bits = float(-(counts * np.log2(counts)).sum())
    print(f"{len(text)} characters, {len(vocabulary)} distinct; {len(x)} windows of {window}; "
          f"{math.log2(len(vocabulary)):.2f} bits per character uniform, {unigram_bits:.2f} from the character "
          "frequencies alone")

    model = rf.Sequential([rf.Embedding(len(vocabulary), 24, seed=0), rf.LSTM(units, return_sequences=True, seed=1),
                           rf.Dense(len(vocabulary), seed=2)])
    model.compile(loss=rf.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=rf.optimizers.Adam(0.005, clipnorm=1.0), metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, seed=0)
    seconds = time.perf_counter() - start
    loss, accuracy = history.history["loss"], history.history["accuracy"]
    print(f"LSTM({units}), {epochs} epochs in {seconds:.1f} s")
    print("training loss per epoch (nats):  " + " ".join(f"{v:.3f}" for v in loss))
    print("bits per character:              " + " ".join(f"{v / math.log(2):.3f}" for v in loss))
    print(f"next-character accuracy, last epoch: {accuracy[-1]:.3f}")

    model.reset_step()
    stepped = np.stack([model.step(x[:4, t]) for t in range(window)], axis=1)
    print(f"model.step over {window} steps against the whole-window call: largest |difference| of the logits "
          f"{np.abs(stepped - model(x[:4])).max():.1e}")

    rng = np.random.default_rng(0)
    for seed, temperature in (("Beautiful is", 0.5), ("Beautiful is", 1.0), ("Beautiful is", 1.5),
                              ("Python is", 0.5)):
        print(f"\n--- seed {seed!r}, temperature {temperature} ---")
        print(generate(model, vocabulary, seed, sample_length, temperature, rng))

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(loss) + 1), loss, "o-", label=f"LSTM({units}), training loss")
    ax.axhline(unigram_bits * math.log(2), color="gray", ls="--", label="character frequencies only")
    ax.axhline(math.log(len(vocabulary)), color="lightgray", ls="--", label=f"uniform over {len(vocabulary)}")
    ax.set_ylim(0, None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats per character)")
    bits = ax.secondary_yaxis("right", functions=(lambda v: v / math.log(2), lambda b: b * math.log(2)))
    bits.set_ylabel("bits per character")
    ax.set_title(f"character-level model of the Zen of Python ({len(text)} characters)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "char_language_model.png", dpi=100)
    print(f"\nplot: {args.out / 'char_language_model.png'}")


if __name__ == "__main__":
    main()
