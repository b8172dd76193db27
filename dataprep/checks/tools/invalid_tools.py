r"""A `tools` field that is not a list of valid function schemas.

Why it hurts training:
    LLaMA-Factory parses `tools` with `json.loads` and renders each function into the system
    prompt: a string cut off mid-schema stops it ("Invalid JSON format in tool description"),
    and a schema that is one object instead of a list, an entry without a name, or parameters
    that are not JSON Schema (`"type": "sting"`) render tools the model can never call right.
    Accepted shapes: `[{"name", "description", "parameters"}]` and OpenAI's
    `[{"type": "function", "function": {...}}]`; parameters are checked against the JSON Schema
    meta-schema (jsonschema-rs).

Bad:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "gpt", "value": "Sunny."}], "tools": "[{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\""}
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "gpt", "value": "Sunny."}], "tools": "{\"name\": \"get_weather\"}"}

Good:
    {"conversations": [{"from": "human", "value": "Weather in Paris?"}, {"from": "gpt", "value": "Sunny."}], "tools": "[{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}]"}

Options:
    None.

Fix:
    Re-export the tools as a JSON list (`json.dumps(tools)`), one schema per function, each with
    a `name` and JSON Schema `parameters`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tools._calls import prefilter, tools_of
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "TL01"
NAME = "invalid-tools"
FORMATS = ("*",)
KINDS = ("*",)
__all__ = ["prefilter"]


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    found = tools_of(sample)
    if found is not None and found.problem is not None:
        yield Hit(
            "tools",
            found.problem,
            "write tools as a JSON list of function schemas, each with a name and JSON Schema "
            "parameters",
        )
