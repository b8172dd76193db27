r"""A record identical to an earlier one (same prompt and answer, ignoring whitespace).

Why it hurts training:
    Duplicates are trained on more than once: the model overweights them and memorises their
    wording, and duplicated evaluation data inflates scores. Merged exports and re-runs of a
    generator are the usual source.

Bad:
    {"instruction": "Name a prime number.", "input": "", "output": "7"}
    {"instruction": "Name a prime number.", "input": "", "output": "7"}

Good:
    {"instruction": "Name a prime number.", "input": "", "output": "7"}
    {"instruction": "Name an even prime number.", "input": "", "output": "2"}

Options:
    None.

Fix:
    Keep the first copy (`dataprep clean` drops the others).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.consistency._keys import record_key
from dataprep.findings import Hit, Where

CODE = "DU01"
NAME = "exact-duplicate"
FORMATS = ("*",)
KINDS = ("*",)


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> dict:
    return {"first": {}, "copies": []}  # key -> (line, index); [(line, index, key)]


def observe(state: dict, record, sample) -> None:
    if sample is None:
        return
    key = record_key(sample)
    if key in state["first"]:
        state["copies"].append((sample.line, sample.index, key))
    else:
        state["first"][key] = (sample.line, sample.index)


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch, with the batch's content keys (hashed in Rust)."""
    first, copies = state["first"], state["copies"]
    for sample, key in zip(batch.samples, batch.content_keys, strict=True):
        if sample is None:
            continue
        if key in first:
            copies.append((sample.line, sample.index, key))
        else:
            first[key] = (sample.line, sample.index)


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines, records = offset
    for key, (line, index) in b["first"].items():
        if key in a["first"]:
            a["copies"].append((line + lines, index + records, key))
        else:
            a["first"][key] = (line + lines, index + records)
    a["copies"].extend((line + lines, index + records, key) for line, index, key in b["copies"])
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    for line, index, key in sorted(state["copies"]):
        first_line, _ = state["first"][key]
        yield Hit(
            None,
            f"the same record as line {first_line}",
            f"keep the first copy (line {first_line}) and drop this one",
            Where(ctx.path, line, index),
        )
