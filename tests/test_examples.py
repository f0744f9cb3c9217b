"""The examples run (in their --quick form) and write their plots. Skipped without matplotlib."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).parent.parent / "examples"
PLOTS = {
    "forecasting.py": ["forecasting_mse.png", "forecasting_series.png"],
    "short_term_memory.py": ["short_term_memory.png"],
    "clipping_tbptt.py": ["clipping_tbptt.png"],
    "classification_lengths.py": ["classification_lengths.png"],
    "char_language_model.py": ["char_language_model.png"],
}


@pytest.mark.parametrize("script", list(PLOTS))
def test_example_runs_and_writes_its_plots(script, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for name in PLOTS[script]:
        png = tmp_path / name
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_beats_the_naive_forecast():
    from rnnfast.__main__ import demo

    results = demo(epochs=3, units=8)
    naive = results["naive (last value)"]
    assert all(results[name] < naive for name in ("SimpleRNN", "LSTM", "GRU"))
