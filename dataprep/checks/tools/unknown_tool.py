r"""A call to a function the record's `tools` does not declare.

Why it hurts training:
    The model learns to call functions that the tools in its prompt do not offer
    (`get_forecast` when only `get_weather` is declared): at inference it invents tools. Often
    the tools list and the calls come from different generations, or a function was renamed in
    one place only. Records without `tools` are not checked (nothing says what exists).

Bad:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_forecast\", \"arguments\": {\"city\": \"Paris\"}}"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}], "tools": "[{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}]"}

Good:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}], "tools": "[{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}]"}

Options:
    None.

Fix:
    Declare the function in `tools`, or call the declared one (the message names the closest).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tools._calls import call_turns, prefilter, tools_of
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "TL03"
NAME = "unknown-tool"
FORMATS = ("*",)
KINDS = ("*",)
__all__ = ["prefilter"]


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    declared = tools_of(sample)
    if declared is None or declared.problem is not None:
        return  # nothing declared, or invalid-tools reports it
    names = [t.name for t in declared.tools]
    for turn, calls in call_turns(sample):
        for call in calls:
            if call.name is None or call.name in names:
                continue
            close = difflib.get_close_matches(call.name, names, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            offered = ", ".join(names) if names else "none"
            yield Hit(
                turn.field,
                f"calls {call.name!r}, which tools does not declare{hint}; declared: {offered}",
                f"call {close[0]!r}" if close else "declare the function in tools",
            )
