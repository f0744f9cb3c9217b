"""Writes the fuzzers' seeds: valid model files of every layer and option (saved by Sequential.save, and one in
version 1) into SEEDS, and, with --hostile, the hostile cases of tests/hostile_files.py into tests/fuzz/corpus/.

    python tests/fuzz/make_corpus.py SEEDS            # valid files, made anew (CI does this before fuzzing)
    python tests/fuzz/make_corpus.py SEEDS --hostile  # also rewrites the kept corpus of hostile files
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import hostile_files  # noqa: E402 (after the path to tests/)

import rnnfast as rf  # noqa: E402
from rnnfast import _model_file  # noqa: E402

CORPUS = HERE / "corpus"


def models() -> dict[str, rf.Sequential]:
    d64 = "float64"
    return {
        "lstm_dense": rf.Sequential([rf.LSTM(4, input_size=3, seed=0), rf.Dense(2, input_size=4, seed=1)]),
        "variants": rf.Sequential([
            rf.LSTM(5, input_size=2, return_sequences=True, peephole=True, layer_norm=True, seed=0),
            rf.GRU(4, input_size=5, return_sequences=True, layer_norm=True, seed=1),
            rf.GRU(3, input_size=4, return_sequences=True, reset_after=False, seed=2),
            rf.SimpleRNN(3, input_size=3, activation="relu", layer_norm=True, seed=3),
            rf.Dense(2, input_size=3, activation="softmax", use_bias=False, seed=4)]),
        "float64_sequence_head": rf.Sequential([
            rf.SimpleRNN(3, input_size=2, return_sequences=True, dtype=d64, seed=0),
            rf.TimeDistributed(rf.Dense(1, input_size=3, activation="sigmoid", dtype=d64, seed=1))]),
        "embedding_bidirectional": rf.Sequential([
            rf.Embedding(6, 3, seed=0),
            rf.Bidirectional(rf.GRU(2, input_size=3, seed=1), merge_mode="ave"),
            rf.Dense(1, input_size=2, seed=2)]),
        "go_backwards": rf.Sequential([rf.LSTM(2, input_size=1, go_backwards=True, seed=0)]),
    }


def write_seeds(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for (name, model), (loss, optimizer) in zip(models().items(), [
            ("mse", rf.optimizers.Adam(0.01, amsgrad=True)), ("sparse_categorical_crossentropy", "rmsprop"),
            ("binary_crossentropy", rf.optimizers.SGD(0.1, momentum=0.9, nesterov=True)), ("mae", "sgd"),
            (None, None)]):
        model.save(folder / f"{name}.safetensors")
        if loss is None:
            continue
        model.compile(loss=loss, optimizer=optimizer,
                      metrics=["accuracy"] if "crossentropy" in loss else None)
        first = model.layers[0]
        if isinstance(first, rf.Embedding):
            x = rng.integers(0, 6, size=(2, 4))
        else:
            x = rng.normal(size=(2, 4, first.input_size)).astype(first.dtype)
        y = model.predict(x)
        target = rng.integers(0, y.shape[-1], size=y.shape[:-1]) if loss.startswith("sparse") else \
            (rng.random(y.shape) > 0.5).astype(y.dtype)
        model.train_on_batch(x, target)
        model.save(folder / f"{name}_compiled.safetensors")
    tensors, metadata = _model_file.read_file(folder / "lstm_dense.safetensors")
    (folder / "lstm_dense_version_1.safetensors").write_bytes(hostile_files.write_v1(tensors, metadata))


def write_hostile(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.safetensors"):
        old.unlink()
    base = folder.parent / "base.tmp"
    hostile_files.base_model().save(base)
    cases = hostile_files.hostile_cases(*_model_file.read_file(base))
    base.unlink()
    for name, data in cases.items():
        (folder / f"{name}.safetensors").write_bytes(data)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--hostile"):
        sys.exit(__doc__)
    write_seeds(Path(sys.argv[1]))
    if len(sys.argv) == 3:
        write_hostile(CORPUS)
    print(f"seeds in {sys.argv[1]}" + (f", hostile files in {CORPUS}" if len(sys.argv) == 3 else ""))
