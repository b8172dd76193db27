"""Reading a record's tools and tool calls the way LLaMA-Factory does, once per record.

`tools` is a JSON list of function schemas, each `{"name", "description", "parameters"}` or
OpenAI's `{"type": "function", "function": {...}}`. A call is a sharegpt `function_call` turn,
`{"name", "arguments"}` or a list of them (parallel calls), or an OpenAI `tool_calls` list,
`[{"type": "function", "function": {"name", "arguments"}}]`; arguments are an object or a JSON
string of one. Every tool check reads the same parsed form (cached on the Sample's text), so a
broken tools string is reported once, by invalid-tools, and the others skip what they cannot
read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from dataprep.sample import FUNCTION_CALL, Sample


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: Any  # the JSON Schema of the arguments, Python type names mapped (None: none)
    validator: Any = None  # the schema compiled by jsonschema-rs (None: no parameters)


@dataclass(frozen=True)
class Declared:
    """What a record's `tools` says: the tools, or why it cannot be read."""

    tools: tuple[Tool, ...] = ()
    problem: str | None = None  # invalid-tools' message


@dataclass(frozen=True)
class Call:
    name: str | None
    arguments: Any  # the decoded arguments (a dict when they are valid)
    where: str  # "[1]" inside the turn's JSON, "" for a single call
    problem: str | None = None  # invalid-tool-call's message


def _position(error: orjson.JSONDecodeError) -> str:
    return f"at character {error.pos}" if getattr(error, "pos", None) is not None else ""


@lru_cache(maxsize=4096)
def declared(text: str) -> Declared:
    """The tools of a record's `tools` string (cached: datasets repeat one tools list)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        cut = " (cut off?)" if error.pos is not None and error.pos >= len(text.rstrip()) else ""
        return Declared(problem=f"tools is not valid JSON {_position(error)}{cut}: {error.msg}")
    if type(value) is dict:
        return Declared(problem="tools is one object, not a list of function schemas")
    if type(value) is not list:
        return Declared(problem=f"tools is a JSON {type(value).__name__}, not a list")
    tools: list[Tool] = []
    for i, item in enumerate(value):
        where = f"tools[{i}]"
        if type(item) is dict and item.get("type") == "function" and "function" in item:
            item = item["function"]
        if type(item) is not dict:
            return Declared(problem=f"{where} is not a function schema (an object)")
        name = item.get("name")
        if type(name) is not str or not name:
            return Declared(problem=f"{where} has no function name")
        parameters, validator = item.get("parameters"), None
        if parameters is not None:
            parameters = json_schema(parameters, item.get("required"))
            validator, problem = compiled(parameters)
            if problem is not None:
                return Declared(
                    problem=f"{where} ({name}): parameters are not a valid JSON Schema: {problem}"
                )
        tools.append(Tool(name, parameters, validator))
    return Declared(tuple(tools))


# Python type names in JSON-Schema-like parameters (the xLAM / APIGen convention of
# `reason_tool_use_demo`: "str", "dict", "int, optional", "List[str]"), as JSON Schema types.
_PY_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
             "dict": "object", "list": "array", "tuple": "array", "set": "array",
             "none": "null", "nonetype": "null"}  # fmt: skip
_JSON_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


def json_schema(parameters: Any, required: Any = None) -> Any:
    """`parameters` with Python type names written as JSON Schema types, and a function-level
    `required` list (xLAM puts it beside `parameters`) moved inside; anything else as given."""
    if type(parameters) is not dict:
        return parameters
    fixed = _json_types(parameters)
    if type(required) is list and "required" not in fixed:
        fixed = {**fixed, "required": required}
    return fixed


def _json_types(node: Any) -> Any:
    if type(node) is list:
        return [_json_types(v) for v in node]
    if type(node) is not dict:
        return node
    out = {k: _json_types(v) for k, v in node.items()}
    kind = out.get("type")
    if type(kind) is str and kind not in _JSON_TYPES:
        name = kind.split(",")[0].strip().lower()
        name = name.split("[")[0].strip()
        if name in ("any", ""):
            del out["type"]
        else:
            out["type"] = _PY_TYPES.get(name, kind)
    return out


def _no_fetch(uri: str):
    """A record's schema never makes dataprep fetch anything: remote `$ref`s are refused."""
    raise ValueError(f"remote reference {uri!r} is not fetched (schemas must be self-contained)")


def compiled(schema: Any) -> tuple[Any, str | None]:
    """(the schema compiled for validation, None), or (None, why it is not a valid JSON
    Schema): jsonschema-rs checks it against its meta-schema while compiling."""
    import jsonschema_rs

    if type(schema) is not dict:
        return None, f"a {type(schema).__name__}, not an object"
    try:
        return jsonschema_rs.validator_for(schema, retriever=_no_fetch), None
    except jsonschema_rs.ValidationError as error:
        return None, (getattr(error, "message", None) or str(error)).splitlines()[0]
    except Exception as error:  # a schema jsonschema-rs cannot compile at all
        return None, str(error).splitlines()[0]


def tools_of(sample: Sample) -> Declared | None:
    """The record's declared tools; None when it declares none."""
    if sample.tools is None or not sample.tools.strip():
        return None
    return declared(sample.tools)


def calls(text: str | None) -> tuple[Call, ...]:
    """The calls of one function-call turn (one Call with a problem when it cannot be read)."""
    return _calls(text or "")


@lru_cache(maxsize=4096)
def _calls(text: str) -> tuple[Call, ...]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return (
            Call(None, None, "", f"the call is not valid JSON {_position(error)}: {error.msg}"),
        )
    items = value if type(value) is list else [value]
    if not items:
        return (Call(None, None, "", "the call is an empty list"),)
    found = []
    for i, item in enumerate(items):
        where = f"[{i}]" if type(value) is list else ""
        if type(item) is str:  # a v1 tool_call part's text that did not decode
            try:
                item = orjson.loads(item)
            except orjson.JSONDecodeError as error:
                found.append(Call(None, None, where, f"the call is not valid JSON "
                                  f"{_position(error)}: {error.msg}"))  # fmt: skip
                continue
        if type(item) is dict and type(item.get("function")) is dict:  # OpenAI tool_calls
            item = item["function"]
        if type(item) is not dict:
            found.append(Call(None, None, where, f"call{where} is not an object"))
            continue
        name = item.get("name")
        if type(name) is not str or not name:
            found.append(Call(None, None, where, f"call{where} has no function name"))
            continue
        if "arguments" not in item:
            found.append(Call(name, None, where, f"{name}: the call has no arguments"))
            continue
        arguments = item["arguments"]
        if type(arguments) is str:
            try:
                arguments = orjson.loads(arguments) if arguments.strip() else {}
            except orjson.JSONDecodeError as error:
                found.append(Call(name, None, where, f"{name}: arguments are a string that is "
                                  f"not valid JSON {_position(error)}: {error.msg}"))  # fmt: skip
                continue
        if type(arguments) is not dict:
            found.append(Call(name, None, where, f"{name}: arguments are a "
                              f"{type(arguments).__name__}, not an object"))  # fmt: skip
            continue
        found.append(Call(name, arguments, where))
    return tuple(found)


def is_call(turn) -> bool:
    """A function-call turn, or an assistant turn with tool-call parts (LLaMA-Factory v1)."""
    return (turn.role == FUNCTION_CALL and turn.known) or turn.calls is not None


def call_turns(sample: Sample):
    """(turn, its calls) for every turn of the record that calls tools."""
    for turn in sample.messages + sample.chosen + sample.rejected:
        if turn.calls is not None:
            yield turn, calls(turn.calls)
        elif turn.role == FUNCTION_CALL and turn.known:
            yield turn, calls(turn.content)


def prefilter(opts):
    """Records that declare tools or have a function-call, tool-call or observation turn."""
    import polars as pl

    from dataprep.sample import OBSERVATION

    return pl.col("tools") | pl.col("calls") | pl.col("role").is_in([FUNCTION_CALL, OBSERVATION])
