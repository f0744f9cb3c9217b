"""atheris harness of the Python loader: any input is refused with ValueError or loads and predicts; any other
exception, a crash, a hang (-timeout) or memory past -rss_limit_mb is a finding. Each input is tried as it is and
with its checksum made right, as an attacker would send it.

    python tests/fuzz/fuzz_load_model.py -max_total_time=60 -rss_limit_mb=2048 -timeout=20 WORK SEEDS tests/fuzz/corpus
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

import atheris
import numpy as np

import rnnfast as rf
from rnnfast._model_file import CHECKSUM_PREFIX

atheris.instrument_all()  # coverage of the loaded Python code, whichever way rnnfast was installed

_PATH = os.path.join(tempfile.mkdtemp(prefix="rnnfast-fuzz-"), "input.safetensors")


def _weights(model: rf.Sequential) -> int:
    return sum(w.size for layer in model.get_weights() for w in layer.values())


def with_checksum(data: bytes) -> bytes | None:
    """`data` with its version 2 checksum made right, so that mutations reach the checks behind it (None if
    `data` has no place for one)."""
    start = 8 + len(CHECKSUM_PREFIX)
    if data[8:start] != CHECKSUM_PREFIX or len(data) < start + 64:
        return None
    zeroed = data[:start] + b"0" * 64 + data[start + 64:]
    return data[:start] + hashlib.sha256(zeroed).hexdigest().encode() + data[start + 64:]


def test_one_input(data: bytes) -> None:
    load(data)
    fixed = with_checksum(data)
    if fixed is not None and fixed != data:
        load(fixed)


def load(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    try:
        model = rf.load_model(_PATH)
    except ValueError:
        return
    if _weights(model) > 10**6:  # a valid large model: loading it was the test, running it would only be slow
        return
    first = model.layers[0]
    if isinstance(first, rf.Embedding):
        x = np.zeros((1, 3), np.int64)
    else:
        size = first.forward_layer.input_size if isinstance(first, rf.Bidirectional) else first.input_size
        x = np.full((1, 3, size), 0.5, dtype=np.float32)
    try:
        model.predict(x)
    except ValueError:
        pass  # a valid file may describe layers that cannot feed each other (a 2-D output into a GRU)
    try:
        stream = rf.StreamingModel(_PATH)
    except ValueError:
        return
    stream.predict(np.full((1, 3, stream.input_size), 0.5, dtype=np.float32))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
