r"""The same prompt as an earlier record, with a different answer.

Why it hurts training:
    The model is taught two answers to one question; at best it averages them, at worst it
    learns that the answer is arbitrary. Often one of the two is a stale or wrong version (a
    corrected answer appended without removing the old one). Preference data, where one prompt
    has several pairs by design, is not checked.

Bad:
    {"instruction": "What is the capital of Australia?", "input": "", "output": "Canberra."}
    {"instruction": "What is the capital of Australia?", "input": "", "output": "Sydney."}

Good:
    {"instruction": "What is the capital of Australia?", "input": "", "output": "Canberra."}
    {"instruction": "What is the largest city in Australia?", "input": "", "output": "Sydney."}

Options:
    None.

Fix:
    Keep the right answer and drop the other record, or make the prompts say what differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.checks.consistency._keys import lanes, prompt_and_answer
from dataprep.chunked import Chunked, by_key, first_of, in_file_order, merged
from dataprep.findings import Hit, Where

CODE = "DU03"
NAME = "conflicting-duplicate"
FORMATS = ("*",)
KINDS = ("sft", "kto")


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> Chunked:
    # Every record's prompt and answer keys: conflicts are decided in finish against the
    # file's first answer to each prompt, so chunks merge by appending.
    return Chunked(
        prompt=(np.uint64, (2,)), answer=(np.uint64, (2,)), line=np.int64, index=np.int64
    )


def observe(state: Chunked, record, sample) -> None:
    if sample is None or sample.kind not in KINDS:
        return
    keys = prompt_and_answer(sample)
    if keys is not None:
        prompt, answer = keys
        state.append(prompt=lanes(prompt), answer=lanes(answer), line=sample.line,
                     index=sample.index)  # fmt: skip


def observe_batch(state: Chunked, batch, records) -> None:
    """`observe` over a batch, with the batch's prompt and answer keys (hashed in Rust)."""
    prompts, answers, keep = batch.prompt_answer_lanes
    kinds = np.fromiter(
        (s is not None and s.kind in KINDS for s in batch.samples), dtype=bool, count=len(batch)
    )
    keep = keep & kinds
    lines, indexes = batch.where
    state.extend(prompt=prompts[keep], answer=answers[keep], line=lines[keep],
                 index=indexes[keep])  # fmt: skip


def merge(a: Chunked, b: Chunked, offset: tuple[int, int]) -> Chunked:
    lines, records = offset
    a.absorb(b, {"line": lines, "index": records})
    return a


def partition(state: Chunked, parts: int) -> list[Chunked]:
    return state.split(by_key(state.column("prompt"), parts), parts)


def reduce(pieces: list[tuple[Chunked, tuple[int, int]]], opts: Options, ctx) -> list[Hit]:
    return list(finish(merged(pieces), opts, ctx))


def combine(results: list[list[Hit]], opts: Options, ctx, fetch=None) -> list[Hit]:
    return in_file_order(results)


def finish(state: Chunked, opts: Options, ctx) -> Iterator[Hit]:
    lines, indexes, answers = state.column("line"), state.column("index"), state.column("answer")
    first = first_of(state.column("prompt"))
    # A later record whose answer differs from the first's; the same answer again is an
    # exact or near duplicate, not a conflict.
    later = np.flatnonzero(
        (first != np.arange(len(first))) & (answers != answers[first]).any(axis=1)
    )
    later = later[np.lexsort((indexes[later], lines[later]))]
    for line, index, first_line in zip(
        lines[later].tolist(), indexes[later].tolist(), lines[first[later]].tolist(), strict=True
    ):
        yield Hit(
            None,
            f"the same prompt as line {first_line}, with a different answer",
            f"keep the right answer (this record or line {first_line}) and drop the other",
            Where(ctx.path, line, index),
        )
