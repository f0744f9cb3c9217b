"""The model file as hostile input (docs/model-file-format.md): both loaders — load_model in Python, and the C++
reader behind StreamingModel (rnnfast::Model::load) — refuse every hostile case of tests/hostile_files.py with a
ValueError naming the file, without allocating more than a small multiple of the file; they accept and refuse
the same files, and give the same predictions on those they accept; version 1 files still load; saving is atomic,
private to nothing planted beside it, and whole under concurrent saves."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import struct
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import hostile_files as hf
import numpy as np
import pytest

import rnnfast as rf
from rnnfast import _model_file


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "base.safetensors"
    hf.base_model().save(path)
    return _model_file.read_file(path)


def _case_names():
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "base.safetensors")
        hf.base_model().save(path)
        return sorted(hf.hostile_cases(*_model_file.read_file(path)))


def refusal(load, path):
    """The ValueError `load(path)` raises (any other outcome fails), and the peak of Python's allocations."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert os.fspath(path) in str(info.value)  # the message names the file
    return info.value, peak


@pytest.mark.parametrize("name", _case_names())
def test_hostile_files_are_refused_by_both_loaders(tmp_path, base, name):
    data = hf.hostile_cases(*base)[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(data)
    _, peak = refusal(rf.load_model, path)
    assert peak < 2**20 + 16 * len(data), peak  # what the checks need, never what the file claims
    refusal(rf.StreamingModel, path)


def test_the_kept_corpus_is_refused_by_both_loaders():
    """tests/fuzz/corpus holds the hostile cases as bytes (the fuzzers start from them): refused as they are."""
    kept = sorted((Path(__file__).parent / "fuzz" / "corpus").glob("*.safetensors"))
    assert len(kept) >= 100
    for path in kept:
        for load in (rf.load_model, rf.StreamingModel):
            refusal(load, path)


def test_the_base_of_the_hostile_cases_loads(tmp_path, base):
    path = tmp_path / "base.safetensors"
    path.write_bytes(hf.write_v2(*base[:1], {k: v for k, v in base[1].items() if k != "file_sha256"}))
    loaded = rf.load_model(path)  # the cases' tool writes valid files: each case is refused for its own flaw
    np.testing.assert_array_equal(loaded.get_weights()[0]["kernel"], base[0]["layers.0.kernel"])
    assert rf.StreamingModel(path).output_size == 2


@pytest.mark.parametrize("kind", ["directory", "dev_zero", "fifo", "header_of_40MB"])
def test_paths_that_are_not_model_files(tmp_path, kind):
    if kind == "directory":
        path = tmp_path
    elif kind == "dev_zero":
        path = "/dev/zero"
    elif kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:  # a real 40 MB header: refused from its length, before it is read
        path = tmp_path / "big.safetensors"
        path.write_bytes(struct.pack("<Q", 40 * 2**20) + b"[" * (40 * 2**20))
    for load in (rf.load_model, rf.StreamingModel):
        outcome: list[BaseException | None] = []

        def run(load=load, outcome=outcome):
            try:
                load(path)
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(30)  # a reader that waits for a FIFO's writer or reads /dev/zero without end fails here
        assert outcome, f"{load.__name__} did not return for {kind}"
        assert isinstance(outcome[0], ValueError), repr(outcome[0])
        assert os.fspath(path) in str(outcome[0])


def test_a_socket_is_not_a_model_file(tmp_path):
    import socket

    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(os.fspath(path))
        for load in (rf.load_model, rf.StreamingModel):
            refusal(load, path)


def test_data_is_read_only_for_a_header_that_describes_a_model(tmp_path):
    """A 4 KB sparse file whose header declares 1 TiB of data for a tensor no architecture names: refused from
    its header, without reading (or allocating) the data."""
    header = hf.header_text({"x": {"dtype": "F32", "shape": [2**38], "data_offsets": [0, 2**40]}},
                            {"format": "rnnfast", "format_version": "2", "architecture": "[]"})
    head = hf.encode_v2(header, b"")
    path = tmp_path / "sparse.safetensors"
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + 2**40)
    for load in (rf.load_model, rf.StreamingModel):
        error, peak = refusal(load, path)
        assert "architecture" in str(error) and peak < 2**20, (error, peak)


def test_a_missing_path_is_an_os_error(tmp_path):
    for load in (rf.load_model, rf.StreamingModel):
        with pytest.raises(FileNotFoundError):
            load(tmp_path / "nothing.safetensors")


# ---- one reading of the format in Python and in C++ ----------------------------------------------------------
AGREEMENT_LAYERS = [
    lambda: rf.LSTM(5, input_size=3, return_sequences=True, peephole=True, layer_norm=True, seed=0),
    lambda: rf.GRU(4, input_size=5, return_sequences=True, seed=1),
    lambda: rf.TimeDistributed(rf.Dense(2, input_size=4, activation="tanh", seed=2)),
]


@pytest.fixture(scope="module")
def agreement_base(tmp_path_factory):
    model = rf.Sequential([make() for make in AGREEMENT_LAYERS])
    model.compile(loss="mse", optimizer=rf.optimizers.RMSprop(0.01, momentum=0.5, centered=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    model.train_on_batch(x, rng.normal(size=(2, 6, 2)).astype(np.float32))
    path = tmp_path_factory.mktemp("agreement") / "base.safetensors"
    model.save(path)
    tensors, metadata = _model_file.read_file(path)
    return tensors, {k: v for k, v in metadata.items() if k != "file_sha256"}, x


def _streams(model) -> bool:
    """Whether the C++ Model runs the loaded Python model one step at a time (the format's last section)."""
    def inner(layer):
        return layer.layer if isinstance(layer, rf.TimeDistributed) else layer
    return not any(isinstance(inner(layer), (rf.Embedding, rf.Bidirectional)) or getattr(layer, "go_backwards", False)
                   for layer in model.layers)


def check_agreement(path, x) -> str:
    """Both loaders accept `path` or both refuse it, and an accepted model predicts alike in both."""
    try:
        model = rf.load_model(path)
    except ValueError:
        model = None
    try:
        stream = rf.StreamingModel(path)
        cpp_error = None
    except ValueError as error:
        stream, cpp_error = None, str(error)
    if model is None:
        assert stream is None, "C++ accepts a file Python refuses"
        return "refused"
    if not _streams(model):
        assert cpp_error is not None and "one step at a time" in cpp_error, cpp_error
        return "unstreamable"
    assert stream is not None, f"C++ refuses a file Python accepts: {cpp_error}"
    try:
        expected = model.predict(x)
    except ValueError:  # a file can describe a model its own layers cannot call (a 2-D output into a GRU)
        return "accepted"
    got = stream.predict(x)
    np.testing.assert_allclose(got if expected.ndim == 3 else got[:, -1], expected, rtol=2e-5, atol=2e-6)
    return "accepted"


MEMBER_VALUES = [True, False, 0, 1, 2, -1, 0.5, 1.0, 3.0, 1e-3, 1e308, None, "tanh", "float64", "relu", [], {}]


def test_both_loaders_read_every_member_alike(tmp_path, agreement_base):
    """Each config member of each layer set to each of MEMBER_VALUES: both accept or both refuse, and what both
    accept predicts alike (hundreds of files, each with a valid checksum)."""
    tensors, metadata, x = agreement_base
    architecture = json.loads(metadata["architecture"])
    outcomes: dict[str, int] = {}
    path = tmp_path / "m.safetensors"
    for i, entry in enumerate(architecture):
        config = entry["config"]["layer"]["config"] if entry["class"] == "TimeDistributed" else entry["config"]
        for key in sorted(config):
            for value in MEMBER_VALUES:
                changed = json.loads(metadata["architecture"])
                target = changed[i]["config"]["layer"]["config"] if entry["class"] == "TimeDistributed" \
                    else changed[i]["config"]
                target[key] = value
                path.write_bytes(hf.write_v2(tensors, {**metadata, "architecture": json.dumps(changed)}))
                outcome = check_agreement(path, x)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("accepted", 0) > 50 and outcomes.get("refused", 0) > 200, outcomes


def test_both_loaders_agree_on_header_bit_flips(tmp_path, agreement_base):
    """Single-bit flips anywhere in the header after its checksum, the checksum recomputed: the readers must
    agree byte for byte on what the header says."""
    tensors, metadata, x = agreement_base
    good = hf.write_v2(tensors, metadata)
    (n,) = struct.unpack("<Q", good[:8])
    start = 8 + len(hf.PREFIX) + 64
    architecture = good.index(b'"architecture":"', 8) + 8  # half the flips land in the layers' configs
    rng = np.random.default_rng(1)
    path = tmp_path / "m.safetensors"
    outcomes: dict[str, int] = {}
    for k in range(2000):
        position = int(rng.integers(start, 8 + n) if k % 2 else rng.integers(architecture, architecture + 900))
        header = bytearray(good[8:8 + n])
        header[position - 8] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(hf.encode_v2(bytes(header), good[8 + n:]))
        outcome = check_agreement(path, x)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("accepted", 0) >= 5, outcomes  # most flips break a name or the JSON: both refuse


# ---- version 1 -----------------------------------------------------------------------------------------------
def test_version_1_files_still_load(tmp_path, agreement_base):
    tensors, metadata, x = agreement_base
    v2, v1 = tmp_path / "v2.safetensors", tmp_path / "v1.safetensors"
    v2.write_bytes(hf.write_v2(tensors, metadata))
    v1.write_bytes(hf.write_v1(tensors, metadata))
    # the same weights, to float32 rounding: each loaded model's buffers have their own alignment, so the layer
    # norms' vectorised sums split elsewhere
    np.testing.assert_allclose(rf.load_model(v1).predict(x), rf.load_model(v2).predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rf.StreamingModel(v1).predict(x), rf.StreamingModel(v2).predict(x), rtol=1e-5,
                               atol=1e-6)
    assert check_agreement(v1, x) == "accepted"
    rf.load_model(v1).save(v2)  # saved again, a version 1 model becomes version 2
    assert _model_file.read_file(v2)[1]["format_version"] == "2"
    data = bytearray(v1.read_bytes())
    data[-1] ^= 1  # version 1 still checks its data
    v1.write_bytes(bytes(data))
    for load in (rf.load_model, rf.StreamingModel):
        with pytest.raises(ValueError, match="checksum"):
            load(v1)


# ---- locale --------------------------------------------------------------------------------------------------
GERMAN = ("de_DE.UTF-8", "de_DE.utf8", "de_DE")


def test_numbers_do_not_follow_the_locale(tmp_path, agreement_base):
    import locale

    for name in GERMAN:
        try:
            locale.setlocale(locale.LC_NUMERIC, name)
            break
        except locale.Error:
            continue
    else:
        pytest.skip("no German locale on this machine (.ci/run generates de_DE.UTF-8)")
    locale.setlocale(locale.LC_NUMERIC, "C")
    tensors, metadata, x = agreement_base
    path = tmp_path / "m.safetensors"
    path.write_bytes(hf.write_v2(tensors, metadata))
    expected = rf.StreamingModel(path).predict(x)
    # In a process whose whole locale is German, as after locale.setlocale(locale.LC_ALL, ""): the C++ reader's
    # numbers ("0.001", the epsilon) read alike.
    script = ("import locale, sys, numpy as np, rnnfast as rf\n"
              f"locale.setlocale(locale.LC_ALL, {name!r})\n"
              "assert locale.localeconv()['decimal_point'] == ','\n"
              "x = np.load(sys.argv[2])\n"
              "np.save(sys.argv[3], rf.StreamingModel(sys.argv[1]).predict(x))\n"
              "rf.load_model(sys.argv[1])\n")
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                   check=True, cwd=tmp_path)
    # float32 to rounding: another process's buffers have their own alignment (vectorised sums split elsewhere)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


# ---- saving --------------------------------------------------------------------------------------------------
def _small_model(seed):
    model = rf.Sequential([rf.GRU(3, input_size=2, seed=seed), rf.Dense(1, input_size=3, seed=seed)])
    return model


def test_save_never_follows_what_is_planted_beside_the_target(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "m.safetensors"
    for planted in (f"{target}.tmp", f"{target}.tmp.0", tmp_path / ".m.safetensors.tmp"):
        os.symlink(victim, planted)
    _small_model(0).save(target)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink()) == ["m.safetensors", "victim"]
    rf.load_model(target)


def test_save_replaces_a_link_at_the_target_not_its_target(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "m.safetensors"
    os.symlink(victim, target)
    _small_model(0).save(target)
    assert victim.read_text() == "precious" and not target.is_symlink()


def test_save_flushes_and_leaves_nothing_behind(tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_IFMT(os.fstat(fd).st_mode)), real_fsync(fd)))
    target = tmp_path / "m.safetensors"
    _small_model(0).save(target)
    assert stat.S_IFREG in synced and stat.S_IFDIR in synced  # the file, then the folder holding the rename
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        _small_model(1).save(target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left
    np.testing.assert_array_equal(rf.load_model(target).get_weights()[0]["kernel"],
                                  _small_model(0).get_weights()[0]["kernel"])


def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "m.safetensors"
    _small_model(0).save(target)
    os.chmod(target, 0o600)
    _small_model(1).save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    other = tmp_path / "n.safetensors"
    mask = os.umask(0o077)  # a new file follows the umask of the moment, as open() does
    try:
        _small_model(0).save(other)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o600


def test_save_takes_a_name_as_long_as_the_system_allows(tmp_path):
    target = tmp_path / ("m" * 240 + ".safetensors")
    _small_model(0).save(target)
    rf.load_model(target)


@pytest.mark.parametrize("kind", ["merge_mode_none", "embedding_not_first", "foreign_optimizer_slots",
                                  "epsilon_below_float32"])
def test_save_refuses_what_load_would_refuse(tmp_path, kind):
    if kind == "merge_mode_none":
        model = rf.Sequential([rf.Bidirectional(rf.LSTM(2, input_size=3, seed=0), merge_mode=None)])
    elif kind == "embedding_not_first":
        model = rf.Sequential([rf.Dense(2, input_size=3, seed=0), rf.Embedding(4, 2, seed=1)])
    elif kind == "foreign_optimizer_slots":
        model = _small_model(0)
        model.compile(loss="mse", optimizer="adam")
        model.optimizer.apply({"foo": np.zeros(2)}, {"foo": np.ones(2)})
    else:
        model = rf.Sequential([rf.SimpleRNN(2, input_size=1, layer_norm=True, layer_norm_epsilon=1e-40, seed=0)])
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"the previous file")
    with pytest.raises(ValueError, match="cannot be saved"):
        model.save(target)
    assert target.read_bytes() == b"the previous file"  # nothing written, not even aside
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def _save_repeatedly(path, seed, rounds):
    for _ in range(rounds):
        _small_model(seed).save(path)


def test_concurrent_saves_leave_a_whole_file(tmp_path):
    target = tmp_path / "m.safetensors"
    _small_model(0).save(target)
    kernels = [_small_model(seed).get_weights()[0]["kernel"] for seed in range(3)]
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_save_repeatedly, args=(target, seed, 40)) for seed in range(3)]
    for w in writers:
        w.start()
    reads = 0
    while any(w.is_alive() for w in writers) or reads == 0:
        kernel = rf.load_model(target).get_weights()[0]["kernel"]  # never a part of a file, never missing
        assert any(np.array_equal(kernel, k) for k in kernels)
        reads += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert any(np.array_equal(rf.load_model(target).get_weights()[0]["kernel"], k) for k in kernels)
