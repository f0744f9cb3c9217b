"""The benchmark results as data: the schema of bench/results/*.json, and the tables and plots made from them.

    python bench/report.py --out docs/_generated/bench          # results.md and PNG plots into that folder
    python bench/report.py --out DIR --results path/to/results  # another folder of results files
    python bench/report.py --readme                              # the README's table: the newest compare run

compare.py (`--json`) and run_micro.py write the files through the functions of this module (record,
compare_row, ...), so the printed tables, the files and the docs' tables share one definition. This module needs
neither rnnfast's compiled extension nor the network: only the standard library, and matplotlib for the plots.
bench/results/README.md describes the schema.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

SCHEMA_VERSION = 1
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ENGINES = ("rnnfast", "PyTorch", "ONNX Runtime")
PLAIN = "rnnfast plain LSTM"  # case v: rnnfast's plain LSTM, timed in the same rounds as each variant
CPP_STREAM = "rnnfast C++ Stream"  # the step latency of micro.cpp's Stream/... in the step-latency plot
SEQUENCE_CASES = ("a", "b", "c", "d")
VARIANTS = ("peephole", "layer_norm", "dropout", "recurrent_dropout")
FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_bf16",
         "avx512_vnni", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "hypervisor")
ENVIRONMENT = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OMP_PROC_BIND",
               "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "RNNFAST_INSTRUCTION_SET", "CUDA_VISIBLE_DEVICES")


# ---- the machine -----------------------------------------------------------------------------------------------

# Intel family 6 model numbers (Intel SDM, Linux arch/x86/include/asm/intel-family.h).
INTEL_MODELS = {
    0x3C: "haswell", 0x3F: "haswell", 0x45: "haswell", 0x46: "haswell",
    0x3D: "broadwell", 0x47: "broadwell", 0x4F: "broadwell", 0x56: "broadwell",
    0x4E: "skylake", 0x5E: "skylake", 0x8E: "kaby-lake", 0x9E: "kaby-lake", 0xA5: "comet-lake", 0xA6: "comet-lake",
    0x66: "cannon-lake", 0x6A: "ice-lake", 0x6C: "ice-lake", 0x7D: "ice-lake", 0x7E: "ice-lake",
    0x8C: "tiger-lake", 0x8D: "tiger-lake", 0xA7: "rocket-lake", 0x97: "alder-lake", 0x9A: "alder-lake",
    0xB7: "raptor-lake", 0xBA: "raptor-lake", 0xBF: "raptor-lake", 0xAA: "meteor-lake", 0xAC: "meteor-lake",
    0xBD: "lunar-lake", 0xC5: "arrow-lake", 0xC6: "arrow-lake", 0x8F: "sapphire-rapids", 0xCF: "emerald-rapids",
    0xAD: "granite-rapids", 0xAE: "granite-rapids", 0xAF: "sierra-forest",
}


def microarchitecture(vendor: str, family: int | None, model: int | None, stepping: int | None = None) -> str | None:
    """A short name of the core's microarchitecture from the vendor and the CPUID family/model, or None."""
    if family is None or model is None:
        return None
    if vendor == "AuthenticAMD":
        if family == 0x17:
            return "zen2" if model >= 0x30 else "zen"
        if family == 0x19:
            return "zen3" if model <= 0x0F or 0x20 <= model <= 0x5F else "zen4"
        if family == 0x1A:
            return "zen5"
        return None
    if vendor == "GenuineIntel" and family == 6:
        if model == 0x55:  # Skylake-SP, Cascade Lake and Cooper Lake share the model; the stepping tells them apart
            return "skylake" if (stepping or 0) <= 4 else "cascade-lake" if (stepping or 0) <= 7 else "cooper-lake"
        if model == 0x9E and (stepping or 0) >= 10:
            return "coffee-lake"
        return INTEL_MODELS.get(model)
    return None


def slugify(text: str) -> str:
    text = re.sub(r"\((R|TM|tm|r)\)|\b(CPU|Processor|\d+-Core)\b|@.*$", " ", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown-cpu"


def machine_slug(machine: dict) -> str:
    """amd-epyc-zen5, intel-xeon-sapphire-rapids, ...: vendor, product line and microarchitecture, or else the
    model name made into a file name."""
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(machine.get("vendor") or "")
    uarch, name = machine.get("microarchitecture"), machine.get("model_name") or ""
    if vendor and uarch:
        line = next((w for w in ("epyc", "ryzen", "threadripper", "xeon", "core", "atom") if w in name.lower()), "")
        return "-".join(p for p in (vendor, line, uarch) if p)
    return slugify(name or platform.machine())


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _lscpu() -> dict:
    try:
        fields = json.loads(_run(["lscpu", "-J"]) or "{}").get("lscpu", [])
    except json.JSONDecodeError:
        return {}
    out = {}
    stack = list(fields)
    while stack:  # newer lscpu nests the fields under their sections
        field = stack.pop(0)
        out[field.get("field", "").rstrip(":")] = field.get("data")
        stack.extend(field.get("children", []))
    return out


def _caches() -> dict:
    """{"L1d": {"size_kib": 48, "instances": 2}, ...} from sysfs: per-instance size and number of instances."""
    caches: dict = {}
    root = Path("/sys/devices/system/cpu")
    for index in sorted(root.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
            kib = int(size[:-1]) * (1024 if size[-1] == "M" else 1) if size[-1:] in ("K", "M") else int(size) // 1024
        except (OSError, ValueError):
            continue
        name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
        entry = caches.setdefault(name, {"size_kib": kib, "shared_by": set()})
        entry["shared_by"].add(shared)
    return {name: {"size_kib": c["size_kib"], "instances": len(c["shared_by"])} for name, c in sorted(caches.items())}


def _int(value) -> int | None:
    try:
        return int(str(value).strip(), 0)
    except (TypeError, ValueError):
        return None


def machine_info() -> dict:
    """What the figures were measured on: CPU (and the flags that matter), cores, caches, kernel, VM or not."""
    first: dict = {}
    cores = set()
    processors = 0
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for block in text.strip().split("\n\n"):
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())}
        if "processor" not in fields:
            continue
        processors += 1
        first = first or fields
        cores.add((fields.get("physical id"), fields.get("core id", fields["processor"])))
    lscpu = _lscpu()
    vendor = first.get("vendor_id") or lscpu.get("Vendor ID") or ""
    family, model = _int(first.get("cpu family") or lscpu.get("CPU family")), _int(first.get("model"))
    stepping = _int(first.get("stepping"))
    flags = set((first.get("flags") or lscpu.get("Flags") or "").split())
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    levels = {"x86-64-v2": {"sse4_2", "popcnt", "ssse3", "cx16"},
              "x86-64-v3": {"avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"},
              "x86-64-v4": {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}}
    level = None
    for name, needs in levels.items():
        if not needs <= flags:
            break
        level = name
    machine = {
        "model_name": first.get("model name") or lscpu.get("Model name") or platform.processor() or None,
        "vendor": vendor or None,
        "family": family,
        "model": model,
        "stepping": stepping,
        "microarchitecture": microarchitecture(vendor, family, model, stepping),
        "architecture": platform.machine(),
        "x86_64_level": level,
        "flags": {f: f in flags for f in FLAGS} if flags else {},
        "logical_cpus": processors or os.cpu_count(),
        "usable_cpus": logical,
        "physical_cores": len(cores) or None,
        "caches": _caches(),
        "memory_gib": None,
        "kernel": platform.release(),
        "os": None,
        "virtual_machine": "hypervisor" in flags or bool(lscpu.get("Hypervisor vendor")),
        "hypervisor_vendor": lscpu.get("Hypervisor vendor"),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kib = next(int(v.split()[1]) for v in meminfo if v.startswith("MemTotal:"))
        machine["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        release = dict(v.split("=", 1) for v in Path("/etc/os-release").read_text().splitlines() if "=" in v)
        machine["os"] = release.get("PRETTY_NAME", "").strip('"') or None
    except OSError:
        pass
    machine["slug"] = machine_slug(machine)
    return machine


# ---- the software ----------------------------------------------------------------------------------------------

def rnnfast_info(rf) -> dict:
    core = rf._core
    return {"version": rf.__version__, "instruction_set": core.instruction_set, "gemm_backend": core.gemm_backend(),
            "num_threads": rf.get_num_threads() if hasattr(rf, "get_num_threads") else None,
            "sanitized": bool(getattr(core, "sanitized", False))}


def software_info(rf=None, np=None, torch=None, ort=None, onnx=None) -> dict:
    """Versions of what ran (the modules given, those that are None are recorded as absent), the environment
    variables that change threads or kernels, and the source tree's commit."""
    software: dict = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__ if np is not None else None,
        "rnnfast": rnnfast_info(rf) if rf is not None else None,
        "torch": None,
        "onnxruntime": None,
        "onnx": onnx.__version__ if onnx is not None else None,
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
        "source": source_info(),
    }
    if torch is not None:
        info = torch.__config__.parallel_info().splitlines()
        software["torch"] = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
                             "num_interop_threads": torch.get_num_interop_threads(),
                             "parallel_info": [v.strip() for v in info if v.strip()]}
    if ort is not None:
        software["onnxruntime"] = {"version": ort.__version__, "device": ort.get_device(),
                                   "providers": list(ort.get_available_providers())}
    return software


def source_info() -> dict:
    """The git commit of the tree the benchmark ran from, and whether tracked files differed from it."""
    root = Path(__file__).resolve().parent.parent
    commit = _run(["git", "-C", str(root), "rev-parse", "HEAD"]).strip() or None
    dirty = bool(_run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"]).strip())
    return {"git_commit": commit, "git_dirty": dirty if commit else None}


# ---- the records -----------------------------------------------------------------------------------------------

def _round(v: float) -> float:
    return float(f"{v:.6g}")  # six significant digits: far below the run-to-run noise, and short files


def summary(samples) -> dict:
    """The median of the samples, their number, extremes and quartiles."""
    values = sorted(float(v) for v in samples)
    out = {"statistic": "median", "value": _round(statistics.median(values)), "samples": len(values),
           "min": _round(values[0]), "max": _round(values[-1])}
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4)
        out.update(q1=_round(q1), q3=_round(q3))
    return out


def record(case: str | None, engine: str, quantity: str, unit: str, samples=None, value: float | None = None,
           statistic: str = "single", **keys) -> dict:
    """One figure: {"case", the keys that place it (cell, threads, hidden, variant, ...), "engine", "quantity",
    "unit", "statistic", "value", "samples", ...}. With samples, value is their median (and statistic "median");
    else value as measured, with the statistic it is (a single measurement unless told)."""
    out = {"case": case, **keys, "engine": engine, "quantity": quantity, "unit": unit}
    if samples is not None:
        out.update(summary(samples))
    else:
        out.update(statistic=statistic, value=None if value is None else _round(float(value)), samples=1)
    return out


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def document(kind: str, machine: dict, software: dict, options: dict, records: list, started: dt.datetime,
             complete: bool = True, **extra) -> dict:
    """A results file's content; kind is "compare" or "micro"."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "complete": complete, "started_utc": iso(started),
            "finished_utc": iso(utc_now()) if complete else None, "machine": machine, "software": software,
            "options": options, **extra, "records": records}


def default_path(kind: str, machine: dict, started: dt.datetime, directory: Path = RESULTS_DIR) -> Path:
    return directory / f"{machine['slug']}-{started.strftime('%Y%m%dT%H%M%SZ')}-{kind}.json"


def write_document(path: Path, data: dict) -> None:
    """Writes the file whole (a temporary file renamed), so that a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)


# ---- rows of the tables (compare.py prints the same rows) ------------------------------------------------------

def fmt(v: float | None, digits: int = 2, suffix: str = "") -> str:
    return "—" if v is None else f"{v:.{digits}f}{suffix}"


def _ratio(peer: float | None, ours: float | None) -> float | None:
    return peer / ours if peer and ours else None


COMPARE_HEADER = ("| case | cell | threads | rnnfast | PyTorch | ONNX Runtime | vs PyTorch | vs ONNX Runtime |\n"
                  "|---|---|---|---|---|---|---|---|")
STEP_HEADER = ("| cell | units | rnnfast | PyTorch | ONNX Runtime | vs PyTorch | vs ONNX Runtime |\n"
               "|---|---|---|---|---|---|---|")
VARIANT_HEADER = ("| variant | threads | rnnfast | rnnfast plain LSTM | / plain | PyTorch | vs PyTorch |\n"
                  "|---|---|---|---|---|---|---|")
MEMORY_HEADER = "| cell | rnnfast | PyTorch | ratio |\n|---|---|---|---|"


def compare_row(case: str, cell: str, threads: int, ms: dict) -> str:
    ours, pt, ox = ms.get("rnnfast"), ms.get("PyTorch"), ms.get("ONNX Runtime")
    return (f"| {case} | {cell.upper()} | {threads} | {fmt(ours, 3)} | {fmt(pt, 3)} | {fmt(ox, 3)} | "
            f"{fmt(_ratio(pt, ours), suffix='x')} | {fmt(_ratio(ox, ours), suffix='x')} |")


def step_row(cell: str, hidden: int, us: dict) -> str:
    ours, pt, ox = us.get("rnnfast"), us.get("PyTorch"), us.get("ONNX Runtime")
    return (f"| {cell.upper()} | {hidden} | {fmt(ours)} | {fmt(pt)} | {fmt(ox)} | "
            f"{fmt(_ratio(pt, ours), suffix='x')} | {fmt(_ratio(ox, ours), suffix='x')} |")


def variant_row(variant: str, threads: int, ms: dict) -> str:
    ours, base, pt = ms.get("rnnfast"), ms.get(PLAIN), ms.get("PyTorch")
    return (f"| {variant} | {threads} | {fmt(ours, 1)} | {fmt(base, 1)} | {fmt(_ratio(ours, base))} | "
            f"{fmt(pt, 1)} | {fmt(_ratio(pt, ours), suffix='x')} |")


def memory_row(cell: str, mib: dict) -> str:
    ours, pt = mib.get("rnnfast"), mib.get("PyTorch")
    return f"| {cell.upper()} | {fmt(ours, 1)} | {fmt(pt, 1)} | {fmt(_ratio(pt, ours), suffix='x')} |"


# ---- reading results -------------------------------------------------------------------------------------------

def load_results(directory: Path) -> list[dict]:
    """Every complete results file of a supported schema in the folder (others are named on stderr and skipped),
    oldest first."""
    runs = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"report.py: skipping {path.name}: {e}", file=sys.stderr)
            continue
        if not isinstance(data, dict) or data.get("kind") not in ("compare", "micro"):
            print(f"report.py: skipping {path.name}: not a results file", file=sys.stderr)
            continue
        if data.get("schema_version") != SCHEMA_VERSION:
            print(f"report.py: skipping {path.name}: schema_version {data.get('schema_version')!r}, this report "
                  f"reads {SCHEMA_VERSION}", file=sys.stderr)
            continue
        if not data.get("complete"):
            print(f"report.py: skipping {path.name}: an unfinished run", file=sys.stderr)
            continue
        data["_file"] = path.name
        runs.append(data)
    return sorted(runs, key=lambda r: (r.get("finished_utc") or "", r["_file"]))


def _newest(runs: list[dict], kind: str, want) -> dict | None:
    """The newest run of the kind with at least one record that want(record) accepts; of compare runs, those that
    timed the peers first (a --no-peers run, e.g. comparing builds, does not replace a comparison)."""
    found = [r for r in runs if r["kind"] == kind and any(want(x) for x in r["records"])]
    with_peers = [r for r in found if (r.get("options") or {}).get("peers", True)]
    return (with_peers or found or [None])[-1]


def _values(run: dict, want, key) -> dict:
    """{key(record): {engine: value}} of the records that want(record) accepts."""
    out: dict = {}
    for x in run["records"]:
        if want(x):
            out.setdefault(key(x), {})[x["engine"]] = x["value"]
    return out


def machine_title(machine: dict) -> str:
    uarch = machine.get("microarchitecture")
    pretty = {"zen": "Zen", "zen2": "Zen 2", "zen3": "Zen 3", "zen4": "Zen 4", "zen5": "Zen 5"}.get(uarch or "")
    pretty = pretty or (uarch or "").replace("-", " ").title()
    name = machine.get("model_name") or "unknown CPU"
    return f"{name} ({pretty})" if pretty and pretty.lower() not in name.lower() else name


def _size(kib: int) -> str:
    return f"{kib // 1024} MiB" if kib >= 1024 and kib % 1024 == 0 else f"{kib} KiB"


def machine_line(machine: dict) -> str:
    parts = [machine_title(machine)]
    if machine.get("family") is not None:
        parts[0] += f", family {machine['family']} model {machine.get('model')}"
    cores = machine.get("physical_cores")
    logical = machine.get("logical_cpus")
    parts.append(f"{logical} logical CPUs" + (f", {cores} cores" if cores else ""))
    if machine.get("virtual_machine"):
        vendor = machine.get("hypervisor_vendor")
        parts.append(f"a VM ({vendor})" if vendor else "a VM")
    caches = machine.get("caches") or {}
    cache_text = []
    for name in ("L1d", "L2", "L3"):
        if name in caches:
            c = caches[name]
            share = f" (×{c['instances']})" if c.get("instances", 1) > 1 else ""
            cache_text.append(f"{name} {_size(c['size_kib'])}{share}")
    if cache_text:
        parts.append(", ".join(cache_text))
    flags = machine.get("flags") or {}
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile") if flags.get(f)]
    if isa:
        parts.append(" ".join(isa))
    if machine.get("kernel"):
        parts.append(f"Linux {machine['kernel']}")
    return "; ".join(parts)


def software_line(software: dict, peers: bool = True, source: bool = True) -> str:
    """The software of a run; `source`: with the commit it ran from."""
    parts = [f"Python {software.get('python')}"]
    if software.get("numpy"):
        parts.append(f"NumPy {software['numpy']}")
    rf = software.get("rnnfast")
    if rf:
        parts.append(f"rnnfast {rf['version']} (instruction set {rf['instruction_set']}, products "
                     f"{rf['gemm_backend']})")
    cpp = software.get("rnnfast_cpp")
    if cpp:
        cache = cpp.get("cmake") or {}
        native = {"ON": "-march=native", "OFF": "the compiler's default target"}.get(
            str(cache.get("RNNFAST_NATIVE", "")).upper(), "")
        build_type = cache.get("CMAKE_BUILD_TYPE") or "Release"  # CMakeLists.txt's default when none is given
        parts.append(f"rnnfast {cpp.get('version')} C++ ({build_type}"
                     + (f", {native}" if native else "") + (f", {cpp['compiler']}" if cpp.get("compiler") else "")
                     + ")")
        if cpp.get("google_benchmark"):
            parts.append(f"Google Benchmark {cpp['google_benchmark']}")
    if peers and software.get("torch"):
        parts.append(f"torch {software['torch']['version']}")
    if peers and software.get("onnxruntime"):
        parts.append(f"onnxruntime {software['onnxruntime']['version']}")
    tree = software.get("source") or {}
    if source and tree.get("git_commit"):
        parts.append(f"commit {tree['git_commit'][:10]}" + (" with local changes" if tree.get("git_dirty") else ""))
    return ", ".join(parts)


def machine_short(machine: dict) -> str:
    cores = machine.get("physical_cores") or machine.get("logical_cpus")
    return f"{machine_title(machine)}, {cores} cores" + (", a VM" if machine.get("virtual_machine") else "")


def measured_on(run: dict) -> str:
    """The line above a table: the machine (its section has the details), the software and the run."""
    peers = (run.get("options") or {}).get("peers", True)
    date = (run.get("finished_utc") or "")[:10]
    return (f"*Measured on {machine_short(run['machine'])}; {software_line(run['software'], peers)}; "
            f"{run['kind']} run of {date} (`{run['_file']}`).*")


# ---- the report ------------------------------------------------------------------------------------------------

COLORS = {"rnnfast": "#1f77b4", "PyTorch": "#ff7f0e", "ONNX Runtime": "#2ca02c", CPP_STREAM: "#9467bd"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(fig)


def plot_cases(run: dict, cell: str, path: Path) -> bool:
    """Grouped bars: per case a–d (one panel each), per thread count, one bar per engine; median ms."""
    plt = _pyplot()
    data = _values(run, lambda x: x["quantity"] == "call_time" and x["case"] in SEQUENCE_CASES and x["cell"] == cell,
                   lambda x: (x["case"], x["threads"]))
    cases = [c for c in SEQUENCE_CASES if any(k[0] == c for k in data)]
    if not cases:
        return False
    with plt.style.context("default"):
        fig, axes = plt.subplots(1, len(cases), figsize=(max(6.0, 3.2 * len(cases) + 0.8), 3.8), squeeze=False)
        for ax, case in zip(axes[0], cases):
            threads = sorted(k[1] for k in data if k[0] == case)
            engines = [e for e in ENGINES if any(e in data[(case, t)] for t in threads)]
            width = 0.8 / len(engines)
            for i, engine in enumerate(engines):
                xs = [j + (i - (len(engines) - 1) / 2) * width for j in range(len(threads))]
                ys = [data[(case, t)].get(engine, float("nan")) for t in threads]
                bars = ax.bar(xs, ys, width, label=engine, color=COLORS[engine])
                ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
            ax.set_xticks(range(len(threads)), [f"{t} thread{'s' if t != 1 else ''}" for t in threads])
            mode = (run.get("cases") or {}).get(case, {}).get("mode", "")
            ax.set_title(f"case {case}" + (f" ({mode})" if mode else ""), fontsize=10)
            ax.set_ylabel("ms per call (median)")
            ax.margins(y=0.15)
        handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
        fig.legend([handles[e] for e in ENGINES if e in handles], [e for e in ENGINES if e in handles],
                   loc="lower center", ncol=3, fontsize=8, frameon=False)
        fig.suptitle(f"{cell.upper()}: median ms per call (lower is faster)", fontsize=11)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        _save(fig, path)
    return True


def _cpp_stream(micro: dict | None, family: str = "Stream") -> dict:
    """{(cell, hidden): ns} of micro.cpp's <family>/<cell>/H<h> (Stream, StreamBfloat16, ...): Google Benchmark's
    median aggregate where the run had repetitions, else the median of the repetitions' (or the single run's)
    figures."""
    if micro is None:
        return {}
    medians: dict = {}
    runs: dict = {}
    for x in micro["records"]:
        if x.get("family") != family or x["statistic"] not in ("median", "iteration"):
            continue
        key = (x["cell"], x["hidden"])
        ns = x["value"] * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[x["unit"]]
        if x["statistic"] == "median":
            medians[key] = ns
        elif x["statistic"] == "iteration":
            runs.setdefault(key, []).append(ns)
    return {**{k: statistics.median(v) for k, v in runs.items()}, **medians}


def plot_step_latency(steps: dict, cpp: dict, path: Path) -> bool:
    """Step latency (µs, log) against the hidden size (log 2) per cell: case e per engine, and micro.cpp's Stream."""
    plt = _pyplot()
    from matplotlib import ticker

    cells = sorted({k[0] for k in steps} | {k[0] for k in cpp if k[0] in ("lstm", "gru")}, key=_cell_order)
    if not cells:
        return False
    with plt.style.context("default"):
        fig, axes = plt.subplots(1, len(cells), figsize=(max(6.0, 4.6 * len(cells)), 3.8), squeeze=False,
                                 sharey=True)
        for ax, cell in zip(axes[0], cells):
            for engine in ENGINES:
                points = sorted((h, v[engine]) for (c, h), v in steps.items() if c == cell and engine in v)
                if points:
                    ax.plot(*zip(*points), marker="o", label=f"{engine}, step from Python", color=COLORS[engine])
            points = sorted((h, ns / 1e3) for (c, h), ns in cpp.items() if c == cell)
            if points:
                ax.plot(*zip(*points), marker="s", linestyle="--", label=CPP_STREAM, color=COLORS[CPP_STREAM])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            hidden = sorted({h for (c, h) in steps if c == cell} | {h for (c, h) in cpp if c == cell})
            ax.set_xticks(hidden, [str(h) for h in hidden])
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(ticker.NullLocator())
            ax.set_xlabel("hidden size")
            if ax is axes[0][0]:
                ax.set_ylabel("µs per step (median)")
            ax.set_title(f"{cell.upper()}, batch 1, 1 thread", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
        handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
        labels = [f"{e}, step from Python" for e in ENGINES] + [CPP_STREAM]
        labels = [label for label in labels if label in handles]
        fig.legend([handles[label] for label in labels], labels, loc="lower center", ncol=min(4, len(labels)),
                   fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        _save(fig, path)
    return True


def _cell_order(cell: str):
    return (("lstm", "gru", "simple_rnn").index(cell) if cell in ("lstm", "gru", "simple_rnn") else 3, cell)


def _row_order(key: tuple):
    case, cell, threads = key
    return case, _cell_order(cell), threads


def _machines(runs: list[dict]) -> list[str]:
    """The machines' slugs, the one with the newest run first."""
    order: list[str] = []
    for run in reversed(runs):
        if run["machine"]["slug"] not in order:
            order.append(run["machine"]["slug"])
    return order


def _cases_line(run: dict, cases) -> str:
    shapes = run.get("cases") or {}
    parts = []
    for case in cases:
        s = shapes.get(case)
        if s:
            parts.append(f"{case} {s['mode']}, batch {s['batch']}, {s['steps']} steps, {s['inputs']} inputs, "
                         f"{s['units']} units")
    return "; ".join(parts)


def machine_section(slug: str, runs: list[dict], out: Path) -> list[str]:
    mine = [r for r in runs if r["machine"]["slug"] == slug]
    newest = mine[-1]
    lines = [f"## {machine_title(newest['machine'])}", "", f"Machine type `{slug}`: {machine_line(newest['machine'])}."]

    def is_seq(x):
        return x["quantity"] == "call_time" and x["case"] in SEQUENCE_CASES

    run = _newest(mine, "compare", is_seq)
    if run:
        data = _values(run, is_seq, lambda x: (x["case"], x["cell"], x["threads"]))
        lines += ["", "### rnnfast, PyTorch and ONNX Runtime", "", measured_on(run), "",
                  f"Cases: {_cases_line(run, sorted({k[0] for k in data}))}. Median ms per call; the ratios are the "
                  "peer's time over rnnfast's (above 1: rnnfast is faster); — where an engine did not run "
                  "(ONNX Runtime does not train).", "", COMPARE_HEADER]
        for (case, cell, threads), ms in sorted(data.items(), key=lambda kv: _row_order(kv[0])):
            lines.append(compare_row(case, cell, threads, ms))
        for cell in sorted({k[1] for k in data}, key=_cell_order):
            name = f"{slug}-{cell}-cases.png"
            if plot_cases(run, cell, out / name):
                lines += ["", f"![{cell.upper()}, cases a–d: median ms per call of each engine]({name})"]

    def is_step(x):
        return x["quantity"] == "step_time"

    step_run = _newest(mine, "compare", is_step)
    steps = _values(step_run, is_step, lambda x: (x["cell"], x["hidden"])) if step_run else {}
    if step_run:
        lines += ["", "### One step from Python", "", measured_on(step_run), "",
                  "Batch 1, D = H, 1 thread, the state kept between calls; µs per step (medians of blocks of calls).",
                  "", STEP_HEADER]
        for (cell, hidden), us in sorted(steps.items(), key=lambda kv: (_cell_order(kv[0][0]), kv[0][1])):
            lines.append(step_row(cell, hidden, us))

    def is_variant(x):
        return x["case"] == "v"

    run = _newest(mine, "compare", is_variant)
    if run:
        data = _values(run, is_variant, lambda x: (x["variant"], x["threads"]))
        lines += ["", "### LSTM variants", "", measured_on(run), "",
                  "Training (forward and backward), shape b; median ms per call; `/ plain` is the variant's time over "
                  "rnnfast's plain LSTM in the same rounds, `vs PyTorch` PyTorch's time over the variant's "
                  "(PyTorch has no peepholes).", "", VARIANT_HEADER]
        order = {v: i for i, v in enumerate(VARIANTS)}
        for (variant, threads), ms in sorted(data.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99))):
            lines.append(variant_row(variant, threads, ms))

    def is_memory(x):
        return x["quantity"] == "peak_memory"

    run = _newest(mine, "compare", is_memory)
    if run:
        data = _values(run, is_memory, lambda x: x["cell"])
        lines += ["", "### Peak memory of one training step", "", measured_on(run), "",
                  "Case d; MiB by which one training step grows the resident set's peak, in a fresh process per "
                  "engine; the ratio is PyTorch's over rnnfast's.", "", MEMORY_HEADER]
        for cell, mib in sorted(data.items(), key=lambda kv: _cell_order(kv[0])):
            lines.append(memory_row(cell, mib))

    micro = _newest(mine, "micro", lambda x: x.get("family") == "Stream")
    cpp = _cpp_stream(micro)
    if micro and cpp:
        hidden = sorted({h for _, h in cpp})
        cells = sorted({c for c, _ in cpp}, key=_cell_order)
        lines += ["", "### C++ streaming step", "", measured_on(micro), "",
                  "`micro.cpp`'s `Stream/<cell>/H<h>`: one `rnnfast::Stream::step()` call at batch 1 and 1 input; ns "
                  "per step" + (" (median of the repetitions)" if any(x["statistic"] == "median"
                                                                      for x in micro["records"]) else "") + ".",
                  "", "| cell | " + " | ".join(f"H = {h}" for h in hidden) + " |",
                  "|---|" + "---|" * len(hidden)]
        for cell in cells:
            lines.append(f"| {cell} | " + " | ".join(fmt(cpp.get((cell, h)), 1) for h in hidden) + " |")
    bf16 = _cpp_stream(micro, "StreamBfloat16")
    if micro and bf16:
        portable = _cpp_stream(micro, "StreamBfloat16Portable")
        hidden = sorted({h for _, h in bf16})
        lines += ["", "### C++ streaming step in bfloat16", "", measured_on(micro), "",
                  "`micro.cpp`'s `StreamBfloat16/<cell>/H<h>` (the build's best kernel: AVX512-BF16's dot products "
                  "where the build targets them) and `StreamBfloat16Portable` (bfloat16 widened, float FMAs) against "
                  "float32's `Stream`, in the same run; ns per step, and in brackets the time over float32's.", "",
                  "| cell | kernel | " + " | ".join(f"H = {h}" for h in hidden) + " |",
                  "|---|---|" + "---|" * len(hidden)]

        def cell_of(ns: float | None, h: int, cell: str) -> str:
            base = cpp.get((cell, h))
            return "—" if ns is None else fmt(ns, 1) + (f" ({ns / base:.2f})" if base else "")

        for cell in sorted({c for c, _ in bf16}, key=_cell_order):
            for kernel, data in (("float32", cpp), ("bfloat16", bf16), ("bfloat16, portable", portable)):
                if any((cell, h) in data for h in hidden):
                    row = [fmt(data.get((cell, h)), 1) if kernel == "float32" else cell_of(data.get((cell, h)), h, cell)
                           for h in hidden]
                    lines.append(f"| {cell} | {kernel} | " + " | ".join(row) + " |")
    name = f"{slug}-step-latency.png"
    if (steps or cpp) and plot_step_latency(steps, cpp, out / name):
        lines += ["", f"![Step latency against the hidden size, per engine]({name})", "",
                  "Latency of one step at batch 1 against the hidden size: from Python (the table above; D = H) and, "
                  "where a micro run exists, the C++ `Stream` (D = 1)."]
    return lines


def render(runs: list[dict], out: Path) -> str:
    """results.md's text; writes the plots into out."""
    out.mkdir(parents=True, exist_ok=True)
    if not runs:
        return ("No benchmark results are recorded yet: `bench/compare.py --json` and `bench/run_micro.py` write "
                "them into `bench/results/` (see `bench/README.md`).\n")
    lines = ["Generated by `bench/report.py` from the benchmarks' results files: for each machine type and each "
             "table, the newest run that holds it. Each table names the machine and software it was measured on."]
    for slug in _machines(runs):
        lines += ["", *machine_section(slug, runs, out)]
    return "\n".join(lines) + "\n"


def readme_table(runs: list[dict]) -> str:
    """The comparison table (cases a–d) of the newest compare run, after a line naming its machine."""
    def is_seq(x):
        return x["quantity"] == "call_time" and x["case"] in SEQUENCE_CASES

    run = _newest(runs, "compare", is_seq)
    if run is None:
        return "No compare run is recorded in the results folder.\n"
    peers = (run.get("options") or {}).get("peers", True)
    # The machine and the engines only: the README describes the software, the results file keeps the run's
    # commit and time.
    lines = [f"Measured on {machine_line(run['machine'])}; {software_line(run['software'], peers, source=False)}; "
             "median ms per call, ratios: the peer's time over rnnfast's.",
             "", COMPARE_HEADER]
    data = _values(run, is_seq, lambda x: (x["case"], x["cell"], x["threads"]))
    for (case, cell, threads), ms in sorted(data.items(), key=lambda kv: _row_order(kv[0])):
        lines.append(compare_row(case, cell, threads, ms))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="folder to write results.md and the plots into")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR,
                        help="folder of results files (default: %(default)s)")
    parser.add_argument("--readme", action="store_true", help="print the newest compare run's table (for the README)")
    args = parser.parse_args(argv)
    if args.out is None and not args.readme:
        parser.error("give --out DIR, --readme, or both")
    runs = load_results(args.results)
    if args.out is not None:
        text = render(runs, args.out)
        (args.out / "results.md").write_text(text)
    if args.readme:
        print(readme_table(runs), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
