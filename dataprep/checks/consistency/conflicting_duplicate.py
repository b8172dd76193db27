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

from dataprep.checks.consistency._keys import prompt_and_answer
from dataprep.findings import Hit, Where

CODE = "DU03"
NAME = "conflicting-duplicate"
FORMATS = ("*",)
KINDS = ("sft", "kto")


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> dict:
    # first: prompt -> (line, index, answer); later: every further record with a seen prompt.
    # Conflicts are decided in finish against the file's first answer, so chunks merge exactly.
    return {"first": {}, "later": []}


def observe(state: dict, record, sample) -> None:
    if sample is None or sample.kind not in KINDS:
        return
    keys = prompt_and_answer(sample)
    if keys is None:
        return
    prompt, answer = keys
    if prompt in state["first"]:
        state["later"].append((sample.line, sample.index, prompt, answer))
    else:
        state["first"][prompt] = (sample.line, sample.index, answer)


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch, with the batch's prompt and answer keys (hashed in Rust)."""
    first, later = state["first"], state["later"]
    for sample, keys in zip(batch.samples, batch.prompt_answer_keys, strict=True):
        if keys is None or sample.kind not in KINDS:
            continue
        prompt, answer = keys
        if prompt in first:
            later.append((sample.line, sample.index, prompt, answer))
        else:
            first[prompt] = (sample.line, sample.index, answer)


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines, records = offset
    for prompt, (line, index, answer) in b["first"].items():
        if prompt in a["first"]:
            a["later"].append((line + lines, index + records, prompt, answer))
        else:
            a["first"][prompt] = (line + lines, index + records, answer)
    a["later"].extend((ln + lines, ix + records, p, ans) for ln, ix, p, ans in b["later"])
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    for line, index, prompt, answer in sorted(state["later"]):
        first_line, _, first_answer = state["first"][prompt]
        if answer == first_answer:
            continue  # the same answer again is an exact or near duplicate, not a conflict
        yield Hit(
            None,
            f"the same prompt as line {first_line}, with a different answer",
            f"keep the right answer (this record or line {first_line}) and drop the other",
            Where(ctx.path, line, index),
        )
