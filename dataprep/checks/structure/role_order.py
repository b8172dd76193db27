r"""Turns out of order: two user turns in a row, an assistant first, a system prompt mid-way.

Why it hurts training:
    Chat templates and LLaMA-Factory expect an optional system prompt, then user (or tool
    observation) and assistant (or function call) turns alternating. LLaMA-Factory drops a
    record that breaks the pattern; templates that do render it teach the model to answer
    itself or to ignore a question.

Bad:
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "human", "value": "Hello?"}, {"from": "gpt", "value": "Hi!"}]}

Good:
    {"conversations": [{"from": "human", "value": "Hi\nHello?"}, {"from": "gpt", "value": "Hi!"}]}

Options:
    None.

Fix:
    Merge consecutive turns of the same side, move the system prompt first, and start with the
    user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import ANSWER_ROLES, OBSERVATION, PROMPT_ROLES, SYSTEM, Sample, article

CODE = "ST03"
NAME = "role-order"
FORMATS = ("sharegpt", "openai", "trl")
KINDS = ("sft", "dpo", "kto")


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    turns = sample.messages
    start = 1 if turns and turns[0].role == SYSTEM else 0
    position = 0
    previous = None
    for turn in turns[start:]:
        if not turn.known:
            return  # invalid-role reports it; the order after it means nothing
        if turn.role == OBSERVATION and previous == OBSERVATION:
            continue  # parallel tool results: one observation turn once merged
        expected = PROMPT_ROLES if position % 2 == 0 else ANSWER_ROLES
        if turn.role not in expected:
            yield Hit(turn.field, _message(turn.role, previous, position), _fix(turn.role))
            return
        previous = turn.role
        position += 1


def _message(role: str, previous: str | None, position: int) -> str:
    if role == SYSTEM:
        return "a system turn in the middle of the conversation"
    if previous is None:
        return f"the conversation starts with {article(role)} turn, not the user"
    return (
        f"{article(role)} turn follows {article(previous)} turn (turn {position + 1}); "
        "turns must alternate"
    )


def _fix(role: str) -> str:
    if role == SYSTEM:
        return "move the system prompt to the first turn (or the record's system field)"
    return "merge consecutive turns of the same side, and start with the user"
