"""Sphinx configuration of rnnfast's documentation (MyST Markdown pages, the API reference by autodoc)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rnnfast

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "rnnfast"
author = "the rnnfast authors"
copyright = "the rnnfast authors, MIT License"
release = version = rnnfast.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "_generated/*.md"]
html_theme = "furo"
html_title = f"rnnfast {release}"

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# The reference is the docstrings, numpydoc style.
autodoc_default_options = {"members": True, "inherited-members": True, "special-members": "__call__"}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_class_signature = "separated"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_preprocess_types = False

# Every reference must resolve (a broken one is a warning, and the build treats warnings as errors), except the
# names of other packages: there is no network at build time for their inventories.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|torch|keras|typing|collections|os|pathlib|builtins)\..*"),
    (r"py:.*", r"(ArrayLike|NDArray|PathLike|Path|Any|Callable|Iterable|Iterator|Sequence|Mapping|Literal)"),
    (r"py:class", r"(optional|array_like|array-like|callable|default .*|.*\bor\b.*)"),
]

# The performance page shows tables and plots made from bench/results/ by bench/report.py, at every build.
_generated = DOCS / "_generated"
_generated.mkdir(exist_ok=True)
subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--out", str(_generated),
                "--results", str(ROOT / "bench" / "results")], check=True)
