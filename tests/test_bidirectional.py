"""Bidirectional: both directions aligned to input time (with per-sequence lengths too), every merge mode,
states and weights in the contract's order; forward against the NumPy reference and PyTorch's bidirectional
modules, gradients against finite differences and PyTorch.

Tolerances (float64): reference rtol 1e-10 / atol 1e-12; PyTorch rtol 1e-9 / atol 1e-11; finite differences
as tests/test_gradcheck.py (step 1e-6, rtol 1e-6 / atol 1e-8).
"""

import numpy as np
import pytest
import reference
from conftest import make_layer
from test_gradcheck import check_layer

import rnnfast as rf

MERGES = ["concat", "sum", "mul", "ave", None]


def make_bidirectional(cell, units, features, merge_mode="concat", **options):
    forward = make_layer(cell, units, features, **options)
    backward = make_layer(cell, units, features, seed=1, go_backwards=not options.get("go_backwards", False),
                          **{k: v for k, v in options.items() if k != "go_backwards"})
    return rf.Bidirectional(forward, merge_mode=merge_mode, backward_layer=backward)


def reference_bidirectional(cell, bi, x, states, lengths):
    """Each direction by the reference; the backward one re-aligned to input time by hand."""
    n = len(states) // 2
    w_f = {k.split("/", 1)[1]: v for k, v in bi.get_weights().items() if k.startswith("forward/")}
    w_b = {k.split("/", 1)[1]: v for k, v in bi.get_weights().items() if k.startswith("backward/")}
    y_f, fin_f = reference.run(cell[3], w_f, x, initial_state=states[:n], lengths=lengths, return_sequences=True,
                               **cell[4])
    y_b, fin_b = reference.run(cell[3], w_b, x, initial_state=states[n:], lengths=lengths, go_backwards=True,
                               return_sequences=True, **cell[4])
    aligned = np.zeros_like(y_b)
    for b, length in enumerate(lengths):
        aligned[b, :length] = y_b[b, :length][::-1]
    return y_f, aligned, fin_f, fin_b


@pytest.mark.parametrize("merge_mode", MERGES, ids=str)
def test_forward_matches_the_reference(cell, merge_mode):
    rng = np.random.default_rng(1)
    batch, time, features, units = 4, 6, 3, 5
    bi = make_bidirectional(cell, units, features, merge_mode, return_sequences=True, return_state=True)
    n = 2 if cell[3] == "lstm" else 1
    x = rng.normal(size=(batch, time, features))
    states = [rng.normal(size=(batch, units)) * 0.5 for _ in range(2 * n)]
    lengths = np.array([6, 1, 0, 4])
    got = bi(x, initial_state=states, lengths=lengths)
    y_f, y_b, fin_f, fin_b = reference_bidirectional(cell, bi, x, states, lengths)
    merged = {"concat": [np.concatenate([y_f, y_b], -1)], "sum": [y_f + y_b], "mul": [y_f * y_b],
              "ave": [(y_f + y_b) / 2], None: [y_f, y_b]}[merge_mode]
    want = [*merged, *fin_f, *fin_b]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("merge_mode", MERGES, ids=str)
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
def test_gradients(cell, merge_mode, return_sequences):
    rng = np.random.default_rng(2)
    batch, time, features, units = 3, 4, 3, 3
    bi = make_bidirectional(cell, units, features, merge_mode, return_sequences=return_sequences,
                            return_state=True, time_major=True)
    n = 2 if cell[3] == "lstm" else 1
    x = rng.normal(size=(time, batch, features))
    states = [rng.normal(size=(batch, units)) * 0.5 for _ in range(2 * n)]
    lengths = np.array([4, 2, 0])
    check_layer(bi, x, states, lengths)  # Bidirectional has the layers' call, backward and weights interface


def test_structure_weights_and_validation():
    bi = rf.Bidirectional(rf.LSTM(4, return_sequences=True, return_state=True, seed=3), merge_mode=None)
    x = np.zeros((2, 3, 5), dtype=np.float32)
    out = bi(x)
    assert [o.shape for o in out] == [(2, 3, 4), (2, 3, 4)] + [(2, 4)] * 4
    weights = bi.get_weights()
    assert sorted(weights) == sorted(f"{d}/{k}" for d in ("forward", "backward")
                                     for k in ("kernel", "recurrent_kernel", "bias"))
    assert not np.array_equal(weights["forward/kernel"], weights["backward/kernel"])  # seed + 1
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    other = rf.Bidirectional(rf.LSTM(4, return_sequences=True, return_state=True, input_size=5), merge_mode=None)
    other.set_weights(weights)
    for a, b in zip(bi(x + 1), other(x + 1)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="merge_mode"):
        rf.Bidirectional(rf.GRU(3), merge_mode="max")
    with pytest.raises(TypeError, match="layer"):
        rf.Bidirectional(object())
    with pytest.raises(ValueError, match="initial_state must hold 4"):
        bi(x, initial_state=[np.zeros((2, 4))] * 2)
    with pytest.raises(ValueError, match="go_backwards"):
        rf.Bidirectional(rf.GRU(3), backward_layer=rf.GRU(3))
    with pytest.raises(ValueError, match="backward\\(\\) needs"):
        rf.Bidirectional(rf.GRU(3)).backward(np.zeros((1, 6)))


def test_two_threads_match_one(cell):
    rng = np.random.default_rng(4)
    bi = make_bidirectional(cell, 70, 5, "concat", return_sequences=True)
    x = rng.normal(size=(9, 11, 5))
    lengths = rng.integers(0, 12, size=9)
    dy = rng.normal(size=(9, 11, 140))
    before = rf.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            rf.set_num_threads(threads)
            out = bi(x, lengths=lengths, training=True)
            results.append((out, bi.backward(dy)))
    finally:
        rf.set_num_threads(before)
    (o1, g1), (o2, g2) = results
    np.testing.assert_allclose(o2, o1, rtol=1e-12, atol=1e-13)
    for name in g1:
        for a, b in zip(np.atleast_1d(g1[name]) if name != "initial_state" else g1[name],
                        np.atleast_1d(g2[name]) if name != "initial_state" else g2[name]):
            np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-12, err_msg=name)


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_matches_torch_bidirectional_with_packed_sequences(kind):
    from test_torch_parity import gate_permutation
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(5)
    batch, time, features, units = 4, 7, 3, 5
    cls = rf.LSTM if kind == "lstm" else rf.GRU
    bi = rf.Bidirectional(cls(units, input_size=features, return_sequences=True, return_state=True, seed=1,
                              dtype="float64"))
    module = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(features, units, batch_first=True,
                                                                 bidirectional=True).double()
    perm = gate_permutation(kind, units)
    w = bi.get_weights()
    with torch.no_grad():
        for prefix, suffix in (("forward", ""), ("backward", "_reverse")):
            bias = w[f"{prefix}/bias"]
            b_ih, b_hh = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
            getattr(module, "weight_ih_l0" + suffix).copy_(torch.from_numpy(w[f"{prefix}/kernel"][:, perm].T.copy()))
            getattr(module, "weight_hh_l0" + suffix).copy_(
                torch.from_numpy(w[f"{prefix}/recurrent_kernel"][:, perm].T.copy()))
            getattr(module, "bias_ih_l0" + suffix).copy_(torch.from_numpy(b_ih[perm].copy()))
            getattr(module, "bias_hh_l0" + suffix).copy_(torch.from_numpy(b_hh[perm].copy()))
    x = rng.normal(size=(batch, time, features))
    lengths = np.array([7, 3, 1, 5])
    out, *finals = bi(x, lengths=lengths, training=True)
    seeds = [rng.normal(size=o.shape) for o in (out, *finals)]
    grads = bi.backward(seeds)

    xt = torch.from_numpy(x).requires_grad_(True)
    packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
    out_t, final_t = module(packed)
    out_t, _ = pad_packed_sequence(out_t, batch_first=True, total_length=time)
    final_t = list(final_t) if kind == "lstm" else [final_t]
    # rnnfast's states: [h_f, c_f, h_b, c_b]; torch's: h_n = [h_f, h_b], c_n likewise
    torch_finals = [f[d] for d in range(2) for f in final_t]
    loss = (torch.from_numpy(seeds[0]) * out_t).sum() + sum(
        (torch.from_numpy(s) * f).sum() for s, f in zip(seeds[1:], torch_finals))
    loss.backward()
    tol = {"rtol": 1e-9, "atol": 1e-11}
    np.testing.assert_allclose(out, out_t.detach().numpy(), **tol)
    for got, want in zip(finals, torch_finals):
        np.testing.assert_allclose(got, want.detach().numpy(), **tol)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), **tol)
    inverse = np.argsort(perm)
    for prefix, suffix in (("forward", ""), ("backward", "_reverse")):
        np.testing.assert_allclose(grads[f"{prefix}/kernel"],
                                   getattr(module, "weight_ih_l0" + suffix).grad.numpy().T[:, inverse], **tol)
        np.testing.assert_allclose(grads[f"{prefix}/recurrent_kernel"],
                                   getattr(module, "weight_hh_l0" + suffix).grad.numpy().T[:, inverse], **tol)
