"""Dotted-path overrides of frozen dataclass specs, with type checks naming the field and rule.

``apply_overrides(spec, {"scenario.lending.reserve_factor": 0.2})`` returns a new spec; the
original is untouched. Values may be typed (from TOML or Python) or strings (from ``--set``), in
which case they are parsed according to the field's declared type. Tuples of dataclasses are
addressed by index (``scenario.lending.collateral.0.ltv``).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = [
    "SpecError",
    "apply_overrides",
    "coerce_value",
    "flatten_table",
    "parse_assignment",
    "require",
]


class SpecError(ValueError):
    """A spec field broke a rule. ``field`` is the dotted path, ``rule`` what it must satisfy."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def require(ok: bool, path: str, rule: str, value: Any) -> None:
    """Raise ``SpecError(path, "<rule>, got <value>")`` unless ``ok``."""
    if not ok:
        raise SpecError(path, f"{rule}, got {value!r}")


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if isinstance(tp, type):
        return {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
        }.get(tp.__name__, tp.__name__)
    return str(tp)


def coerce_value(path: str, tp: Any, value: Any) -> Any:
    """Convert ``value`` to the declared type ``tp`` or raise :class:`SpecError`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        is_none = value is None or (isinstance(value, str) and value.lower() == "none")
        if is_none and type(None) in typing.get_args(tp):
            return None
        errors = []
        for a in args:
            try:
                return coerce_value(path, a, value)
            except SpecError as e:
                errors.append(e.rule)
        raise SpecError(path, " or ".join(errors))
    if origin is tuple:
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise SpecError(path, f"expected {_type_name(tp)}, got {value!r}")
        if dataclasses.is_dataclass(item_tp):
            if not all(isinstance(v, item_tp) for v in value):
                raise SpecError(
                    path,
                    f"expected a list of {item_tp.__name__}; "
                    f"override its fields by index, e.g. {path}.0.<field>",
                )
            return tuple(value)
        return tuple(coerce_value(f"{path}[{i}]", item_tp, v) for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise SpecError(path, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise SpecError(path, f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise SpecError(path, f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise SpecError(path, f"expected a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.replace("_", ""))
            except ValueError:
                pass
        raise SpecError(path, f"expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise SpecError(path, f"expected a string, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        raise SpecError(path, f"is a group of settings; set its fields, e.g. {path}.<field>")
    return value


def _set(obj: Any, parts: list[str], value: Any, done: str) -> Any:
    """Return a copy of ``obj`` with the field at ``parts`` set to ``value``."""
    head, rest = parts[0], parts[1:]
    path = f"{done}.{head}" if done else head
    if isinstance(obj, tuple):
        try:
            idx = int(head)
            item = obj[idx]
        except (ValueError, IndexError):
            raise SpecError(path, f"index must be an integer in 0..{len(obj) - 1}") from None
        if not rest:
            raise SpecError(path, f"override a field of this item, e.g. {path}.<field>")
        new_item = _set(item, rest, value, path)
        return (*obj[:idx], new_item, *obj[idx + 1 :])
    if not dataclasses.is_dataclass(obj):
        raise SpecError(done, f"has no field {head!r} (it is a plain value)")
    names = [f.name for f in dataclasses.fields(obj)]
    if head not in names:
        raise SpecError(path, f"unknown field; {type(obj).__name__} has: {', '.join(names)}")
    current = getattr(obj, head)
    if rest:
        new = _set(current, rest, value, path)
    else:
        new = coerce_value(path, _field_types(type(obj))[head], value)
    try:
        return dataclasses.replace(obj, **{head: new})
    except (ValueError, TypeError) as e:
        raise _relocate(e, obj, done, path) from None


def _relocate(e: Exception, obj: Any, done: str, path: str) -> SpecError:
    """Turn ``"<Class>.<field>: rule"`` raised by ``obj``'s validation into the dotted path."""
    field, rule = (e.field, e.rule) if isinstance(e, SpecError) else (None, str(e))
    if field is None and ": " in rule:
        field, rule = rule.split(": ", 1)
    prefix = f"{type(obj).__name__}."
    if field and field.startswith(prefix):
        rest = field[len(prefix) :]
        return SpecError(f"{done}.{rest}" if done else rest, rule)
    return SpecError(path, f"{field}: {rule}" if field else rule)


def apply_overrides(spec: Any, overrides: Mapping[str, Any], *, prefix: str = "") -> Any:
    """Return ``spec`` with every ``dotted.path -> value`` applied, in order."""
    for key, value in overrides.items():
        parts = [p for p in key.split(".") if p]
        if not parts:
            raise SpecError(key or "<empty>", "a field path must not be empty")
        spec = _set(spec, parts, value, prefix)
    return spec


def parse_assignment(text: str) -> tuple[str, str]:
    """Split ``"a.b=value"`` (from ``--set``)."""
    if "=" not in text:
        raise SpecError(text, "expected dotted.field=value")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise SpecError(text, "expected dotted.field=value")
    return key, value.strip()


def flatten_table(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested TOML tables into dotted paths (lists stay values)."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten_table(v, key))
        else:
            out[key] = v
    return out
