"""The API reference is generated from the docstrings, so they are checked here: every public class, function,
method and property of rnnfast has one; every argument of a signature is documented under "Parameters"
(numpydoc style, as the docs site renders it); every public class and function shows an example under
"Examples", and every example runs as written (doctest)."""

from __future__ import annotations

import doctest
import inspect
import re

import numpy as np
import pytest

import rnnfast as rf

SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.MULTILINE)
PARAMETER = re.compile(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)\s*(?::.*)?$")


def public_objects() -> dict[str, object]:
    """The documented surface: rnnfast.__all__, and the public classes and functions of its submodules."""
    found: dict[str, object] = {}
    for name in rf.__all__:
        obj = getattr(rf, name)
        if inspect.ismodule(obj):
            names = getattr(obj, "__all__", [n for n in vars(obj) if not n.startswith("_")])
            for sub in names:
                member = getattr(obj, sub)
                if (inspect.isclass(member) or inspect.isfunction(member)) and member.__module__.startswith(
                        "rnnfast"):
                    found[f"rnnfast.{name}.{sub}"] = member
        elif inspect.isclass(obj) or inspect.isfunction(obj):
            found[f"rnnfast.{name}"] = obj
    return found


def public_members() -> dict[str, object]:
    """Public methods and properties of the public classes, each defined in rnnfast, once per definition."""
    found: dict[str, object] = {}
    seen: set[int] = set()
    for qualname, cls in public_objects().items():
        if not inspect.isclass(cls):
            continue
        for klass in cls.__mro__:
            if not klass.__module__.startswith("rnnfast"):
                continue
            for name, member in vars(klass).items():
                if name.startswith("_"):
                    continue
                target = member.fget if isinstance(member, property) else member
                if isinstance(target, (staticmethod, classmethod)):
                    target = target.__func__
                if not inspect.isfunction(target) or id(target) in seen:
                    continue
                seen.add(id(target))
                found[f"{qualname}.{name}" if klass is cls else f"{klass.__module__}.{klass.__qualname__}.{name}"] \
                    = member
    return found


def sections(doc: str) -> dict[str, str]:
    """numpydoc sections of a cleaned docstring: {"Parameters": body, ...}."""
    parts = SECTION.split(doc)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def documented_parameters(doc: str) -> set[str]:
    body = sections(doc).get("Parameters", "")
    names: set[str] = set()
    for line in body.splitlines():
        if line and not line[0].isspace():
            match = PARAMETER.match(line)
            if match:
                names.update(n.strip() for n in match.group(1).split(","))
    return names


def signature_parameters(func) -> set[str]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return set()
    names = set()
    for p in signature.parameters.values():
        if p.name in ("self", "cls"):
            continue
        prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(p.kind, "")
        names.add(prefix + p.name)
    return names


OBJECTS = public_objects()
MEMBERS = public_members()


def test_the_surface_is_found():
    assert {"rnnfast.LSTM", "rnnfast.Sequential", "rnnfast.optimizers.Adam", "rnnfast.losses.get"} <= set(OBJECTS)
    assert "rnnfast.Sequential.fit" in MEMBERS


@pytest.mark.parametrize("qualname", sorted(OBJECTS))
def test_public_object_is_documented(qualname):
    obj = OBJECTS[qualname]
    doc = inspect.getdoc(obj) if obj.__doc__ else None
    assert doc, f"{qualname} has no docstring"
    func = obj.__init__ if inspect.isclass(obj) else obj
    if inspect.isclass(obj) and func is object.__init__:
        expected: set[str] = set()
    else:
        expected = signature_parameters(func)
    missing = expected - documented_parameters(doc)
    assert not missing, f"{qualname}: arguments not under 'Parameters': {sorted(missing)}"
    assert ">>>" in sections(doc).get("Examples", ""), f"{qualname} has no example under 'Examples'"


@pytest.mark.parametrize("qualname", sorted(MEMBERS))
def test_public_member_is_documented(qualname):
    member = MEMBERS[qualname]
    target = member.fget if isinstance(member, property) else member
    if isinstance(target, (staticmethod, classmethod)):
        target = target.__func__
    doc = inspect.getdoc(target) if target.__doc__ else None
    assert doc, f"{qualname} has no docstring"
    if not isinstance(member, property):
        missing = signature_parameters(target) - documented_parameters(doc)
        assert not missing, f"{qualname}: arguments not under 'Parameters': {sorted(missing)}"


def doctests():
    finder = doctest.DocTestFinder(recurse=True, exclude_empty=True)
    tests: dict[str, doctest.DocTest] = {}
    for qualname, obj in OBJECTS.items():
        for test in finder.find(obj, qualname, globs={"np": np, "rf": rf}):
            if test.examples:
                tests.setdefault(test.name, test)
    return tests


DOCTESTS = doctests()


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save files write them here
    test = DOCTESTS[name]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    test.globs = {"np": np, "rf": rf}
    out: list[str] = []
    result = runner.run(test, out=out.append)
    assert result.failed == 0, "".join(out)
