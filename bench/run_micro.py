"""Runs the C++ microbenchmarks (bench/micro.cpp, Google Benchmark) and writes their figures, with the machine and
the software, into one results file.

    cmake -S . -B build/bench -G Ninja -DRNNFAST_BUILD_BENCHMARKS=ON -DRNNFAST_NATIVE=ON
    cmake --build build/bench --target rnnfast_bench
    python bench/run_micro.py --filter 'Stream/' --repetitions 5   # the streaming step per hidden size
    python bench/run_micro.py                                        # every benchmark, once
    python bench/run_micro.py --filter 'Forward/lstm' -- --benchmark_min_time=1

The binary prints its usual table; its JSON output (--benchmark_out) is kept whole under "google_benchmark" (less
the host name), and each of its entries also becomes a record of the schema compare.py writes (quantity
"real_time", the unit Google Benchmark reports, the benchmark's name parsed into family, cell, case, hidden size
and threads). Default path: bench/results/<machine>-<UTC time>-micro.json; bench/results/README.md describes the
schema.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from report import default_path, document, machine_info, record, software_info, utc_now, write_document

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = ROOT / "build" / "bench" / "bench" / "rnnfast_bench"
ENGINE = "rnnfast C++"
CACHE_KEYS = ("CMAKE_BUILD_TYPE", "CMAKE_CXX_COMPILER", "CMAKE_CXX_FLAGS", "CMAKE_CXX_FLAGS_RELEASE", "RNNFAST_NATIVE",
              "RNNFAST_BLAS", "RNNFAST_SANITIZE", "RNNFAST_TSAN", "benchmark_DIR")
GB_KEYS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
           "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit", "aggregate_name",
           "aggregate_unit", "label", "error_occurred", "error_message"}


def parse_name(run_name: str) -> dict:
    """Forward/lstm/a/threads:1/real_time -> {"family": "Forward", "cell": "lstm", "case": "a", "threads": 1};
    Stream/gru/H64 -> {"family": "Stream", "cell": "gru", "hidden": 64}."""
    parts = run_name.split("/")
    out: dict = {"family": parts[0], "cell": None, "case": None, "hidden": None, "threads": None}
    for part in parts[1:]:
        if part == "real_time":
            continue
        if part.startswith("threads:"):
            out["threads"] = int(part.split(":", 1)[1])
        elif re.fullmatch(r"H\d+", part):
            out["hidden"] = int(part[1:])
        elif re.fullmatch(r"[a-z]", part):
            out["case"] = part
        elif out["cell"] is None:
            out["cell"] = part
    return out


def micro_records(benchmarks: list[dict]) -> list[dict]:
    """One record per entry of Google Benchmark's JSON: a repetition ("iteration": the mean over its iterations)
    or an aggregate over the repetitions (mean, median, stddev, cv: its name is the statistic)."""
    records = []
    for b in benchmarks:
        if b.get("error_occurred"):
            continue
        keys = parse_name(b.get("run_name", b["name"]))
        case = keys.pop("case")
        aggregate = b.get("run_type") == "aggregate"
        unit = "fraction" if b.get("aggregate_unit") == "percentage" else b["time_unit"]
        counters = {k: v for k, v in b.items() if k not in GB_KEYS and isinstance(v, (int, float))}
        x = record(case, ENGINE, "real_time", unit, value=b["real_time"],
                   statistic=b["aggregate_name"] if aggregate else "iteration", benchmark=b["name"], **keys)
        x.update(samples=b["repetitions"] if aggregate else 1, cpu_time=float(f"{b['cpu_time']:.6g}"),
                 iterations=b["iterations"], repetition_index=b.get("repetition_index"), counters=counters)
        records.append(x)
    return records


def micro_document(machine: dict, software: dict, options: dict, data: dict, started) -> dict:
    """The content of run_micro.py's results file: Google Benchmark's JSON output (data) whole, and its records."""
    return document("micro", machine, software, options, micro_records(data.get("benchmarks", [])), started,
                    google_benchmark=data)


def cmake_cache(binary: Path) -> dict:
    """The build's settings from the CMakeCache.txt of the build folder that holds the binary."""
    for folder in [binary.parent, *binary.parents][:4]:
        cache = folder / "CMakeCache.txt"
        if cache.is_file():
            out = {}
            for line in cache.read_text(errors="replace").splitlines():
                name, _, value = line.partition("=")
                name = name.split(":", 1)[0]
                if name in CACHE_KEYS:
                    out[name] = value
            out["build_dir"] = str(folder)
            return out
    return {}


def _first_line(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip().splitlines() or [None])[0]


def build_info(binary: Path) -> dict:
    cache = cmake_cache(binary)
    version = re.search(r"project\(rnnfast VERSION ([\d.]+)", (ROOT / "CMakeLists.txt").read_text())
    gb_version = None
    config = Path(cache.get("benchmark_DIR", "")) / "benchmarkConfigVersion.cmake"
    if config.is_file():
        found = re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', config.read_text())
        gb_version = found.group(1) if found else None
    linked = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout if binary.exists() else ""
    return {"version": version.group(1) if version else None, "binary": str(binary), "cmake": cache,
            "compiler": _first_line([cache["CMAKE_CXX_COMPILER"], "--version"]) if cache.get("CMAKE_CXX_COMPILER")
            else None,
            "gemm_backend": "openblas" if "openblas" in linked else "eigen",
            "google_benchmark": gb_version}


def run_benchmark(binary: Path, args: list[str]) -> dict:
    """Runs the binary (its table on this process's stdout) and returns its JSON output."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "benchmark.json"
        subprocess.run([str(binary), *args, f"--benchmark_out={out}", "--benchmark_out_format=json"], check=True)
        data = json.loads(out.read_text())
    data.get("context", {}).pop("host_name", None)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY, help="default: %(default)s")
    parser.add_argument("--filter", help="--benchmark_filter, a regular expression (default: every benchmark)")
    parser.add_argument("--repetitions", type=int, help="--benchmark_repetitions (the report takes their median)")
    parser.add_argument("--min-time", help="--benchmark_min_time (seconds; Google Benchmark >= 1.8 also takes '0.5s')")
    parser.add_argument("--json", metavar="PATH", type=Path,
                        help="results file (default: bench/results/<machine>-<UTC time>-micro.json)")
    parser.add_argument("extra", nargs="*", help="after --: further arguments for the binary")
    args = parser.parse_args(argv)
    if not args.binary.is_file():
        parser.error(f"{args.binary} does not exist; build it with\n  cmake -S . -B build/bench -G Ninja "
                     "-DRNNFAST_BUILD_BENCHMARKS=ON -DRNNFAST_NATIVE=ON && cmake --build build/bench "
                     "--target rnnfast_bench")
    gb_args = [*([f"--benchmark_filter={args.filter}"] if args.filter else []),
               *([f"--benchmark_repetitions={args.repetitions}"] if args.repetitions else []),
               *([f"--benchmark_min_time={args.min_time}"] if args.min_time else []), *args.extra]
    started = utc_now()
    machine = machine_info()
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    software = {**software_info(np=np), "rnnfast_cpp": build_info(args.binary)}
    if software["rnnfast_cpp"]["cmake"].get("RNNFAST_NATIVE", "").upper() != "ON":
        print("run_micro.py: the binary was not built with -DRNNFAST_NATIVE=ON, so it runs the compiler's default "
              "target (no AVX2/AVX-512 unless the compiler's default has them)", file=sys.stderr)
    data = run_benchmark(args.binary, gb_args)
    options = {"filter": args.filter, "repetitions": args.repetitions, "min_time": args.min_time,
               "benchmark_args": gb_args, "argv": sys.argv[1:] if argv is None else list(argv)}
    path = args.json or default_path("micro", machine, started)
    write_document(path, micro_document(machine, software, options, data, started))
    print(f"results written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
