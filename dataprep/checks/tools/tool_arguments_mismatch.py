r"""A call whose arguments do not fit the declared function's schema (the first problem).

Why it hurts training:
    A required argument missing, a name the schema does not know, or a value of the wrong
    type: the first of these is named.
    The model learns to call `get_weather(town="Paris")` when the schema asks for `city`: at
    inference the tool runner rejects the call or the function gets nothing. Arguments are
    validated with the function's own JSON Schema (jsonschema-rs); a name outside `properties`
    counts as a mismatch even where the schema would allow extra properties, because a
    declared function that never sees that name cannot use it.

Bad:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Paris\"}}"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}], "tools": "[{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}]"}

Good:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"}, {"from": "observation", "value": "{\"temp\": 21}"}, {"from": "gpt", "value": "21 degrees."}], "tools": "[{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}]"}

Options:
    None.

Fix:
    Rename or retype the arguments to the schema's, or fix the schema if the call is right.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dataprep.checks.tools._calls import Tool, call_turns, prefilter, tools_of
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "TL04"
NAME = "tool-arguments-mismatch"
FORMATS = ("*",)
KINDS = ("*",)
__all__ = ["prefilter"]


@dataclass(frozen=True)
class Options:
    pass


def mismatch(tool: Tool, arguments: dict[str, Any]) -> str | None:
    """The first way `arguments` do not fit `tool`'s parameters, or None."""
    schema = tool.parameters
    if type(schema) is not dict:
        return None
    required = schema.get("required")
    missing = (
        [r for r in required if type(r) is str and r not in arguments]
        if type(required) is list
        else []
    )
    known = schema.get("properties")
    if type(known) is dict and known:
        for name in arguments:
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
                # No name alike: the one required parameter the call leaves out is the guess.
                guess = close[0] if close else missing[0] if len(missing) == 1 else None
                hint = f" (did you mean {guess!r}?)" if guess else ""
                return f"argument {name!r} is not a parameter of {tool.name}{hint}"
    if missing:
        return f"{tool.name} requires {missing[0]!r}, which the call does not give"
    for error in tool.validator.iter_errors(arguments):
        at = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.instance_path)
        return f"arguments{at} of {tool.name}: {error.message}"
    return None


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    declared = tools_of(sample)
    if declared is None or declared.problem is not None:
        return  # nothing to validate against, or invalid-tools reports it
    by_name = {t.name: t for t in declared.tools}
    for turn, calls in call_turns(sample):
        for call in calls:
            tool = by_name.get(call.name) if call.problem is None else None
            if tool is None:
                continue  # invalid-tool-call or unknown-tool reports it
            problem = mismatch(tool, call.arguments)
            if problem is not None:
                yield Hit(
                    turn.field,
                    problem,
                    "give the arguments the declared schema asks for (names and types)",
                )
