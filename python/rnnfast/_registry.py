"""Classes by name, for configs: ``{"class": name, "config": {...}}`` entries (the model file's architecture and
nested layers' configs) name a registered class and rebuild it with its ``from_config``."""

from __future__ import annotations

from typing import Any, TypeVar

_CLASSES: dict[str, type] = {}
C = TypeVar("C", bound=type)


def register(cls: C) -> C:
    """Makes `cls` reachable by its name; one class per name."""
    name = cls.__name__
    if _CLASSES.get(name, cls) is not cls:
        raise ValueError(f"a class named {name!r} is registered already")
    _CLASSES[name] = cls
    return cls


def get_class(name: str) -> type | None:
    """The registered class named `name`, or None."""
    return _CLASSES.get(name)


def serialize(obj: Any) -> dict[str, Any]:
    """``{"class": its class name, "config": obj.get_config()}``."""
    return {"class": type(obj).__name__, "config": obj.get_config()}


def deserialize(entry: Any) -> Any:
    """The object a `serialize` entry describes (built by its class's from_config)."""
    if not isinstance(entry, dict) or set(entry) != {"class", "config"}:
        raise ValueError(f"a serialized layer is a dict with the keys 'class' and 'config', got {entry!r}")
    cls = get_class(entry["class"]) if isinstance(entry["class"], str) else None
    if cls is None:
        raise ValueError(f"unknown class {entry['class']!r}; known: {', '.join(sorted(_CLASSES))}")
    return cls.from_config(entry["config"])  # type: ignore[attr-defined]
