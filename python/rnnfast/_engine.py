"""The C++ extension this process uses.

A native build has one, ``_core``. A portable build also carries the engine compiled for newer x86-64 levels
(``_core_x86_64_v4``: AVX-512, ``_core_x86_64_v3``: AVX2 + FMA) and imports the best one the CPU supports; the
environment variable ``RNNFAST_INSTRUCTION_SET`` (``baseline``, ``x86-64-v3``, ``x86-64-v4``) caps the choice, for
testing or to compare levels.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

_LEVELS = ("x86-64-v4", "x86-64-v3")


def _load() -> ModuleType:
    try:
        from . import _cpu
    except ImportError:  # a native build, or not x86-64
        return importlib.import_module("rnnfast._core")
    cap = os.environ.get("RNNFAST_INSTRUCTION_SET", "")
    if cap and cap not in ("baseline", *_LEVELS):
        raise ValueError(f"RNNFAST_INSTRUCTION_SET must be one of baseline, {', '.join(_LEVELS)}; got {cap!r}")
    allowed = _LEVELS[_LEVELS.index(cap):] if cap in _LEVELS else (() if cap == "baseline" else _LEVELS)
    for level in allowed:
        if _cpu.supports(level):
            try:
                return importlib.import_module("rnnfast._core_" + level.replace("-", "_"))
            except ImportError:  # that level was not built (an older compiler)
                continue
    return importlib.import_module("rnnfast._core")


core = _load()
