r"""Tool turns out of order: an observation no call asked for, or a call left without result.

Why it hurts training:
    A tool conversation is user, function call, observation (the tool's result), then the
    answer that uses it. An observation with no call before it (first in the conversation, or
    after an answer) teaches the model that results arrive unasked; a call followed by the next
    user turn, with no observation, teaches it to call and carry on without the result.
    (Two answers in a row, a call answered straight away, are role-order's: turns must
    alternate.)

Bad:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"}, {"from": "human", "value": "And Rome?"}, {"from": "gpt", "value": "Sunny in both."}]}
    {"conversations": [{"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "It is 21 degrees."}]}

Good:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}]}

Options:
    None.

Fix:
    Put each tool result right after the call it answers, or drop the stray turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tools._calls import is_call, prefilter
from dataprep.findings import Hit
from dataprep.sample import FUNCTION_CALL, OBSERVATION, SYSTEM, USER, Sample

CODE = "TL05"
NAME = "tool-turn-order"
FORMATS = ("sharegpt", "openai", "trl")
KINDS = ("*",)
__all__ = ["prefilter"]


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for group in (sample.messages, sample.chosen, sample.rejected):
        yield from _order(group)


def _order(turns) -> Iterator[Hit]:
    previous = None
    for number, turn in enumerate(turns, 1):
        if not turn.known:
            return  # invalid-role reports it
        if turn.role == SYSTEM:
            continue
        role = FUNCTION_CALL if is_call(turn) else turn.role
        if role == OBSERVATION and previous not in (FUNCTION_CALL, OBSERVATION, USER):
            # After a user turn, role-order already says two prompts follow each other.
            where = "first in the conversation" if previous is None else f"after {previous}"
            yield Hit(
                turn.field,
                f"an observation (turn {number}) with no call before it ({where})",
                "put the tool result right after the function call it answers, or drop it",
            )
        if role == USER and previous == FUNCTION_CALL:
            yield Hit(
                turn.field,
                f"the function call before turn {number} gets no observation before this user turn",
                "add the tool's result as an observation turn after the call",
            )
        previous = role
