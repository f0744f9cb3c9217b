"""The C++ model-file loader (rnnfast::Model in rnnfast/model.hpp, through rnnfast.StreamingModel): a model
saved in Python loads in C++ and, step by step or over whole batches of sequences, gives what Python computes
(float64 1e-12, float32 1e-5); states read and set continue a stream exactly; damaged, truncated, mismatched and
unstreamable files raise ValueError naming the file."""

import json
import struct

import numpy as np
import pytest

import rnnfast as rf
from rnnfast import _model_file

MODELS = {
    "lstm_dense": lambda d: [rf.LSTM(8, seed=0, dtype=d), rf.Dense(2, seed=1, dtype=d)],
    "variants": lambda d: [rf.LSTM(7, return_sequences=True, peephole=True, layer_norm=True, seed=0, dtype=d),
                           rf.GRU(5, return_sequences=True, layer_norm=True, seed=1, dtype=d),
                           rf.GRU(4, return_sequences=True, reset_after=False, seed=2, dtype=d),
                           rf.SimpleRNN(6, activation="relu", layer_norm=True, seed=3, dtype=d),
                           rf.Dense(3, activation="softmax", seed=4, dtype=d)],
    "sequence_head": lambda d: [rf.SimpleRNN(5, return_sequences=True, seed=0, dtype=d),
                                rf.TimeDistributed(rf.Dense(2, activation="sigmoid", seed=1, dtype=d))],
}


def saved(tmp_path, name, dtype):
    model = rf.Sequential(MODELS[name](dtype))
    x = np.random.default_rng(0).normal(size=(1, 10, 3)).astype(dtype)
    model.predict(x)  # builds the layers
    path = tmp_path / f"{name}.safetensors"
    model.save(path)
    return model, x, path


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(MODELS))
def test_cpp_stream_equals_python(tmp_path, name, dtype):
    model, x, path = saved(tmp_path, name, dtype)
    stream = rf.StreamingModel(path, dtype=dtype)
    assert stream.input_size == 3
    got = np.concatenate([stream.step(x[0, t]) for t in range(10)])
    if name == "sequence_head":
        want = model.predict(x)[0]
    else:
        want = np.stack([model.predict(x[:, : t + 1])[0] for t in range(10)])
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # A stream and a batch-1 predict step on the same stacked kernel; the training-mode forward (the batched gate
    # passes) is the reference that does not share it.
    if name == "sequence_head":
        trained = model(x, training=True)[0]
    else:
        trained = np.stack([model(x[:, : t + 1], training=True)[0] for t in range(10)])
    np.testing.assert_allclose(got, trained, rtol=tol, atol=tol)
    stream.reset()
    np.testing.assert_allclose(stream.step(x[0, 0]), got[:1], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(MODELS))
def test_cpp_whole_sequences_equal_python(tmp_path, name, dtype):
    """rnnfast::Model::run over a batch: every step's output, so the last equals Python's predict."""
    model, _, path = saved(tmp_path, name, dtype)
    x = np.random.default_rng(1).normal(size=(4, 9, 3)).astype(dtype)
    cpp = rf.StreamingModel(path, dtype=dtype)
    got = cpp.predict(x)
    assert got.shape == (4, 9, cpp.output_size) and got.dtype == np.dtype(dtype)
    want = model.predict(x)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got if want.ndim == 3 else got[:, -1], want, rtol=tol, atol=tol)
    one = cpp.copy()  # run() leaves the streaming state alone; row 2 streamed equals row 2 of the batch
    one.reset()
    np.testing.assert_allclose(np.concatenate([one.step(x[2, t]) for t in range(9)]), got[2], rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="x must be"):
        cpp.predict(x[..., :2])


def test_state_round_trip(tmp_path):
    _, x, path = saved(tmp_path, "variants", "float64")
    stream = rf.StreamingModel(path, dtype="float64")
    assert stream.state_size == 7 * 2 + 5 + 4 + 6
    for t in range(5):
        stream.step(x[0, t])
    state = stream.state()
    rest = [stream.step(x[0, t]) for t in range(5, 10)]
    stream.reset()
    np.testing.assert_array_equal(stream.state(), np.zeros(stream.state_size))
    stream.reset(state)  # a warm start: continues exactly where the state was read
    np.testing.assert_array_equal(np.concatenate([stream.step(x[0, t]) for t in range(5, 10)]),
                                  np.concatenate(rest))
    with pytest.raises(ValueError, match="state must have shape"):
        stream.reset(state[:-1])


def test_bad_files_are_refused_by_name(tmp_path):
    _, _, path = saved(tmp_path, "lstm_dense", "float32")
    good = path.read_bytes()
    (size,) = struct.unpack("<Q", good[:8])
    for data in (good[:len(good) // 2], good[:7], good[:-5] + bytes([good[-5] ^ 1]) + good[-4:],
                 good[:8] + b"{" * 3 + good[11:], struct.pack("<Q", 2**50) + good[8:]):
        path.write_bytes(data)
        with pytest.raises(ValueError, match=r"lstm_dense\.safetensors"):
            rf.StreamingModel(path)
    # mismatched: the architecture says 9 units, the tensors hold 8
    header = json.loads(good[8:8 + size])
    meta = header.pop("__metadata__")
    arch = json.loads(meta["architecture"])
    arch[0]["config"]["units"] = 9
    tensors, _ = _model_file.read_file(_write(tmp_path, good))
    meta["architecture"] = json.dumps(arch)
    meta.pop("file_sha256")
    _model_file.write_file(path, tensors, meta)
    with pytest.raises(ValueError, match="taking 8 features where layer 0 gives 9"):
        rf.StreamingModel(path)


def _write(tmp_path, data):
    p = tmp_path / "copy.safetensors"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("layers", [
    lambda: [rf.Bidirectional(rf.LSTM(3, seed=0)), rf.Dense(1)],
    lambda: [rf.Embedding(5, 3), rf.LSTM(3)],
    lambda: [rf.GRU(3, go_backwards=True), rf.Dense(1)],
], ids=["bidirectional", "embedding", "go_backwards"])
def test_unstreamable_models_are_refused(tmp_path, layers):
    model = rf.Sequential(layers())
    x = np.zeros((1, 4, 3)) if not isinstance(model.layers[0], rf.Embedding) else np.zeros((1, 4), np.int64)
    model.predict(x)
    model.save(tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="one step at a time"):
        rf.StreamingModel(tmp_path / "m.safetensors")
