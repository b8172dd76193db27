r"""A field whose JSON type changes between records (dataset-level): `images` a string here and a list there.

Why it hurts training:
    `datasets` and pyarrow give a column one type: a field that is a string in some records
    and a list in others (`images`), an object here and a string there (`tools`), null in
    some and a list in others (`history`), or a message `content` that is text here and a
    list of parts there, stops `load_dataset` with an error that names no line ("Column()
    changed from object to array", "ArrowInvalid: JSON parse error"), or silently casts. The
    finding names each type with its count and its first line. Nested fields are followed one
    level into lists (`images[]`, `messages[].content`). Drift between two kinds of scalar (a
    number where text belongs) is wrong-type's, reported per record.

Bad:
    {"messages": [{"role": "user", "content": "<image>What is it?"}, {"role": "assistant", "content": "A cat."}], "images": ["cat.jpg"]}
    {"messages": [{"role": "user", "content": "<image>And this?"}, {"role": "assistant", "content": "A dog."}], "images": "dog.jpg"}

Good:
    {"messages": [{"role": "user", "content": "<image>What is it?"}, {"role": "assistant", "content": "A cat."}], "images": ["cat.jpg"]}
    {"messages": [{"role": "user", "content": "<image>And this?"}, {"role": "assistant", "content": "A dog."}], "images": ["dog.jpg"]}

Options:
    ignore_null: do not count null as a type of its own (most loaders take null in any
        column).

Fix:
    Write the field with one type in every record (a one-element list, `[]` or `""` for none),
    or split the file by shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where

CODE = "PA10"
NAME = "schema-drift"
FORMATS = ("*",)
KINDS = ("*",)
ITEMS = 64  # list items per record whose types are read (bounds the cost of long lists)
# The linter's fast path only counts plain alpaca records (instruction, output and maybe
# input, all strings): finish adds them from ctx.stats.plain.
OBSERVES_PLAIN = False
PLAIN_FIELDS = {2: ("instruction", "output"), 3: ("instruction", "input", "output")}
_TYPES = {str: "a string", int: "a number", float: "a number", bool: "a boolean",
          type(None): "null", list: "a list", dict: "an object"}  # fmt: skip
_CONTAINERS = {"a list", "an object"}


@dataclass(frozen=True)
class Options:
    ignore_null: bool = False


def new_state(ctx) -> dict:
    # field path -> {type: [records, first line, first record, last record counted]}
    return {"types": {}}


def _seen(types: dict, path: str, value, line: int, index: int) -> None:
    kind = _TYPES.get(type(value), "a number")
    found = types.setdefault(path, {})
    entry = found.get(kind)
    if entry is None:
        found[kind] = [1, line, index, index]
    elif entry[3] != index:  # a record counts once, however many of its items have the type
        entry[0] += 1
        entry[3] = index


def observe(state: dict, record, sample) -> None:
    value = record.value
    if type(value) is not dict:
        return  # not-an-object reports it
    types, line, index = state["types"], record.line, record.index
    for key, item in value.items():
        _seen(types, key, item, line, index)
        if type(item) is list:
            for element in item[:ITEMS]:
                _seen(types, f"{key}[]", element, line, index)
                if type(element) is dict:
                    for inner, nested in element.items():
                        _seen(types, f"{key}[].{inner}", nested, line, index)


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch: records without lists are grouped by their keys and value types
    (a file has few such shapes) and each shape is counted once; records with lists, whose
    items are read too, go through `observe`."""
    shapes: dict[tuple, list[int]] = {}  # (keys, types) -> [records, first line, first, last]
    for record in records:
        value = record.value
        if type(value) is not dict:
            continue
        kinds = tuple(map(type, value.values()))
        if list in kinds:
            observe(state, record, None)
            continue
        shape = shapes.get((*value, *kinds))
        if shape is None:
            shapes[(*value, *kinds)] = [1, record.line, record.index, record.index]
        else:
            shape[0] += 1
            shape[3] = record.index
    types = state["types"]
    for shape, (count, line, index, last) in shapes.items():
        half = len(shape) // 2
        for key, kind in zip(shape[:half], shape[half:], strict=True):
            _add(types, key, _TYPES.get(kind, "a number"), count, line, index, last)


def _add(types: dict, path: str, kind: str, count: int, line: int, index: int, last: int) -> None:
    """`count` records, from line `line` (record `index`) to record `last`, with `path` of
    type `kind`."""
    found = types.setdefault(path, {})
    entry = found.get(kind)
    if entry is None:
        found[kind] = [count, line, index, last]
        return
    entry[0] += count
    if line < entry[1]:  # a record observed alone (with lists, or not claimed) came later
        entry[1], entry[2] = line, index
    entry[3] = max(entry[3], last)


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines, records = offset
    for path, kinds in b["types"].items():  # a chunk boundary falls between records
        for kind, (count, line, index, last) in kinds.items():
            _add(a["types"], path, kind, count, line + lines, index + records, last + records)
    return a


def _records(n: int) -> str:
    return f"{n:,} record" + ("" if n == 1 else "s")


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    for n, (count, line, index, last) in ctx.stats.plain.items():
        for path in PLAIN_FIELDS[n]:
            _add(state["types"], path, "a string", count, line, index, last)
    hits = []
    for path, kinds in state["types"].items():
        found = {k: v for k, v in kinds.items() if not (opts.ignore_null and k == "null")}
        # Scalars of two types (a number where text belongs) are wrong-type's, per record.
        if len(found) < 2 or not (found.keys() & _CONTAINERS):
            continue
        ranked = sorted(found.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        main, (count, first, _, _) = ranked[0]
        others = ", ".join(f"{kind} in {_records(n)} (first at line {line})"
                           for kind, (n, line, _, _) in ranked[1:])  # fmt: skip
        _, (_, line, index, _) = ranked[1]
        hits.append(Hit(
            path,
            f"{path!r} is {main} in {_records(count)} (first at line {first}) but {others}",
            f"write {path!r} as {main} in every record, or split the file by shape",
            Where(ctx.path, line, index),
        ))  # fmt: skip
    yield from sorted(hits, key=lambda h: (h.where.line, h.field))
