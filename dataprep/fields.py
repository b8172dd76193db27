"""Reading one field of a raw record: strings, tool lists, image lists, KTO labels, the
parts of a message's content, each with the problems a trainer would hit on it.

Shared by the format readers (`dataprep.formats` for alpaca and plain text,
`dataprep.messages` for conversations); type names in messages are JSON's (`type_name`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from dataprep.records import Problem

if TYPE_CHECKING:
    from dataprep.spec import Spec

TEXT_PARTS = ("text", "reasoning", "tool_call", "input_text", "output_text")
IMAGE_PARTS = ("image", "image_url", "input_image")
OTHER_MEDIA_PARTS = ("video", "video_url", "audio", "audio_url", "input_audio")


def string(obj: dict, key: str | None, problems: list[Problem]) -> str | None:
    if not key:
        return None
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    problems.append(Problem("wrong-type", key, f"{key!r} is {type_name(value)}, not text"))
    # A number still reads as text (`42`), so later checks do not also call it empty.
    return str(value) if type(value) in (int, float, bool) else None


def tools(obj: dict, key: str | None, problems: list[Problem]) -> str | None:
    if not key or key not in obj:
        return None
    value = obj[key]
    if value is None or type(value) is str:
        return value
    if type(value) in (list, dict):
        return dumps(value)
    problems.append(Problem("wrong-type", key, f"{key!r} is {type_name(value)}, not a tool list"))
    return None


def images(
    obj: dict, key: str | None, problems: list[Problem], noun: str = "image"
) -> tuple[str, ...]:
    """The media paths of a record's `key` column (a path, a list of them, or {"path": ...})."""
    if not key or key not in obj:
        return ()
    value = obj[key]
    if value is None:
        return ()
    items = value if type(value) is list else [value]
    paths = []
    for i, item in enumerate(items):
        if type(item) is dict and type(item.get("path")) is str:
            item = item["path"]
        if type(item) is str:
            paths.append(item)
        else:
            where = f"{key}[{i}]" if type(value) is list else key
            problems.append(
                Problem("wrong-type", where, f"{noun} is {type_name(item)}, not a path")
            )
    return tuple(paths)


def label(obj: dict, spec: Spec, kind: str) -> bool | None:
    if kind != "kto" or not spec.kto_tag:
        return None
    value = obj.get(spec.kto_tag)
    return value if type(value) is bool else None


def type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def content_text(
    content: Any,
    where: str,
    problems: list[Problem],
    images: list[str] | None,
    calls: list | None = None,
    thoughts: list[str] | None = None,
) -> str | None:
    """A message's text: a string, or the text of a list of typed parts (OpenAI and LLaMA-Factory
    v1). Image parts are collected into `images`, tool-call parts' values into `calls` (as
    written: the tool checks decode them), reasoning parts into `thoughts` (LLaMA-Factory v1
    hands them to the template as `reasoning_content`, not as text)."""
    if content is None or type(content) is str:
        return content
    if type(content) is not list:
        problems.append(
            Problem(
                "wrong-type", where, f"content is {type_name(content)}, not text or a list of parts"
            )
        )
        return None
    texts: list[str] = []
    for i, part in enumerate(content):
        pwhere = f"{where}[{i}]"
        if type(part) is str:
            texts.append(part)
            continue
        if type(part) is not dict or type(part.get("type")) is not str:
            problems.append(
                Problem(
                    "wrong-type", pwhere, f"{pwhere} is {type_name(part)}, not a typed content part"
                )
            )
            continue
        ptype = part["type"]
        value = part.get("value", part.get(ptype))
        if ptype in TEXT_PARTS:
            if value is None:
                value = part.get("text")
            if ptype == "tool_call" and calls is not None and value is not None:
                calls.append(value)
            if ptype == "reasoning" and thoughts is not None and type(value) is str:
                thoughts.append(value)
            elif type(value) is str:
                texts.append(value)
            elif ptype == "tool_call" and value is not None:
                texts.append(dumps(value))
            else:
                problems.append(
                    Problem("wrong-type", pwhere, f"{ptype} part has {type_name(value)} text")
                )
        elif ptype in IMAGE_PARTS:
            url = value.get("url") if type(value) is dict else value
            if type(url) is str:
                if images is not None:
                    images.append(url)
                texts.append("<image>")  # where the image goes, as in LLaMA-Factory's text
            else:
                problems.append(Problem("wrong-type", pwhere, f"{ptype} part has no image path"))
        elif ptype not in OTHER_MEDIA_PARTS:
            problems.append(
                Problem(
                    "wrong-type",
                    f"{pwhere}.type",
                    f"unknown content part type {ptype!r}",
                    f"use one of: {', '.join(TEXT_PARTS + IMAGE_PARTS)}",
                )
            )
    return "".join(texts)
