"""rnnfast against PyTorch and ONNX Runtime on the same machine, in the same run.

    python bench/compare.py                      # cases a-d, LSTM and GRU, 1 and 2 threads
    python bench/compare.py --cases b c --threads 1 --cells lstm
    python bench/compare.py --cases v --threads 1  # the LSTM variants against the plain LSTM and PyTorch
    python bench/compare.py --cases e              # one step from Python
    python bench/compare.py --json                 # also writes bench/results/<machine>-<UTC time>-compare.json

Cases (float32):
    a  inference, batch 1,  100 steps,  32 inputs,  128 units
    b  inference, batch 64, 100 steps,  256 inputs, 256 units
    c  training,  shape b
    d  training,  batch 16, 1000 steps, 64 inputs,  128 units (also peak memory of one training step)
    e  one step from Python, batch 1, D = H = 16, 32, 64, 128, 256, the state kept between calls: rnnfast's
       layer.step, PyTorch's nn.LSTMCell / nn.GRUCell (inference_mode), ONNX Runtime's LSTM/GRU node with one step
       and the state passed in and out (it keeps none); microseconds per step, medians of blocks of calls
    v  training, shape b, LSTM variants (peephole, layer norm, dropout, recurrent dropout) against rnnfast's plain
       LSTM and what a PyTorch user would write: a step loop with three nn.LayerNorm, nn.Dropout before
       nn.LSTM, or an nn.LSTMCell loop with a recurrent mask (PyTorch has no peepholes); the PyTorch versions
       get rnnfast's weights and masks, so outputs can be compared

"inference" is a forward pass returning every output, without gradient bookkeeping (torch.inference_mode,
rnnfast training=False, an ONNX LSTM/GRU node). "training" is forward with training=True plus backward to every
gradient (x, initial state, weights); ONNX Runtime does not train. Before timing, the engines' outputs (and for
training, dx) are checked to agree. The engines' calls are interleaved round by round, so that load on a shared
machine hits all of them alike, each engine's block of calls after a pause and one untimed call (so that no
engine's spinning worker threads slow the next one); the table shows medians over every call. Peak memory is
measured in a fresh process per engine: the growth of the resident set (VmHWM after resetting it) over one
training step.

With --json, every figure the run prints (and the medians' sample counts, extremes and quartiles) is also written
as records into one JSON file, with the machine, the software and the options of the run; bench/report.py makes
the docs' tables and plots from those files, and bench/results/README.md describes their schema.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from report import (
    COMPARE_HEADER,
    MEMORY_HEADER,
    PLAIN,
    STEP_HEADER,
    VARIANT_HEADER,
    VARIANTS,
    compare_row,
    default_path,
    document,
    machine_info,
    memory_row,
    record,
    software_info,
    step_row,
    utc_now,
    variant_row,
    write_document,
)

import rnnfast as rf

try:
    import torch
except ImportError:  # pragma: no cover - optional peer
    torch = None
try:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - optional peer
    ort = onnx = None

CASES = {
    "a": ("inference", 1, 100, 32, 128),
    "b": ("inference", 64, 100, 256, 256),
    "c": ("training", 64, 100, 256, 256),
    "d": ("training", 16, 1000, 64, 128),
}
SEED = 0
SETTLE_SECONDS = 0.3  # between the blocks of calls of two engines (see settle)


def gate_blocks(units: int, order) -> np.ndarray:
    return np.concatenate([np.arange(g * units, (g + 1) * units) for g in order])


def torch_module(cell: str, layer):
    """A torch module holding the layer's weights (Keras layout → PyTorch layout)."""
    w, units, features = layer.get_weights(), layer.units, layer.input_size
    if cell == "lstm":
        module = torch.nn.LSTM(features, units, batch_first=True)
        perm = gate_blocks(units, range(4))
        bias_ih, bias_hh = w["bias"], np.zeros(4 * units, dtype=np.float32)
    else:
        module = torch.nn.GRU(features, units, batch_first=True)
        perm = gate_blocks(units, [1, 0, 2])  # torch orders r, z, n
        bias_ih, bias_hh = w["bias"][0][perm], w["bias"][1][perm]
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(w["kernel"][:, perm].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(w["recurrent_kernel"][:, perm].T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(bias_ih)))
        module.bias_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(bias_hh)))
    return module


def onnx_session(cell: str, layer, threads: int, with_state: bool = False):
    """An ONNX Runtime session of one LSTM/GRU node with the layer's weights (time-major input); with_state adds
    the initial state as inputs and the final state as outputs."""
    w, units, features = layer.get_weights(), layer.units, layer.input_size
    if cell == "lstm":
        perm = gate_blocks(units, [0, 3, 1, 2])  # ONNX orders i, o, f, c
        bias = np.concatenate([w["bias"][perm], np.zeros(4 * units, np.float32)])
        attrs = {}
    else:
        perm = gate_blocks(units, range(3))  # z, r, h like Keras
        bias = np.concatenate([w["bias"][0], w["bias"][1]])
        attrs = {"linear_before_reset": 1}  # Keras reset_after=True
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(w["kernel"][:, perm].T[None]), "W"),
        numpy_helper.from_array(np.ascontiguousarray(w["recurrent_kernel"][:, perm].T[None]), "R"),
        numpy_helper.from_array(bias[None].astype(np.float32), "B"),
    ]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", features])]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", units])]
    node_inputs, node_outputs = ["X", "W", "R", "B"], ["Y"]
    if with_state:
        states = ["h", "c"] if cell == "lstm" else ["h"]
        node_inputs += ["", *(f"initial_{s}" for s in states)]  # no sequence_lens
        node_outputs += [f"Y_{s}" for s in states]
        inputs += [helper.make_tensor_value_info(f"initial_{s}", TensorProto.FLOAT, [1, "B", units]) for s in states]
        outputs += [helper.make_tensor_value_info(f"Y_{s}", TensorProto.FLOAT, [1, "B", units]) for s in states]
    node = helper.make_node(cell.upper(), node_inputs, node_outputs, hidden_size=units, **attrs)
    graph = helper.make_graph([node], "rnn", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def make_inputs(case: str, cell: str):
    mode, batch, steps, features, units = CASES[case]
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((batch, steps, features), dtype=np.float32)
    dy = rng.standard_normal((batch, steps, units), dtype=np.float32)
    layer = (rf.LSTM if cell == "lstm" else rf.GRU)(units, input_size=features, return_sequences=True, seed=SEED)
    return mode, x, dy, layer


def engines(case: str, cell: str, threads: int, peers: bool = True) -> dict:
    """name -> (run, result): run() does one timed call, result() its output (and dx) for the agreement check."""
    mode, x, dy, layer = make_inputs(case, cell)
    rf.set_num_threads(threads)
    out = {}

    if mode == "inference":
        out["rnnfast"] = (lambda: layer(x), lambda: (layer(x),))
    else:
        def rf_train():
            y = layer(x, training=True)
            return y, layer.backward(dy)["x"]
        out["rnnfast"] = (rf_train, rf_train)

    if torch is not None and peers:
        torch.set_num_threads(threads)
        module = torch_module(cell, layer)
        xt = torch.from_numpy(x)
        if mode == "inference":
            def torch_infer():
                with torch.inference_mode():
                    return (module(xt)[0].numpy(),)
            out["PyTorch"] = (torch_infer, torch_infer)
        else:
            dyt = torch.from_numpy(dy)
            xg = xt.clone().requires_grad_(True)

            def torch_train():
                module.zero_grad(set_to_none=True)
                xg.grad = None
                y, _ = module(xg)
                y.backward(dyt)
                return y.detach().numpy(), xg.grad.numpy()
            out["PyTorch"] = (torch_train, torch_train)

    if ort is not None and peers and mode == "inference":
        session = onnx_session(cell, layer, threads)
        x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))

        def ort_infer():
            return (session.run(None, {"X": x_tm})[0][:, 0].transpose(1, 0, 2),)
        out["ONNX Runtime"] = (lambda: session.run(None, {"X": x_tm}), ort_infer)
    return out


STEP_UNITS = (16, 32, 64, 128, 256)
STEP_CHECK = 5  # steps from a zero state whose last output the engines must agree on


def step_engines(cell: str, units: int, peers: bool = True) -> dict:
    """Case e: name -> (step, check): step() advances a stream by one step; check() runs STEP_CHECK steps from a
    zero state and returns the last output."""
    rng = np.random.default_rng(SEED)
    xs = rng.standard_normal((STEP_CHECK, 1, units), dtype=np.float32)
    layer = (rf.LSTM if cell == "lstm" else rf.GRU)(units, input_size=units, seed=SEED)
    rf.set_num_threads(1)

    def rf_check():
        layer.reset_step()
        for x in xs:
            y = layer.step(x)
        return (y.copy(),)
    out = {"rnnfast": (lambda: layer.step(xs[0]), rf_check)}

    if torch is not None and peers:
        torch.set_num_threads(1)
        module = torch_module(cell, layer)
        torch_cell = (torch.nn.LSTMCell if cell == "lstm" else torch.nn.GRUCell)(units, units)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(torch_cell, name).copy_(getattr(module, name + "_l0"))
        zero = torch.zeros(1, units)
        state = [(zero, zero) if cell == "lstm" else zero]
        x0 = torch.from_numpy(xs[0])

        def torch_step(x=x0):
            with torch.inference_mode():
                state[0] = torch_cell(x, state[0])
            return state[0]

        def torch_check():
            state[0] = (zero, zero) if cell == "lstm" else zero
            for x in xs:
                new = torch_step(torch.from_numpy(x))
            return ((new[0] if cell == "lstm" else new).numpy(),)
        out["PyTorch"] = (torch_step, torch_check)

    if ort is not None and peers:
        session = onnx_session(cell, layer, 1, with_state=True)
        names = ["initial_h", "initial_c"] if cell == "lstm" else ["initial_h"]
        zeros = np.zeros((1, 1, units), np.float32)
        feed = {"X": xs[0][None], **{n: zeros for n in names}}

        def ort_step(x=xs[0]):
            feed["X"] = x[None]
            result = session.run(None, feed)
            for n, value in zip(names, result[1:]):
                feed[n] = value
            return result

        def ort_check():
            for n in names:
                feed[n] = zeros
            for x in xs:
                result = ort_step(x)
            return (result[1][0],)
        out["ONNX Runtime"] = (ort_step, ort_check)
    return out


def time_steps(runs: dict, min_seconds: float) -> tuple[dict, dict]:
    """Microseconds per step of each block of calls (a call is too short to time alone), the blocks interleaved,
    and the number of calls in each engine's blocks."""
    check_agreement({name: check() for name, (_, check) in runs.items()})
    block = {}
    for name, (step, _) in runs.items():
        start = time.perf_counter()
        for _ in range(200):
            step()
        block[name] = max(1, int(0.01 / ((time.perf_counter() - start) / 200)))  # ~10 ms a block
    rounds = max(5, int(min_seconds / (0.01 * len(runs))))
    samples: dict = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (step, _) in runs.items():
            n = block[name]
            start = time.perf_counter()
            for _ in range(n):
                step()
            samples[name].append((time.perf_counter() - start) / n * 1e6)
    return samples, block


def variant_runs(variant: str, threads: int, peers: bool) -> dict:
    """Timed runs of one LSTM variant (training, shape b) and of its PyTorch equivalent."""
    _, batch, steps, features, units = CASES["c"]
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((batch, steps, features), dtype=np.float32)
    dy = rng.standard_normal((batch, steps, units), dtype=np.float32)
    options = {"peephole": {"peephole": True}, "layer_norm": {"layer_norm": True}, "dropout": {"dropout": 0.25},
               "recurrent_dropout": {"recurrent_dropout": 0.25}}[variant]
    layer = rf.LSTM(units, input_size=features, return_sequences=True, seed=SEED, **options)
    rf.set_num_threads(threads)

    def rf_train():
        # Every call draws its masks afresh (as in training); restarting the layer's mask stream makes them the
        # same in every call, so that the PyTorch version can be given them and the outputs compared.
        layer._mask_rng = np.random.default_rng([SEED, 0x6D61736B])
        y = layer(x, training=True)
        return y, layer.backward(dy)["x"]
    out = {"rnnfast": (rf_train, rf_train)}
    if torch is None or not peers or variant == "peephole":
        return out
    torch.set_num_threads(threads)
    rf_train()
    masks = {k: torch.from_numpy(v) for k, v in layer.dropout_masks.items()}
    module = torch_module("lstm", layer)
    xg = torch.from_numpy(x).requires_grad_(True)
    dyt = torch.from_numpy(dy)
    if variant == "layer_norm":
        w_ih, w_hh = module.weight_ih_l0.detach(), module.weight_hh_l0.detach()
        w_ih.requires_grad_(True)
        w_hh.requires_grad_(True)
        bias = torch.from_numpy(layer.get_weights()["bias"]).requires_grad_(True)
        norms = [torch.nn.LayerNorm(n, eps=layer.layer_norm_epsilon) for n in (4 * units, 4 * units, units)]

        def torch_train():
            for p in (w_ih, w_hh, bias, xg):
                p.grad = None
            h = c = torch.zeros(batch, units)
            outs = []
            for t in range(steps):
                gates = norms[0](xg[:, t] @ w_ih.T) + norms[1](h @ w_hh.T) + bias
                i, f, g, o = gates.chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(norms[2](c))
                outs.append(h)
            y = torch.stack(outs, 1)
            y.backward(dyt)
            return y.detach().numpy(), xg.grad.numpy()
    elif variant == "dropout":
        def torch_train():
            module.zero_grad(set_to_none=True)
            xg.grad = None
            y, _ = module(xg * masks["input"][:, None, :])  # nn.Dropout on the input, same mask every step
            y.backward(dyt)
            return y.detach().numpy(), xg.grad.numpy()
    else:
        cell = torch.nn.LSTMCell(features, units)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(module, name + "_l0"))

        def torch_train():
            cell.zero_grad(set_to_none=True)
            xg.grad = None
            h = c = torch.zeros(batch, units)
            outs = []
            for t in range(steps):
                h, c = cell(xg[:, t], (h * masks["recurrent"], c))
                outs.append(h)
            y = torch.stack(outs, 1)
            y.backward(dyt)
            return y.detach().numpy(), xg.grad.numpy()
    out["PyTorch"] = (torch_train, torch_train)
    return out


def check_agreement(results: dict) -> None:
    ref = results["rnnfast"]
    for name, got in results.items():
        for a, b, what in zip(ref, got, ("output", "dx")):
            scale = float(np.max(np.abs(a))) or 1.0
            err = float(np.max(np.abs(a - b))) / scale
            if err > 1e-3:
                raise SystemExit(f"{name} disagrees with rnnfast on the {what}: max error {err:.2e} of the scale")


def time_case(case: str, cell: str, threads: int, min_seconds: float, min_calls: int, peers: bool) -> dict:
    """Every timed call's ms, per engine."""
    return time_runs(engines(case, cell, threads, peers), min_seconds, min_calls)


def medians(samples: dict) -> dict:
    return {name: statistics.median(v) for name, v in samples.items()}


def settle(run) -> None:
    """Lets the previous engine's worker threads stop spinning (PyTorch's OpenMP threads and ONNX Runtime's pool
    spin for tens of ms after a call, and on 2 cores that spinning halves the next engine's second thread: rnnfast's
    case b LSTM on 2 threads measured 17 ms alone and 26-43 ms right after a PyTorch or ONNX Runtime call), then
    makes one untimed call of the next engine."""
    time.sleep(SETTLE_SECONDS)
    run()


def time_runs(runs: dict, min_seconds: float, min_calls: int, unchecked: tuple = ()) -> dict:
    """Every call's ms, per run, of interleaved calls (the tables show their medians); first, the runs not named
    in `unchecked` must agree."""
    check_agreement({name: result() for name, (_, result) in runs.items() if name not in unchecked})
    per_call = {}
    for name, (run, _) in runs.items():  # warm-up, and a first estimate of the cost of a call
        start = time.perf_counter()
        run()
        per_call[name] = time.perf_counter() - start
    calls = max(min_calls, math.ceil(min_seconds / max(per_call.values())))
    rounds = 5
    per_round = max(1, math.ceil(calls / rounds))
    samples: dict = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (run, _) in runs.items():
            settle(run)
            for _ in range(per_round):
                start = time.perf_counter()
                run()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def memory_probe(engine: str, case: str, cell: str) -> None:
    """In a fresh process: MiB by which one training step grows the peak resident set."""
    runs = engines(case, cell, 1)
    run = runs[engine][0]
    status = Path("/proc/self/status")

    def kib(field: str) -> int:
        line = next(v for v in status.read_text().splitlines() if v.startswith(field))
        return int(line.split()[1])

    base = kib("VmRSS:")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
    run()
    print(json.dumps({"peak_mib": (kib("VmHWM:") - base) / 1024}))


def peak_memory(engine: str, case: str, cell: str) -> float | None:
    try:
        done = subprocess.run([sys.executable, __file__, "--memory-probe", engine, case, cell], check=True,
                              capture_output=True, text=True)
    except subprocess.CalledProcessError:
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"])


# ---- the records of --json (bench/report.py defines their fields; bench/results/README.md describes them) ----

def case_definitions() -> dict:
    """The shapes of the cases, as the results file states them."""
    out = {case: {"mode": mode, "batch": batch, "steps": steps, "inputs": features, "units": units}
           for case, (mode, batch, steps, features, units) in CASES.items()}
    out["e"] = {"mode": "inference", "batch": 1, "steps": 1, "inputs": list(STEP_UNITS), "units": list(STEP_UNITS),
                "threads": 1, "note": "one step from Python, the state kept between calls"}
    _, batch, steps, features, units = CASES["c"]
    out["v"] = {"mode": "training", "batch": batch, "steps": steps, "inputs": features, "units": units,
                "variants": list(VARIANTS), "note": "LSTM variants against rnnfast's plain LSTM and PyTorch"}
    return out


def case_records(case: str, cell: str, threads: int, samples: dict) -> list[dict]:
    """Cases a-d: one record per engine, its median ms per call over `samples` (engine -> every call's ms)."""
    return [record(case, engine, "call_time", "ms", v, cell=cell, threads=threads, mode=CASES[case][0])
            for engine, v in samples.items()]


def step_records(cell: str, units: int, samples: dict, block: dict) -> list[dict]:
    """Case e: one record per engine, its median µs per step over the blocks (engine -> each block's µs per
    step); block: the calls in each of the engine's blocks."""
    return [record("e", engine, "step_time", "us", v, cell=cell, hidden=units, threads=1,
                   calls_per_sample=block[engine]) for engine, v in samples.items()]


def variant_records(variant: str, threads: int, samples: dict) -> list[dict]:
    """Case v: the variant's rnnfast, rnnfast's plain LSTM (key "plain") and PyTorch's, median ms per call."""
    return [record("v", PLAIN if engine == "plain" else engine, "call_time", "ms", v, cell="lstm", variant=variant,
                   threads=threads, mode="training") for engine, v in samples.items()]


def memory_records(cell: str, peaks: dict) -> list[dict]:
    """Case d's peak memory (engine -> MiB, None where the probe failed)."""
    return [record("d", engine, "peak_memory", "MiB", value=v, cell=cell, threads=1, mode="training")
            for engine, v in peaks.items()]


def run_options(args: argparse.Namespace, argv: list | None = None) -> dict:
    return {"cases": list(args.cases), "cells": list(args.cells), "threads": list(args.threads),
            "min_seconds": args.min_seconds, "min_calls": args.min_calls, "peers": not args.no_peers,
            "settle_seconds": SETTLE_SECONDS, "seed": SEED, "dtype": "float32",
            "argv": sys.argv[1:] if argv is None else list(argv)}


def run_document(options: dict, records: list, started, complete: bool = True, machine: dict | None = None,
                 software: dict | None = None) -> dict:
    """The content of compare.py's results file."""
    if software is None:
        software = software_info(rf=rf, np=np, torch=torch, ort=ort, onnx=onnx)
    return document("compare", machine or machine_info(), software, options, records, started, complete,
                    cases=case_definitions())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=[*CASES, "e", "v"], choices=[*CASES, "e", "v"])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--min-seconds", type=float, default=2.0, help="time spent per engine and case (about)")
    parser.add_argument("--min-calls", type=int, default=15)
    parser.add_argument("--no-peers", action="store_true",
                        help="time rnnfast alone (e.g. to compare builds or RNNFAST_INSTRUCTION_SET levels)")
    parser.add_argument("--json", nargs="?", const="", metavar="PATH",
                        help="also write the figures into a JSON file (default path: "
                             "bench/results/<machine>-<UTC time>-compare.json)")
    parser.add_argument("--memory-probe", nargs=3, metavar=("ENGINE", "CASE", "CELL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return

    started = utc_now()
    records: list = []
    save = None
    if args.json is not None:  # the machine and software before the run sets any thread count
        machine = machine_info()
        software = software_info(rf=rf, np=np, torch=torch, ort=ort, onnx=onnx)
        path = Path(args.json) if args.json else default_path("compare", machine, started)

        def save(complete: bool = False) -> None:  # after every row, so that an interrupted run keeps its figures
            write_document(path, run_document(run_options(args), records, started, complete, machine, software))
        save()

    def add(rows: list) -> None:
        records.extend(rows)
        if save is not None:
            save()

    versions = [f"rnnfast {rf.__version__} (products: {rf._core.gemm_backend()}, instruction set: "
                f"{rf._core.instruction_set})"]
    peers = not args.no_peers
    if torch is not None and peers:
        versions.append(f"torch {torch.__version__}")
    if ort is not None and peers:
        versions.append(f"onnxruntime {ort.__version__}")
    print("; ".join(versions) + "; float32; median ms")
    print()
    if any(case in CASES for case in args.cases):
        print(COMPARE_HEADER)
    for case in [c for c in args.cases if c in CASES]:
        for cell in args.cells:
            for threads in args.threads:
                samples = time_case(case, cell, threads, args.min_seconds, args.min_calls, peers)
                print(compare_row(case, cell, threads, medians(samples)), flush=True)
                add(case_records(case, cell, threads, samples))
    if "e" in args.cases:
        print()
        print("One step from Python, batch 1, D = H, 1 thread (µs per step):")
        print()
        print(STEP_HEADER)
        for cell in args.cells:
            for units in STEP_UNITS:
                samples, block = time_steps(step_engines(cell, units, peers), args.min_seconds)
                print(step_row(cell, units, medians(samples)), flush=True)
                add(step_records(cell, units, samples, block))
    if "v" in args.cases:
        print()
        print("LSTM variants, training (forward + backward), shape b; ratios to rnnfast's plain LSTM and to PyTorch:")
        print()
        print(VARIANT_HEADER)
        for threads in args.threads:
            for variant in VARIANTS:
                runs = variant_runs(variant, threads, peers)
                plain = engines("c", "lstm", threads, peers=False)["rnnfast"]
                samples = time_runs({**runs, "plain": plain}, args.min_seconds, args.min_calls, unchecked=("plain",))
                ms = medians(samples)
                ms[PLAIN] = ms.pop("plain")
                print(variant_row(variant, threads, ms), flush=True)
                add(variant_records(variant, threads, samples))
    if "d" in args.cases:
        print()
        print("Peak memory of one training step, case d (MiB):")
        print()
        print(MEMORY_HEADER)
        for cell in args.cells:
            peaks = {"rnnfast": peak_memory("rnnfast", "d", cell)}
            if torch is not None and peers:
                peaks["PyTorch"] = peak_memory("PyTorch", "d", cell)
            print(memory_row(cell, peaks), flush=True)
            add(memory_records(cell, peaks))
    if save is not None:
        save(complete=True)
        print(f"\nresults written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
