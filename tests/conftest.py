import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import rnnfast as rf

# (id, layer class, constructor options, reference kind, reference options)
CELLS = [
    ("simple_tanh", rf.SimpleRNN, {"activation": "tanh"}, "simple_rnn", {"activation": "tanh"}),
    ("simple_relu", rf.SimpleRNN, {"activation": "relu"}, "simple_rnn", {"activation": "relu"}),
    ("lstm", rf.LSTM, {}, "lstm", {}),
    ("lstm_peephole", rf.LSTM, {"peephole": True}, "lstm", {}),
    ("gru", rf.GRU, {"reset_after": True}, "gru", {"reset_after": True}),
    ("gru_reset_before", rf.GRU, {"reset_after": False}, "gru", {"reset_after": False}),
    ("simple_tanh_ln", rf.SimpleRNN, {"activation": "tanh", "layer_norm": True}, "simple_rnn", {"activation": "tanh"}),
    ("simple_relu_ln", rf.SimpleRNN, {"activation": "relu", "layer_norm": True}, "simple_rnn", {"activation": "relu"}),
    ("lstm_ln", rf.LSTM, {"layer_norm": True}, "lstm", {}),
    ("lstm_peephole_ln", rf.LSTM, {"peephole": True, "layer_norm": True}, "lstm", {}),
    ("gru_ln", rf.GRU, {"layer_norm": True}, "gru", {"reset_after": True}),
]
CELL_IDS = [c[0] for c in CELLS]


def make_layer(cell, units, input_size, seed=0, dtype="float64", **options):
    """A layer of `cell` with random weights and non-zero biases (so every bias path is exercised)."""
    _, cls, ctor, _, _ = cell
    layer = cls(units, input_size=input_size, dtype=dtype, seed=seed, **ctor, **options)
    rng = np.random.default_rng(seed + 1000)
    layer.set_weights({k: rng.uniform(-0.6, 0.6, size=v.shape) for k, v in layer.get_weights().items()})
    return layer


@pytest.fixture(params=CELLS, ids=CELL_IDS)
def cell(request):
    return request.param


@pytest.fixture
def restore_threads():
    """Tests that call rf.set_num_threads leave the pool's size as they found it."""
    before = rf.get_num_threads()
    yield
    rf.set_num_threads(before)


# Property-based tests (test_properties.py): no deadline (shared machines stall), a fixed number of examples
# per test (RNNFAST_HYPOTHESIS_EXAMPLES, default 200), derandomized so that a CI run repeats exactly.
try:
    import os

    from hypothesis import settings

    settings.register_profile("ci", deadline=None, derandomize=True,
                              max_examples=int(os.environ.get("RNNFAST_HYPOTHESIS_EXAMPLES", "200")))
    settings.load_profile("ci")
except ImportError:  # hypothesis is in the test extras; without it test_properties.py skips
    pass
