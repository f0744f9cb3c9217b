"""``python -m rnnfast demo``: train a small LSTM forecaster with the engine's forward and backward passes.

``python -m rnnfast info``: version, product backend and threads.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import rnnfast as rf

from ._engine import core as _core


def make_series(rng: np.random.Generator, count: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a noisy sum of two sines (random phases and frequencies) and the value that follows each."""
    freq1, freq2 = rng.uniform(0.5, 1.0, (2, count, 1))
    phase1, phase2 = rng.uniform(0, 2 * np.pi, (2, count, 1))
    t = np.linspace(0, 1, steps + 1)
    series = 0.5 * np.sin((t - phase1) * (freq1 * 10 + 10)) + 0.2 * np.sin((t - phase2) * (freq2 * 20 + 20))
    series += 0.1 * (rng.random((count, steps + 1)) - 0.5)
    series = series.astype(np.float32)
    return series[:, :steps, None], series[:, steps:]


def demo(iterations: int = 300, units: int = 32, seed: int = 42) -> float:
    """Fit LSTM(units) + a linear head to forecast the next value; returns the test MSE."""
    rng = np.random.default_rng(seed)
    x_train, y_train = make_series(rng, 4000, 50)
    x_test, y_test = make_series(rng, 1000, 50)
    lstm = rf.LSTM(units, input_size=1, seed=seed)
    head_w = (rng.standard_normal((units, 1)) / np.sqrt(units)).astype(np.float32)
    head_b = np.zeros(1, dtype=np.float32)

    params = {**lstm.get_weights(), "head_w": head_w, "head_b": head_b}
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    lr, beta1, beta2, eps = 5e-3, 0.9, 0.999, 1e-7

    def predict(x: np.ndarray) -> np.ndarray:
        return lstm(x) @ params["head_w"] + params["head_b"]

    naive = float(np.mean((x_test[:, -1] - y_test) ** 2))
    print(f"rnnfast {rf.__version__} demo: LSTM({units}) forecasting the next value of a noisy sum of sines")
    print(f"  train {x_train.shape}, test {x_test.shape}; naive last-value forecast: test MSE {naive:.5f}")
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        batch = rng.integers(0, len(x_train), 64)
        x, y = x_train[batch], y_train[batch]
        h = lstm(x, training=True)
        pred = h @ params["head_w"] + params["head_b"]
        d_pred = 2.0 * (pred - y) / len(y)
        grads = lstm.backward(d_pred @ params["head_w"].T)
        grads = {**grads, "head_w": h.T @ d_pred, "head_b": d_pred.sum(axis=0)}
        for name, value in params.items():  # Adam
            m, v = moments[name]
            m += (1 - beta1) * (grads[name] - m)
            v += (1 - beta2) * (grads[name] ** 2 - v)
            value -= lr * (m / (1 - beta1**it)) / (np.sqrt(v / (1 - beta2**it)) + eps)
        lstm.set_weights({k: params[k] for k in ("kernel", "recurrent_kernel", "bias")})
        if it % 50 == 0 or it == iterations:
            mse = float(np.mean((predict(x_test) - y_test) ** 2))
            print(f"  step {it:4d}  batch loss {float(np.mean((pred - y) ** 2)):.5f}  test MSE {mse:.5f}")
    elapsed = time.perf_counter() - start
    mse = float(np.mean((predict(x_test) - y_test) ** 2))
    print(f"  {iterations} training steps (forward + BPTT over 50 steps, batch 64) in {elapsed:.2f} s")
    print(f"  test MSE {mse:.5f} vs naive {naive:.5f} ({naive / mse:.1f}x better)")
    return mse


def info() -> None:
    print(f"rnnfast {rf.__version__}; products: {_core.gemm_backend()}; instruction set: {_core.instruction_set}; "
          f"threads: {rf.get_num_threads()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnfast", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train a small LSTM forecaster and print the result")
    p_demo.add_argument("--iterations", type=int, default=300)
    p_demo.add_argument("--units", type=int, default=32)
    sub.add_parser("info", help="version, product backend, threads")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.iterations, args.units)
    else:
        info()
    return 0


if __name__ == "__main__":
    sys.exit(main())
