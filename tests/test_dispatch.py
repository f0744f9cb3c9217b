"""Which engine a build imports. A portable build (RNNFAST_NATIVE=OFF) carries the engine for several x86-64
levels and must pick the best one the CPU supports; each level it can run must compute what the baseline does.
Native builds have one engine: these tests then only check its label.

Tolerance between levels: float32, 1e-5 of each array's largest magnitude (FMA and wider packets reorder sums).
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnfast as rf

LEVELS = ["x86-64-v4", "x86-64-v3"]

try:
    from rnnfast import _cpu
except ImportError:
    _cpu = None

portable_only = pytest.mark.skipif(_cpu is None, reason="a native build has one engine")

# Run in a fresh interpreter (the level is chosen at import): an LSTM and a GRU, forward and backward.
PROBE = """
import json, sys
import numpy as np
import rnnfast as rf
rng = np.random.default_rng(0)
out = {"instruction_set": rf._core.instruction_set}
for cls in (rf.LSTM, rf.GRU):
    layer = cls(40, input_size=6, return_sequences=True, seed=1, dtype="float32")
    x = rng.standard_normal((5, 9, 6)).astype(np.float32)
    y = layer(x, training=True)
    g = layer.backward(np.ones_like(y))
    out[cls.__name__] = [a.ravel().tolist() for a in (y, g["x"], g["kernel"], g["recurrent_kernel"])]
print(json.dumps(out))
"""


def run_probe(level: str | None) -> dict:
    env = dict(os.environ)
    env.pop("RNNFAST_INSTRUCTION_SET", None)
    if level is not None:
        env["RNNFAST_INSTRUCTION_SET"] = level
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def built(level: str) -> bool:
    return importlib.util.find_spec("rnnfast._core_" + level.replace("-", "_")) is not None


def test_the_engine_names_its_instruction_set():
    assert rf._core.instruction_set in ("native", "baseline", *LEVELS)
    assert (rf._core.instruction_set == "native") == (_cpu is None)


@portable_only
def test_a_portable_build_picks_the_best_level_the_cpu_supports():
    expected = next((lv for lv in LEVELS if _cpu.supports(lv) and built(lv)), "baseline")
    assert run_probe(None)["instruction_set"] == expected
    assert run_probe("baseline")["instruction_set"] == "baseline"
    if _cpu.supports("x86-64-v3") and built("x86-64-v3"):
        assert run_probe("x86-64-v3")["instruction_set"] == "x86-64-v3"  # the cap holds on a v4 machine too


@portable_only
def test_every_level_this_cpu_runs_agrees_with_the_baseline():
    base = run_probe("baseline")
    levels = [lv for lv in LEVELS if _cpu.supports(lv) and built(lv)]
    if not levels:
        pytest.skip("this CPU runs only the baseline engine")
    for level in levels:
        got = run_probe(level)
        assert got["instruction_set"] == level
        for cell in ("LSTM", "GRU"):
            for a, b in zip(base[cell], got[cell]):
                a, b = np.asarray(a), np.asarray(b)
                np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * np.abs(a).max())


@portable_only
def test_an_unknown_level_is_refused_by_name():
    env = dict(os.environ, RNNFAST_INSTRUCTION_SET="avx9")
    done = subprocess.run([sys.executable, "-c", "import rnnfast"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "RNNFAST_INSTRUCTION_SET" in done.stderr and "avx9" in done.stderr
