r"""Empty think blocks in a dataset that otherwise reasons, or reasoning in only part of it (dataset-level).

Why it hurts training:
    Reasoning models are trained on answers that open with a think block. An empty block
    (`<think>\n\n</think>`, or an empty `reasoning_content` / LLaMA-Factory v1 `reasoning`
    part) in a dataset whose other answers reason is what a pipeline writes when
    `enable_thinking` was off or the reasoning was stripped: the model learns to skip thinking
    on exactly those prompts. Where answers to the same kind of prompt (single-turn or
    multi-turn, with or without tools, with or without images, video or audio) sometimes reason
    and sometimes do not, the model is trained on two behaviours for one situation; it is
    reported once, with the shares of each kind of prompt and a first line of each, so it is a
    choice and not an accident. Kinds of prompt that are consistent (tool calls always reason,
    chat never does) are not a mix. Tags inside code are not counted.

Bad:
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>Two and two make four.</think>4"}]}
    {"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "<think>\n\n</think>6"}]}

Good:
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>Two and two make four.</think>4"}]}
    {"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "<think>Three and three make six.</think>6"}]}

Options:
    min_share: the share of answers that must reason before empty blocks are reported, and
        the smallest share of either kind that makes a mix within a kind of prompt.
    min_answers: kinds of prompt with fewer answers are not judged for a mix.

Fix:
    Regenerate the empty blocks with thinking on (or drop those records); for a mix, decide
    whether the model should reason on that kind of prompt and make the data say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.checks.reasoning import THINK_BLOCK
from dataprep.chunked import merge_capped
from dataprep.findings import Hit, Where
from dataprep.sample import answers, prompts
from dataprep.text import without_code

CODE = "RS02"
NAME = "empty-reasoning"
FORMATS = ("*",)
KINDS = ("*",)
KEEP = 10_000  # empty blocks kept with their lines (the rest are counted)


@dataclass(frozen=True)
class Options:
    min_share: float = 0.05
    min_answers: int = 20


def new_state(ctx) -> dict:
    # (kind of prompt, kind of answer) -> [answers, first line]; answers: "reasoning",
    # "empty", "plain".
    return {"counts": {}, "empty": [], "more": 0}


def answer_kind(turn) -> str:
    """reasoning, empty or plain: how an answer opens (its separate reasoning first)."""
    if turn.reasoning is not None:
        return "reasoning" if turn.reasoning.strip() else "empty"
    text = turn.content
    if "<think>" not in text:
        return "plain"
    block = THINK_BLOCK.search(without_code(text))
    if block is None:
        return "plain"  # unclosed: unbalanced-think's
    return "reasoning" if block.group(1).strip() else "empty"


def _prompt_kind(sample) -> str:
    """The kind of prompt a record's answers respond to, by its shape (cheap: no text read)."""
    return _PROMPT_KINDS[
        4 * (len(prompts(sample)) > 1) + 2 * (sample.tools is not None) + bool(sample.media_parts)
    ]


_PROMPT_KINDS = [
    f"{turns} prompts{tools}{media}"
    for turns in ("single-turn", "multi-turn")
    for tools in ("", " with tools")
    for media in ("", " with media")
]


def observe(state: dict, record, sample) -> None:
    if sample is None:
        return
    prompt = None
    for turn in answers(sample):
        if not turn.content and turn.reasoning is None:
            continue
        kind = answer_kind(turn)
        if prompt is None:
            prompt = _prompt_kind(sample)
        _count(state, (prompt, kind), 1, sample.line)
        if kind == "empty":
            if len(state["empty"]) < KEEP:
                field = turn.field if turn.reasoning is None else _reasoning_field(turn)
                state["empty"].append((sample.line, sample.index, field))
            else:
                state["more"] += 1


def _count(state: dict, key: tuple[str, str], n: int, line: int) -> None:
    entry = state["counts"].get(key)
    if entry is None:
        state["counts"][key] = [n, line]
    else:
        entry[0] += n
        entry[1] = min(entry[1], line)


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch: records with a think tag or a separate reasoning go through
    `observe`; the plain answers of all others are counted per kind of prompt in numpy."""
    import polars as pl

    frame = batch.frame
    if not len(frame):
        return
    rows = batch.rows
    text, reasoning = pl.col("text"), pl.col("reasoning")
    found = frame.select(
        (
            text.str.contains("<think>", literal=True).fill_null(False) | reasoning.is_not_null()
        ).alias("thinking"),
        ((text.fill_null("") != "") | reasoning.is_not_null()).alias("counted"),
    )
    counted = frame["answer"].to_numpy() & found["counted"].to_numpy()
    special = batch.any_per_record(counted & found["thinking"].to_numpy())
    samples = batch.samples
    for i in np.flatnonzero(special).tolist():
        observe(state, None, samples[i])
    plain = counted & ~special[rows]
    if not plain.any():
        return
    multi = np.bincount(rows[frame["prompt"].to_numpy()], minlength=len(samples)) > 1
    tools = batch.any_per_record(frame["tools"].to_numpy())
    media = batch.any_per_record((frame["images"].to_numpy() > 0) | frame["clips"].to_numpy())
    code = (4 * multi + 2 * tools + media)[rows[plain]]
    lines = batch.where[0][rows[plain]]
    for c in np.flatnonzero(np.bincount(code, minlength=len(_PROMPT_KINDS))).tolist():
        mine = code == c
        _count(state, (_PROMPT_KINDS[c], "plain"), int(mine.sum()), int(lines[mine].min()))


def _reasoning_field(turn) -> str:
    """The message that holds a separate reasoning (in its reasoning_content or, LLaMA-Factory
    v1, in a reasoning part of its content)."""
    return turn.field.rsplit(".", 1)[0]


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines = offset[0]
    for key, (count, line) in b["counts"].items():
        if key in a["counts"]:
            a["counts"][key][0] += count
        else:
            a["counts"][key] = [count, line + lines]
    merge_capped(a, b, "empty", offset, KEEP)
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    counts: dict[str, int] = {}
    for (_, kind), (count, _) in state["counts"].items():
        counts[kind] = counts.get(kind, 0) + count
    total = sum(counts.values())
    if not total:
        return
    reasoning = counts.get("reasoning", 0)
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
    mixes = []
    firsts: dict[str, int] = {}  # kind of prompt -> its first line: mixes in file order
    for (prompt, _), (_, line) in state["counts"].items():
        firsts[prompt] = min(line, firsts.get(prompt, line))
    for prompt in sorted(firsts, key=firsts.get):
        first = {k: v for (p, k), v in state["counts"].items() if p == prompt}
        thinking = sum(first[k][0] for k in ("reasoning", "empty") if k in first)
        plain = first["plain"][0] if "plain" in first else 0
        size = thinking + plain
        if size >= opts.min_answers and min(thinking, plain) / size >= opts.min_share:
            with_think = min(first[k][1] for k in ("reasoning", "empty") if k in first)
            mixes.append(
                f"in {prompt}, {thinking / size:.0%} of {size:,} answers open with a think block "
                f"(first at line {with_think}) and {plain / size:.0%} do not (first at line "
                f"{first['plain'][1]})"
            )
    if mixes:
        yield Hit(
            None,
            "; ".join(mixes) + ": the model learns both to reason and not to on the same kind "
            "of prompt",
            "decide whether the model should reason on that kind of prompt, and make every "
            "answer to it say so",
            Where(ctx.path),
        )
