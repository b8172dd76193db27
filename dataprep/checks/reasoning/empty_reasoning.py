r"""Empty think blocks in a dataset that otherwise reasons, or reasoning in only part of it (dataset-level).

Why it hurts training:
    Reasoning models are trained on answers that open with a think block. An empty block
    (`<think>\n\n</think>`) in a dataset whose other answers reason is what a pipeline writes
    when `enable_thinking` was off or the reasoning was stripped: the model learns to skip
    thinking on exactly those prompts. A dataset where some answers reason and others do not
    trains two behaviours at once; it is reported once, with the shares and a first line of
    each, so it is a choice and not an accident. Tags inside code are not counted.

Bad:
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>Two and two make four.</think>4"}]}
    {"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "<think>\n\n</think>6"}]}

Good:
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>Two and two make four.</think>4"}]}
    {"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "<think>Three and three make six.</think>6"}]}

Options:
    min_share: the share of answers that must reason before empty blocks are reported, and
        the smallest share of either kind that makes a mix.
    min_answers: datasets with fewer answers are not judged for a mix.

Fix:
    Regenerate the empty blocks with thinking on (or drop those records); for a mix, decide
    whether the model should always reason and make the data say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.chunked import merge_capped
from dataprep.findings import Hit, Where
from dataprep.sample import answers
from dataprep.text import without_code

CODE = "RS02"
NAME = "empty-reasoning"
FORMATS = ("*",)
KINDS = ("*",)
KEEP = 10_000  # empty blocks kept with their lines (the rest are counted)
_BLOCK = re.compile(r"<think>(.*?)</think>", re.S)


@dataclass(frozen=True)
class Options:
    min_share: float = 0.05
    min_answers: int = 20


def new_state(ctx) -> dict:
    # kind -> [answers, first line]; kinds: "reasoning", "empty", "plain"
    return {"counts": {}, "empty": [], "more": 0}


def _kind(text: str) -> str:
    if "<think>" not in text:
        return "plain"
    block = _BLOCK.search(without_code(text))
    if block is None:
        return "plain"  # unclosed: unbalanced-think's
    return "reasoning" if block.group(1).strip() else "empty"


def observe(state: dict, record, sample) -> None:
    if sample is None:
        return
    for turn in answers(sample):
        if not turn.content:
            continue
        kind = _kind(turn.content)
        entry = state["counts"].setdefault(kind, [0, sample.line])
        entry[0] += 1
        if kind == "empty":
            if len(state["empty"]) < KEEP:
                state["empty"].append((sample.line, sample.index, turn.field))
            else:
                state["more"] += 1


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines = offset[0]
    for kind, (count, line) in b["counts"].items():
        if kind in a["counts"]:
            a["counts"][kind][0] += count
        else:
            a["counts"][kind] = [count, line + lines]
    merge_capped(a, b, "empty", offset, KEEP)
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    counts = {k: v[0] for k, v in state["counts"].items()}
    total = sum(counts.values())
    if not total:
        return
    reasoning, empty, plain = (counts.get(k, 0) for k in ("reasoning", "empty", "plain"))
    if reasoning and reasoning / total >= opts.min_share:
        for line, index, field in state["empty"]:
            yield Hit(
                field,
                f"an empty think block, in a dataset where {reasoning:,} of {total:,} answers "
                "reason: thinking was off or stripped for this record",
                "regenerate the answer with thinking on, or drop the record",
                Where(ctx.path, line, index),
            )
        if state["more"]:
            yield Hit(
                None,
                f"{state['more']:,} more empty think blocks (the first {KEEP:,} are listed)",
                "regenerate those answers with thinking on, or drop the records",
                Where(ctx.path),
            )
    thinking = reasoning + empty
    if total >= opts.min_answers and min(thinking, plain) / total >= opts.min_share:
        first = state["counts"]
        with_think = min(first[k][1] for k in ("reasoning", "empty") if k in first)
        yield Hit(
            None,
            f"{thinking / total:.0%} of answers open with a think block (first at line "
            f"{with_think}) and {plain / total:.0%} do not (first at line {first['plain'][1]}): "
            "the model learns both to reason and not to",
            "decide whether the model should always reason, and make every answer say so",
            Where(ctx.path),
        )
