r"""A KTO record whose `label` is not a boolean, in a file of KTO records (dataset-level).

Why it hurts training:
    KTO marks each answer desirable (`true`) or undesirable (`false`). LLaMA-Factory and TRL
    take a record as KTO only when its label is a JSON boolean: `"true"`, `1` or `"good"`
    make it a plain SFT record, so it is trained without its feedback, or the file no longer
    loads as one format. Reported only in files where other records do carry boolean labels
    (elsewhere `label` may be a classification field of its own).

Bad:
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "label": true}
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away."}], "label": "false"}

Good:
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "label": true}
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away."}], "label": false}

Options:
    None.

Fix:
    Write the label as a JSON boolean (`true` or `false`, no quotes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.chunked import merge_capped
from dataprep.findings import Hit, Where

CODE = "PR07"
NAME = "invalid-kto-label"
FORMATS = ("*",)
KINDS = ("*",)
KEEP = 10_000  # records with a wrong label kept with their lines (the rest are counted)


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> dict:
    return {"booleans": 0, "wrong": [], "more": 0}


def observe(state: dict, record, sample) -> None:
    value = record.value
    if type(value) is not dict or "label" not in value:
        return
    label = value["label"]
    if type(label) is bool:
        state["booleans"] += 1
    elif len(state["wrong"]) < KEEP:
        state["wrong"].append((record.line, record.index, repr(label)[:40]))
    else:
        state["more"] += 1


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    a["booleans"] += b["booleans"]
    merge_capped(a, b, "wrong", offset, KEEP)
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    if not state["booleans"]:
        return
    for line, index, shown in state["wrong"]:
        yield Hit(
            "label",
            f"label is {shown}, not a JSON boolean, in a file of KTO records "
            f"({state['booleans']:,} with true/false): it is not trained as feedback",
            "write the label as true or false (a JSON boolean, no quotes)",
            Where(ctx.path, line, index),
        )
    if state["more"]:
        yield Hit(
            None,
            f"{state['more']:,} more records with a label that is not a JSON boolean (the first "
            f"{KEEP:,} are listed)",
            "write every label as true or false",
            Where(ctx.path),
        )
