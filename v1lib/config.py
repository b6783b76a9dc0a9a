"""Building configuration dataclasses from plain dicts (YAML, JSON)."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing

import yaml


def load_yaml(text: str):
    """YAML ``text`` parsed safely, by libyaml's C parser where PyYAML has it (the
    same result, about ten times faster than the pure-Python parser)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def check_options(cls, options: dict, source: str, what: str = "option") -> None:
    """Raise a ValueError naming ``source`` if ``options`` has keys that are
    not fields of the dataclass ``cls``."""
    if not isinstance(options, dict):
        raise ValueError(f"{source}: expected a mapping of {what}s, got {options!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    bad = set(options) - names
    if bad:
        raise ValueError(f"{source}: unknown {what}(s) {sorted(bad)}; known: {sorted(names)}")


def check_types(cls, options: dict, source: str, prefix: str = "") -> None:
    """Raise a ValueError naming ``source`` and the option if a value of
    ``options`` does not have its field's type (``n_train: expected an integer,
    got 200.7``). Lists stand for tuples; nested dataclasses take mappings."""
    hints = _hints(cls)
    for name, value in options.items():
        tp = hints.get(name)
        if tp is not None and not _matches(value, tp):
            raise ValueError(f"{source}: {prefix}{name}: expected {_describe(tp)}, got {value!r}")


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _matches(value, tp) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp in (str, dict):
        return isinstance(value, tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
    if dataclasses.is_dataclass(tp):
        return isinstance(value, (dict, tp))
    return True  # a type these checks do not know


def _describe(tp) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             dict: "a mapping", type(None): "null"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in names:
        return names[tp]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        item = _describe(args[0]).removeprefix("an ").removeprefix("a ")
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {item}s"
        return f"a list of {len(args)} {item}s"
    if dataclasses.is_dataclass(tp):
        return "a mapping of options"
    return getattr(tp, "__name__", str(tp))


def from_nested(cls, d: dict | None, source: str, prefix: str = ""):
    """An instance of the dataclass ``cls`` from plain nested values: unknown
    keys and values of the wrong type raise a ValueError naming ``source`` and
    the option; a field whose type is a dataclass takes a mapping of its own
    options; lists become tuples."""
    d = dict(d or {})
    check_options(cls, d, source, f"{prefix[:-1]} option" if prefix else "option")
    check_types(cls, d, source, prefix)
    hints = _hints(cls)
    kwargs = {}
    for key, value in d.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            value = from_nested(hints[key], value, source, f"{prefix}{key}.")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)
