"""Parity with torch.nn.RNN / LSTM / GRU in float64: outputs, final states and every gradient, including
per-sequence lengths through packed sequences, and shapes large enough for every blocking of the weight-gradient
products. Tolerance rtol 1e-9, atol 1e-11 (float64, different summation orders; 1e-10 for sums over hundreds of
rows). Skipped when torch is not installed.
"""

import numpy as np
import pytest
from conftest import CELLS, make_layer

import rnnfast as rf

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

TOL = {"rtol": 1e-9, "atol": 1e-11}
# PyTorch has only the reset_after GRU, no peepholes and no layer-normalised cells
TORCH_CELLS = [c for c in CELLS if c[0] in ("simple_tanh", "simple_relu", "lstm", "gru")]


def gate_permutation(cell_id, units):
    """Indices mapping PyTorch's gate blocks to Keras' (torch GRU orders r, z, n; Keras z, r, h)."""
    if cell_id.startswith("gru"):
        z, r, h = (np.arange(k * units, (k + 1) * units) for k in range(3))
        return np.concatenate([r, z, h])
    gates = 4 if cell_id == "lstm" else 1
    return np.arange(gates * units)


def to_torch(cell_id, layer, features, units):
    w = layer.get_weights()
    perm = gate_permutation(cell_id, units)
    if cell_id == "lstm":
        module = torch.nn.LSTM(features, units, batch_first=True)
    elif cell_id == "gru":
        module = torch.nn.GRU(features, units, batch_first=True)
    else:
        module = torch.nn.RNN(features, units, batch_first=True, nonlinearity=cell_id.split("_")[1])
    module = module.double()
    bias = w["bias"]
    bias_ih, bias_hh = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(w["kernel"][:, perm].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(w["recurrent_kernel"][:, perm].T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(bias_ih[perm].copy()))
        module.bias_hh_l0.copy_(torch.from_numpy(bias_hh[perm].copy()))
    return module, perm


@pytest.mark.parametrize("cell", TORCH_CELLS, ids=[c[0] for c in TORCH_CELLS])
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "packed"])
def test_forward_and_gradients_match_torch(cell, use_lengths):
    cell_id = cell[0]
    rng = np.random.default_rng(4)
    batch, time, features, units = 5, 8, 6, 7
    layer = make_layer(cell, units, features, return_sequences=True, return_state=True)
    module, perm = to_torch(cell_id, layer, features, units)
    x = rng.normal(size=(batch, time, features))
    n_states = 2 if cell_id == "lstm" else 1
    state = [rng.normal(size=(batch, units)) for _ in range(n_states)]
    lengths = np.array([8, 3, 1, 8, 5]) if use_lengths else np.full(batch, time)

    out, *finals = layer(x, initial_state=state, lengths=lengths if use_lengths else None, training=True)
    seeds = [rng.normal(size=o.shape) for o in (out, *finals)]
    grads = layer.backward(seeds)

    xt = torch.from_numpy(x).requires_grad_(True)
    st = [torch.from_numpy(s[None]).requires_grad_(True) for s in state]
    packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
    out_t, final_t = module(packed, tuple(st) if n_states == 2 else st[0])
    out_t, _ = pad_packed_sequence(out_t, batch_first=True, total_length=time)
    final_t = list(final_t) if n_states == 2 else [final_t]
    loss = sum((torch.from_numpy(s) * o).sum() for s, o in zip(seeds, [out_t, *(f[0] for f in final_t)]))
    loss.backward()

    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
    for got, want in zip(finals, final_t):
        np.testing.assert_allclose(got, want[0].detach().numpy(), **TOL)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), **TOL)
    for got, want in zip(grads["initial_state"], st):
        np.testing.assert_allclose(got, want.grad[0].numpy(), **TOL)
    inverse = np.argsort(perm)
    np.testing.assert_allclose(grads["kernel"], module.weight_ih_l0.grad.numpy().T[:, inverse], **TOL)
    np.testing.assert_allclose(grads["recurrent_kernel"], module.weight_hh_l0.grad.numpy().T[:, inverse], **TOL)
    bias_ih, bias_hh = module.bias_ih_l0.grad.numpy()[inverse], module.bias_hh_l0.grad.numpy()[inverse]
    if grads["bias"].ndim == 2:
        np.testing.assert_allclose(grads["bias"], np.stack([bias_ih, bias_hh]), **TOL)
    else:
        np.testing.assert_allclose(grads["bias"], bias_ih, **TOL)


@pytest.mark.parametrize("cell", TORCH_CELLS, ids=[c[0] for c in TORCH_CELLS])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "shape",
    # (batch, time, features, units): rows past one block of A (144) and one depth block (256), odd widths; then
    # gate columns past one block of B (1024 doubles with AVX-512, 512 with AVX2) for the LSTM (and for the GRU
    # with AVX2). Teams of two where a step is large enough (team_size); the C++ test covers the rest.
    [(6, 60, 40, 37), (3, 100, 20, 263)],
    ids=["rows", "columns"],
)
def test_large_training_matches_torch(cell, threads, shape, restore_threads):
    """The weight gradients after the backward loop (dW, dU, dX over every step) on shapes that use every block
    of their packed products, on one thread and on a team of two."""
    cell_id = cell[0]
    rng = np.random.default_rng(12)
    batch, time, features, units = shape
    rf.set_num_threads(threads)
    layer = make_layer(cell, units, features, return_sequences=True)
    weights = layer.get_weights()
    weights["recurrent_kernel"] *= 0.05  # contractive: the long sums stay of order one
    layer.set_weights(weights)
    module, perm = to_torch(cell_id, layer, features, units)
    x = rng.normal(size=(batch, time, features))
    out = layer(x, training=True)
    seed = rng.normal(size=out.shape)
    grads = layer.backward(seed)

    xt = torch.from_numpy(x).requires_grad_(True)
    out_t, _ = module(xt)
    (torch.from_numpy(seed) * out_t).sum().backward()
    tol = {"rtol": 1e-9, "atol": 1e-10}
    np.testing.assert_allclose(out, out_t.detach().numpy(), **tol)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), **tol)
    inverse = np.argsort(perm)
    np.testing.assert_allclose(grads["kernel"], module.weight_ih_l0.grad.numpy().T[:, inverse], **tol)
    np.testing.assert_allclose(grads["recurrent_kernel"], module.weight_hh_l0.grad.numpy().T[:, inverse], **tol)


@pytest.mark.parametrize("cell", TORCH_CELLS, ids=[c[0] for c in TORCH_CELLS])
def test_float32_forward_matches_torch(cell):
    rng = np.random.default_rng(8)
    layer = make_layer(cell, 32, 16, dtype="float32", return_sequences=True)
    # Contractive recurrent weights: with expanding ones (ReLU) float32 rounding grows without bound in any engine.
    weights = layer.get_weights()
    weights["recurrent_kernel"] *= 0.3
    layer.set_weights(weights)
    module, _ = to_torch(cell[0], layer, 16, 32)
    x = rng.normal(size=(4, 50, 16)).astype(np.float32)
    with torch.no_grad():
        want = module.float()(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer(x), want, rtol=0, atol=2e-5)
