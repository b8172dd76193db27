r"""A tool call that cannot be read (broken JSON, no function name, arguments not an object).

Why it hurts training:
    A call whose JSON does not parse, that has no function name, or whose arguments are
    neither an object nor a JSON string of one cannot be rendered or executed.
    LLaMA-Factory reads a `function_call` turn with `json.loads` and takes `name` and
    `arguments` from it; OpenAI-style `tool_calls` carry the same in `function`. A truncated
    call, a missing name or arguments given as a list teach the model to emit calls no tool
    runner can execute, or stop preprocessing outright.

Bad:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}]}

Good:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}]}

Options:
    None.

Fix:
    Regenerate or repair the call as `{"name": ..., "arguments": {...}}` (a list of them for
    parallel calls), or drop the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tools._calls import call_turns, prefilter
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "TL02"
NAME = "invalid-tool-call"
FORMATS = ("*",)
KINDS = ("*",)
__all__ = ["prefilter"]


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn, calls in call_turns(sample):
        for call in calls:
            if call.problem is not None:
                yield Hit(
                    turn.field,
                    call.problem,
                    'write the call as {"name": ..., "arguments": {...}}, or drop the record',
                )
