"""The Python code of the README and of the docs' pages runs as written: each page's ```python blocks in order,
in one namespace, in a temporary directory. Training runs one epoch, quietly (the pages show full runs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rnnfast as rf

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PAGES = [p for p in PAGES if "_build" not in p.parts and "_generated" not in p.parts]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
OPTIONAL = {"torch": "torch", "keras": "keras"}


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


PAGES_WITH_CODE = [p for p in PAGES if blocks(p)]


def test_pages_with_code_are_found():
    names = {p.name for p in PAGES_WITH_CODE}
    assert {"README.md", "padding.md", "layers.md", "training.md"} <= names


# Keras' variables warn under NumPy 2 when converted (as in test_keras_import.py).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page, tmp_path, monkeypatch):
    code = blocks(page)
    for module, name in OPTIONAL.items():
        if any(re.search(rf"^\s*import {module}\b", block, re.MULTILINE) for block in code):
            if module == "keras":
                monkeypatch.setenv("KERAS_BACKEND", "torch")
                pytest.importorskip("torch")
            pytest.importorskip(name)
    monkeypatch.chdir(tmp_path)
    fit = rf.Sequential.fit

    def one_quiet_epoch(self, *args, **kwargs):
        kwargs.update(epochs=1, verbose=0)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(rf.Sequential, "fit", one_quiet_epoch)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for i, block in enumerate(code):
        try:
            exec(compile(block, f"{page.name}[{i}]", "exec"), namespace)
        except Exception as exc:  # the page and block in the failure, not only the line
            raise AssertionError(f"{page.relative_to(ROOT)}, Python block {i}:\n{block}") from exc
