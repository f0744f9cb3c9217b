"""bench/: the results files of compare.py and run_micro.py, and report.py's tables and plots made from them.

The synthetic files are built through the functions compare.py and run_micro.py write their files with, so that
the schema the report reads cannot drift from the one the benchmarks write.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import compare  # noqa: E402
import report  # noqa: E402
import run_micro  # noqa: E402

MS = {  # case -> engine -> median ms of the synthetic calls
    "a": {"rnnfast": 0.2, "PyTorch": 0.5, "ONNX Runtime": 0.3},
    "b": {"rnnfast": 30.0, "PyTorch": 36.0, "ONNX Runtime": 44.0},
    "c": {"rnnfast": 110.0, "PyTorch": 150.0},
    "d": {"rnnfast": 60.0, "PyTorch": 120.0},
}
STEP_US = {"rnnfast": 0.5, "PyTorch": 20.0, "ONNX Runtime": 10.0}


def samples(median: float, n: int = 5) -> list[float]:
    """n values around median whose median is exactly median."""
    return [median * f for f in (0.9, 0.95, 1.0, 1.05, 1.5)][:n]


def synthetic_compare(started) -> dict:
    records = []
    for case, engines in MS.items():
        for cell in ("lstm", "gru"):
            for threads in (1, 2):
                records += compare.case_records(case, cell, threads,
                                                {e: samples(v / threads) for e, v in engines.items()})
    for cell in ("lstm", "gru"):
        for units in compare.STEP_UNITS:
            records += compare.step_records(cell, units, {e: samples(v * units / 16) for e, v in STEP_US.items()},
                                            {e: 1000 for e in STEP_US})
    for threads in (1, 2):
        for variant in report.VARIANTS:
            runs = {"rnnfast": samples(120.0), "plain": samples(100.0)}
            if variant != "peephole":
                runs["PyTorch"] = samples(240.0)
            records += compare.variant_records(variant, threads, runs)
    records += compare.memory_records("lstm", {"rnnfast": 59.0, "PyTorch": 177.0})
    records += compare.memory_records("gru", {"rnnfast": 50.0, "PyTorch": None})  # a probe that failed
    args = argparse.Namespace(cases=["a", "b", "c", "d", "e", "v"], cells=["lstm", "gru"], threads=[1, 2],
                              min_seconds=2.0, min_calls=15, no_peers=False)
    return compare.run_document(compare.run_options(args, argv=[]), records, started)


def synthetic_micro(started) -> dict:
    benchmarks = []
    for cell, base in (("lstm", 40.0), ("gru", 30.0)):
        for h in (8, 16, 32, 64, 128):
            name = f"Stream/{cell}/H{h}"
            for i in range(3):
                benchmarks.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": 3,
                                   "repetition_index": i, "threads": 1, "iterations": 1000,
                                   "real_time": base * h / 8 * (1 + i / 10), "cpu_time": base * h / 8,
                                   "time_unit": "ns"})
            for stat, unit in (("median", "time"), ("cv", "percentage")):
                benchmarks.append({"name": f"{name}_{stat}", "run_name": name, "run_type": "aggregate",
                                   "repetitions": 3, "threads": 1, "aggregate_name": stat, "aggregate_unit": unit,
                                   "iterations": 3, "real_time": base * h / 8 * 1.1 if stat == "median" else 0.05,
                                   "cpu_time": base * h / 8, "time_unit": "ns"})
    for family, factor in (("StreamBfloat16", 0.5), ("StreamBfloat16Portable", 0.75)):
        name = f"{family}/lstm/H128"
        benchmarks.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1,
                           "repetition_index": 0, "threads": 1, "iterations": 1000, "real_time": 640.0 * factor,
                           "cpu_time": 640.0 * factor, "time_unit": "ns"})
    benchmarks.append({"name": "Forward/lstm/b/threads:2/real_time", "run_name": "Forward/lstm/b/threads:2/real_time",
                       "run_type": "iteration", "repetitions": 1, "repetition_index": 0, "threads": 1,
                       "iterations": 20, "real_time": 17.0, "cpu_time": 30.0, "time_unit": "ms", "FLOP/s": 4e11})
    data = {"context": {"num_cpus": 2}, "benchmarks": benchmarks}
    software = {**report.software_info(), "rnnfast_cpp": {"version": "0.1.0", "cmake": {"RNNFAST_NATIVE": "ON"}}}
    return run_micro.micro_document(report.machine_info(), software, {"filter": "Stream/"}, data, started)


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    older = report.utc_now().replace(year=2020)
    old = synthetic_compare(older)
    old["finished_utc"] = report.iso(older)
    old["records"] = [{**r, "value": 1e3} for r in old["records"]]  # the newer run's figures must win
    report.write_document(report.default_path("compare", old["machine"], older, folder), old)
    started = report.utc_now()
    doc = synthetic_compare(started)
    report.write_document(report.default_path("compare", doc["machine"], started, folder), doc)
    micro = synthetic_micro(started)
    report.write_document(report.default_path("micro", micro["machine"], started, folder), micro)
    (folder / "README.md").write_text("not a results file")
    return folder


def test_schema_of_compare_records(results):
    doc = json.loads(sorted(results.glob("*-compare.json"))[-1].read_text())
    assert doc["schema_version"] == report.SCHEMA_VERSION and doc["kind"] == "compare" and doc["complete"]
    assert {"model_name", "vendor", "family", "model", "flags", "logical_cpus", "physical_cores", "caches", "kernel",
            "virtual_machine", "slug"} <= set(doc["machine"])
    assert {"python", "numpy", "rnnfast", "torch", "onnxruntime", "onnx"} <= set(doc["software"])
    assert doc["software"]["rnnfast"]["instruction_set"] and doc["software"]["rnnfast"]["gemm_backend"]
    assert doc["options"]["min_seconds"] == 2.0 and doc["cases"]["b"]["units"] == 256
    rec = next(r for r in doc["records"] if r["case"] == "b" and r["cell"] == "lstm" and r["threads"] == 1
               and r["engine"] == "PyTorch")
    assert rec["quantity"] == "call_time" and rec["unit"] == "ms" and rec["statistic"] == "median"
    assert rec["value"] == 36.0 and rec["samples"] == 5 and rec["min"] <= rec["q1"] <= rec["value"] <= rec["q3"]
    assert {r["unit"] for r in doc["records"] if r["quantity"] == "step_time"} == {"us"}
    assert {r["engine"] for r in doc["records"] if r["case"] == "v"} == {"rnnfast", report.PLAIN, "PyTorch"}


def test_report_writes_tables_and_plots(results, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    assert report.main(["--results", str(results), "--out", str(out), "--readme"]) == 0
    text = (out / "results.md").read_text()
    assert not [line for line in text.splitlines() if line.startswith("# ")]  # headings from level 2 down
    assert text.count("\n## ") == 1  # one machine
    assert "| a | LSTM | 1 | 0.200 | 0.500 | 0.300 | 2.50x | 1.50x |" in text
    assert "| c | GRU | 2 | 55.000 | 75.000 | — | 1.36x | — |" in text
    assert "| LSTM | 16 | 0.50 | 20.00 | 10.00 | 40.00x | 20.00x |" in text
    assert "| layer_norm | 2 | 120.0 | 100.0 | 1.20 | 240.0 | 2.00x |" in text
    assert "| peephole | 1 | 120.0 | 100.0 | 1.20 | — | — |" in text
    assert "| LSTM | 59.0 | 177.0 | 3.00x |" in text and "| GRU | 50.0 | — | — |" in text
    assert "| lstm | 44.0 | 88.0 | 176.0 | 352.0 | 704.0 |" in text  # the repetitions' median aggregate
    # bfloat16 against float32's median at H = 128 (704 ns), the other sizes not measured
    assert "| lstm | float32 | 704.0 |" in text
    assert "| lstm | bfloat16 | 320.0 (0.45) |" in text and "| lstm | bfloat16, portable | 480.0 (0.68) |" in text
    assert "Measured on" in text and "rnnfast 0.1.0 C++" in text
    images = [line[line.index("](") + 2:-1] for line in text.splitlines() if line.startswith("![")]
    assert len(images) == 3  # LSTM and GRU bars, the step latency
    for name in images:
        assert "/" not in name
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # deterministic: the same files again
    again = tmp_path / "again"
    report.main(["--results", str(results), "--out", str(again)])
    assert (again / "results.md").read_text() == text
    for name in images:
        assert (again / name).read_bytes() == (out / name).read_bytes()
        assert b"tEXtSoftware" not in (out / name).read_bytes()
    printed = capsys.readouterr().out
    assert printed.startswith("Measured on ") and report.COMPARE_HEADER in printed
    assert "| d | GRU | 2 | 30.000 | 60.000 | — | 2.00x | — |" in printed


def test_runs_without_peers_do_not_replace_a_comparison(results, tmp_path, capsys):
    started = report.utc_now()
    doc = synthetic_compare(started)
    doc["options"]["peers"] = False
    doc["records"] = [{**r, "value": 1e3} for r in doc["records"] if r["engine"] == "rnnfast"]
    report.write_document(results / "zz-no-peers.json", doc)
    report.main(["--results", str(results), "--readme"])
    assert "| a | LSTM | 1 | 0.200 | 0.500 | 0.300 |" in capsys.readouterr().out


def test_report_without_results(tmp_path):
    out = tmp_path / "out"
    assert report.main(["--results", str(tmp_path / "none"), "--out", str(out)]) == 0
    assert "No benchmark results" in (out / "results.md").read_text()


def test_unfinished_and_foreign_files_are_skipped(tmp_path, capsys):
    started = report.utc_now()
    doc = synthetic_compare(started)
    report.write_document(tmp_path / "a.json", {**doc, "complete": False})
    report.write_document(tmp_path / "b.json", {**doc, "schema_version": 99})
    (tmp_path / "c.json").write_text("{")
    assert report.load_results(tmp_path) == []
    assert capsys.readouterr().err.count("skipping") == 3


def test_machine_names():
    assert report.microarchitecture("AuthenticAMD", 26, 2) == "zen5"
    assert report.microarchitecture("AuthenticAMD", 25, 1) == "zen3"
    assert report.microarchitecture("AuthenticAMD", 25, 0x11) == "zen4"
    assert report.microarchitecture("AuthenticAMD", 23, 0x31) == "zen2"
    assert report.microarchitecture("GenuineIntel", 6, 0x8F) == "sapphire-rapids"
    assert report.microarchitecture("GenuineIntel", 6, 0x55, 7) == "cascade-lake"
    assert report.microarchitecture("GenuineIntel", 6, 0x01) is None
    amd = {"vendor": "AuthenticAMD", "model_name": "AMD EPYC 9B45 128-Core Processor", "microarchitecture": "zen5"}
    assert report.machine_slug(amd) == "amd-epyc-zen5"
    intel = {"vendor": "GenuineIntel", "model_name": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
             "microarchitecture": "sapphire-rapids"}
    assert report.machine_slug(intel) == "intel-xeon-sapphire-rapids"
    assert report.machine_slug({"model_name": "Neoverse-V2", "vendor": "ARM"}) == "neoverse-v2"
    assert report.machine_info()["slug"]


def test_micro_names():
    assert run_micro.parse_name("Forward/lstm_ln/a/threads:2/real_time") == {
        "family": "Forward", "cell": "lstm_ln", "case": "a", "hidden": None, "threads": 2}
    assert run_micro.parse_name("Stream/gru/H64") == {
        "family": "Stream", "cell": "gru", "case": None, "hidden": 64, "threads": None}
    assert run_micro.parse_name("WeightGrads/b")["case"] == "b"
    rec = next(r for r in synthetic_micro(report.utc_now())["records"] if r["family"] == "Forward")
    assert rec["unit"] == "ms" and rec["counters"] == {"FLOP/s": 4e11} and rec["threads"] == 2


def test_compare_json_tiny_run(tmp_path):
    """compare.py --json on a tiny run (rnnfast alone, case a, a few calls) writes a complete, readable file."""
    path = tmp_path / "run.json"
    done = subprocess.run([sys.executable, str(BENCH / "compare.py"), "--cases", "a", "--cells", "gru", "--threads",
                           "1", "--min-seconds", "0.02", "--min-calls", "2", "--no-peers", "--json", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| a | GRU | 1 |" in done.stdout
    doc = json.loads(path.read_text())
    assert doc["complete"] and doc["options"]["peers"] is False and doc["options"]["cases"] == ["a"]
    [rec] = doc["records"]
    assert rec["engine"] == "rnnfast" and rec["case"] == "a" and rec["cell"] == "gru" and rec["threads"] == 1
    assert rec["value"] > 0 and rec["samples"] >= 2 and rec["unit"] == "ms"
    row = next(line for line in done.stdout.splitlines() if line.startswith("| a | GRU"))
    assert row == report.compare_row("a", "gru", 1, {"rnnfast": float(row.split("|")[4])})
    assert [r["_file"] for r in report.load_results(tmp_path)] == ["run.json"]


def test_readme_shows_the_newest_comparison():
    """The README's table is the one report.py makes from the newest comparison in bench/results/."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "bench" / "report.py"), "--readme"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() in (root / "README.md").read_text(encoding="utf-8"), \
        "README.md's performance table is not the newest results file's: paste `python bench/report.py --readme`"
