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

import numpy as np

from dataprep.checks.consistency._keys import lanes, record_key
from dataprep.chunked import Chunked, by_key, first_of, in_file_order, merged
from dataprep.findings import Hit, Where

CODE = "DU01"
NAME = "exact-duplicate"
FORMATS = ("*",)
KINDS = ("*",)


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> Chunked:
    # Every record's key and place; copies are found in finish, so chunks merge by appending.
    return Chunked(key=(np.uint64, (2,)), line=np.int64, index=np.int64)


def observe(state: Chunked, record, sample) -> None:
    if sample is not None:
        state.append(key=lanes(record_key(sample)), line=sample.line, index=sample.index)


def observe_batch(state: Chunked, batch, records) -> None:
    """`observe` over a batch, with the batch's content keys (hashed in Rust)."""
    present = batch.present
    lines, indexes = batch.where
    state.extend(key=batch.content_lanes[present], line=lines[present], index=indexes[present])


def merge(a: Chunked, b: Chunked, offset: tuple[int, int]) -> Chunked:
    lines, records = offset
    a.absorb(b, {"line": lines, "index": records})
    return a


def partition(state: Chunked, parts: int) -> list[Chunked]:
    return state.split(by_key(state.column("key"), parts), parts)


def reduce(pieces: list[tuple[Chunked, tuple[int, int]]], opts: Options, ctx) -> list[Hit]:
    return list(finish(merged(pieces), opts, ctx))


def combine(results: list[list[Hit]], opts: Options, ctx, fetch=None) -> list[Hit]:
    return in_file_order(results)


def finish(state: Chunked, opts: Options, ctx) -> Iterator[Hit]:
    lines, indexes = state.column("line"), state.column("index")
    first = first_of(state.column("key"))
    copies = np.flatnonzero(first != np.arange(len(first)))
    copies = copies[np.lexsort((indexes[copies], lines[copies]))]
    for line, index, first_line in zip(
        lines[copies].tolist(), indexes[copies].tolist(), lines[first[copies]].tolist(), strict=True
    ):
        yield Hit(
            None,
            f"the same record as line {first_line}",
            f"keep the first copy (line {first_line}) and drop this one",
            Where(ctx.path, line, index),
        )
