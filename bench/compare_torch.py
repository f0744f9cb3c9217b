"""rnnfast against PyTorch on the same machine, in the same run: medians of repeated timings and their ratio.

    python bench/compare_torch.py                # LSTM and GRU, B=64, T=100, D=H=256, 1 and 2 threads
    python bench/compare_torch.py --repeats 30 --threads 1

"inference" is a forward pass without gradient bookkeeping (torch.inference_mode; rnnfast training=False).
"training" is forward with training=True plus backward to every gradient (x, initial state, weights).
Before timing, the two engines' outputs are checked to agree (float32, atol 1e-4).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rnnfast as rf

try:
    import torch
except ImportError:  # pragma: no cover - the comparison needs torch
    torch = None


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def torch_module(cell: str, layer, input_size: int, units: int):
    """A torch module holding the same weights as the rnnfast layer (Keras layout → PyTorch layout)."""
    w = layer.get_weights()
    if cell == "lstm":
        module = torch.nn.LSTM(input_size, units, batch_first=True)
        perm = np.arange(4 * units)
        bias_ih, bias_hh = w["bias"], np.zeros(4 * units, dtype=np.float32)
    else:
        module = torch.nn.GRU(input_size, units, batch_first=True)
        z, r, h = (np.arange(k * units, (k + 1) * units) for k in range(3))
        perm = np.concatenate([r, z, h])  # torch orders r, z, n
        bias_ih, bias_hh = w["bias"][0][perm], w["bias"][1][perm]
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(w["kernel"][:, perm].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(w["recurrent_kernel"][:, perm].T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(bias_ih)))
        module.bias_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(bias_hh)))
    return module


def run_case(cell: str, batch: int, steps: int, features: int, units: int, threads: int, repeats: int):
    rf.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, features), dtype=np.float32)
    layer_cls = rf.LSTM if cell == "lstm" else rf.GRU
    layer = layer_cls(units, input_size=features, return_sequences=True, seed=0)
    module = torch_module(cell, layer, features, units)
    xt = torch.from_numpy(x)
    dy = rng.standard_normal((batch, steps, units), dtype=np.float32)
    dyt = torch.from_numpy(dy)

    with torch.inference_mode():
        expected = module(xt)[0].numpy()
    np.testing.assert_allclose(layer(x), expected, atol=1e-4, rtol=0)

    def rf_infer():
        layer(x)

    def torch_infer():
        with torch.inference_mode():
            module(xt)

    def rf_train():
        layer(x, training=True)
        layer.backward(dy)

    xt_grad = xt.clone().requires_grad_(True)

    def torch_train():
        module.zero_grad(set_to_none=True)
        xt_grad.grad = None
        out, _ = module(xt_grad)
        out.backward(dyt)

    rows = []
    for mode, ours, theirs in (("inference", rf_infer, torch_infer), ("training", rf_train, torch_train)):
        # Interleave the two engines' repeats so that load on this shared machine hits both alike.
        ours_ms, theirs_ms = [], []
        for _ in range(3):
            ours_ms.append(median_ms(ours, max(1, repeats // 3)))
            theirs_ms.append(median_ms(theirs, max(1, repeats // 3)))
        a, b = statistics.median(ours_ms), statistics.median(theirs_ms)
        rows.append((cell.upper(), mode, threads, a, b, b / a))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    parser.add_argument("--shape", type=int, nargs=4, default=[64, 100, 256, 256], metavar=("B", "T", "D", "H"))
    args = parser.parse_args()
    if torch is None:
        raise SystemExit("this comparison needs PyTorch: pip install torch==2.13.0")
    batch, steps, features, units = args.shape
    print(f"rnnfast {rf.__version__} (products: {rf._core.gemm_backend()}), torch {torch.__version__}; "
          f"float32, B={batch} T={steps} D={features} H={units}; medians of {args.repeats} runs")
    print()
    print("| cell | mode | threads | rnnfast ms | PyTorch ms | speed-up |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        for cell in args.cells:
            for row in run_case(cell, batch, steps, features, units, threads, args.repeats):
                print("| {} | {} | {} | {:.1f} | {:.1f} | {:.2f}x |".format(*row), flush=True)


if __name__ == "__main__":
    main()
