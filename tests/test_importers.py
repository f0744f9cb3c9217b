"""rnnfast.from_torch: imported nn.RNN / LSTM / GRU modules (every num_layers, bidirectional, batch_first) and
nn.Sequential stacks with nn.Linear compute what PyTorch computes on random inputs (float64, rtol 1e-9 /
atol 1e-11). Skipped without torch."""

import numpy as np
import pytest

import rnnfast as rf

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
def test_recurrent_modules(kind, num_layers, bidirectional, batch_first):
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(4, 5, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=batch_first).double()
    with torch.no_grad():  # non-zero biases everywhere
        for name, p in module.named_parameters():
            if "bias" in name:
                p.uniform_(-0.5, 0.5)
    model = rf.from_torch(module, dtype="float64")
    x = np.random.default_rng(1).normal(size=(3, 6, 4))  # batch-major for rnnfast
    with torch.no_grad():
        want = module(torch.from_numpy(x if batch_first else x.transpose(1, 0, 2)))[0].numpy()
    if not batch_first:
        want = want.transpose(1, 0, 2)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-9, atol=1e-11)
    assert len(model.layers) == num_layers  # every layer imported


def test_sequential_with_linear_heads():
    torch.manual_seed(2)
    gru = torch.nn.GRU(3, 6, num_layers=2, batch_first=True).double()
    lstm = torch.nn.LSTM(6, 4, batch_first=True).double()
    head = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2),
                               torch.nn.Softmax(dim=-1)).double()
    model = rf.from_torch(torch.nn.Sequential(gru, lstm, *head), dtype="float64")
    x = np.random.default_rng(3).normal(size=(2, 7, 3))
    with torch.no_grad():
        want = head(lstm(gru(torch.from_numpy(x))[0])[0]).numpy()
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-9, atol=1e-11)
    with pytest.raises(ValueError, match="cannot import"):
        rf.from_torch(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1)))
