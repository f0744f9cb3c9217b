"""save_model / load_model: a round trip keeps the architecture, every weight, the compile settings and the
optimiser state (training continues identically); damaged, truncated and foreign files raise ValueError."""

import json
import struct

import numpy as np
import pytest

import rnnfast as rf
from rnnfast import _model_file


def trained_model(tmp_path):
    rng = np.random.default_rng(0)
    model = rf.Sequential([
        rf.Embedding(10, 4, seed=0),
        rf.Bidirectional(rf.LSTM(5, return_sequences=True, peephole=True, layer_norm=True, seed=1), merge_mode="ave"),
        rf.GRU(6, return_sequences=True, dropout=0.1, seed=2),
        rf.TimeDistributed(rf.Dense(3, activation="tanh", seed=3)),
    ])
    model.compile(loss=rf.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=rf.optimizers.Adam(0.01, clipnorm=2.0), metrics=["accuracy"])
    x = rng.integers(0, 10, size=(16, 7))
    y = rng.integers(0, 3, size=(16, 7))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
    return model, x, y


def test_round_trip_continues_training_identically(tmp_path):
    model, x, y = trained_model(tmp_path)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = rf.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # float32, the same weights in other buffers: equal to rounding (vectorised loops may split differently)
    np.testing.assert_allclose(model.predict(x), loaded.predict(x), rtol=1e-5, atol=1e-6)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss.get_config() == {"from_logits": True} and loaded.metrics == ["accuracy"]
    for m in (model, loaded):  # the optimiser's slots and step count came along
        m.layers[2]._mask_rng = np.random.default_rng(5)  # the same dropout masks in both
        m.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_the_file_is_plain_safetensors(tmp_path):
    model, _, _ = trained_model(tmp_path)
    path = tmp_path / "m.safetensors"
    rf.save_model(model, path)
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    meta = header.pop("__metadata__")
    assert meta["format"] == "rnnfast" and json.loads(meta["architecture"])[1]["class"] == "Bidirectional"
    assert header["layers.1.forward/ln_c_gamma"]["dtype"] == "F32"
    assert header["optimizer.iterations"]["dtype"] == "I64"
    assert (8 + size) % 8 == 0


def test_damaged_files_raise_clear_errors(tmp_path):
    model, _, _ = trained_model(tmp_path)
    path = tmp_path / "m.safetensors"
    model.save(path)
    good = path.read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "tiny": good[:5],
        "flipped byte": good[:-10] + bytes([good[-10] ^ 0xFF]) + good[-9:],
        "damaged header": good[:8] + b"[" + good[9:],
        "huge header size": struct.pack("<Q", 2**40) + good[8:],
    }
    for data in cases.values():
        path.write_bytes(data)
        with pytest.raises(ValueError, match=r"m\.safetensors"):  # the message names the file
            rf.load_model(path)
    other = tmp_path / "other.safetensors"
    _model_file.write_file(other, {"w": np.zeros(3, np.float32)}, {"format": "something-else"})
    with pytest.raises(ValueError, match="not an rnnfast model"):
        rf.load_model(other)


def test_models_that_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="no weights yet"):
        rf.Sequential([rf.LSTM(3)]).save(tmp_path / "m")
    with pytest.raises(TypeError, match="Sequential"):
        rf.save_model(rf.LSTM(3), tmp_path / "m")
