"""Typed settings from YAML (or `key=value`), checked one way for every config we load.

Rule packs, `build.yaml` and `train run` configs are all mappings of names to values that
YAML has already typed. Each loader collects every problem, with the file and the key, and
raises one ConfigError: these functions append to its `problems` list and never raise. No
value is coerced past what it says: `packing: "false"` is text, not a boolean, and `seed: 0`
is 0.
"""

from __future__ import annotations

import dataclasses
import typing
from types import UnionType
from typing import Any

from dataprep.errors import closest

BAD: Any = object()
"""What `typed` returns for a value that is not of the expected type."""


def typed(value: Any, expected: Any) -> Any:
    """`value` as the annotation `expected` wants it (an integer where a float is expected
    becomes a float, a list where a tuple is expected a tuple), or BAD."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, UnionType):
        for option in typing.get_args(expected):
            if option is type(None):
                if value is None:
                    return None
                continue
            checked = typed(value, option)
            if checked is not BAD:
                return checked
        return BAD
    if origin in (tuple, list):
        item = next(a for a in typing.get_args(expected) if a is not Ellipsis)
        if not isinstance(value, list):
            return BAD
        items = [typed(v, item) for v in value]
        if any(v is BAD for v in items):
            return BAD
        return tuple(items) if origin is tuple else items
    if expected is bool:
        return value if isinstance(value, bool) else BAD
    if expected is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else BAD
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else BAD
    if isinstance(expected, type):
        return value if isinstance(value, expected) else BAD
    return value


def type_name(expected: Any) -> str:
    """The annotation in words: `an integer or null`, `a list of text`."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, UnionType):
        args = typing.get_args(expected)
        text = " or ".join(type_name(a) for a in args if a is not type(None))
        return text + (" or null" if type(None) in args else "")
    if origin in (tuple, list):
        return f"a list of {type_name(typing.get_args(expected)[0])}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
    return names.get(expected, getattr(expected, "__name__", str(expected)))


def wrong_type(where: str, key: str, value: Any, expected: Any) -> str:
    return f"{where}: {key} must be {type_name(expected)}, not {type(value).__name__} ({value!r})"


def unknown_key(where: str, key: Any, known: list[str], what: str = "key") -> str:
    close = closest(str(key), known)
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"{where}: unknown {what} {key!r}{hint}"


def fields(cls: type, data: dict, where: str, problems: list[str], skip: tuple = ()) -> dict:
    """The values of `data` for the dataclass `cls`, each checked against its annotation:
    unknown keys (with a did-you-mean) and wrong types become problems and are left out."""
    known = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in known:
            problems.append(unknown_key(where, key, known))
            continue
        checked = typed(value, hints[key])
        if checked is BAD:
            problems.append(wrong_type(where, key, value, hints[key]))
            continue
        values[key] = checked
    return values


def one_of(where: str, key: str, value: Any, allowed: tuple, problems: list[str]) -> None:
    if value not in allowed:
        problems.append(f"{where}: {key} must be one of {', '.join(map(str, allowed))}")
