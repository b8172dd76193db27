"""Detect a record's format and normalise it to a Sample.

Without a Spec the layout is detected per record and common role spellings are accepted.
With a Spec from `dataset_info.json` the fields and role tags mean exactly what they mean to
LLaMA-Factory (dataprep/dataset_info.py), so a column or tag it would not read is not read here
either, and the problems that follow are reported.
"""

from __future__ import annotations

from typing import Any

from dataprep import fields, messages
from dataprep.messages import IMPLICIT_PROMPT  # noqa: F401  (the public name)
from dataprep.records import Problem, Record
from dataprep.sample import (
    ASSISTANT,
    USER,
    Sample,
    Turn,
)
from dataprep.spec import FORMAT_ALIASES, FORMATS, Spec, resolve_format  # noqa: F401


def detect(obj: dict) -> tuple[str, str]:
    """(format, kind) of a record from the fields it has."""
    if "conversations" in obj or "messages" in obj:
        key = "conversations" if "conversations" in obj else "messages"
        msgs = obj[key]
        first = msgs[0] if type(msgs) is list and msgs and type(msgs[0]) is dict else None
        if first is not None and "from" in first:
            layout = "sharegpt"
        elif first is not None and "role" in first:
            layout = "openai"
        else:
            layout = "sharegpt" if key == "conversations" else "openai"
        if "chosen" in obj or "rejected" in obj:
            return layout, "dpo"
        if type(obj.get("label")) is bool:
            return layout, "kto"
        return layout, "sft"
    if "chosen" in obj or "rejected" in obj or "chosen_messages" in obj:
        if "instruction" in obj:
            return "alpaca", "dpo"
        return "trl", "dpo"
    if "instruction" in obj or "output" in obj:
        return "alpaca", "kto" if type(obj.get("label")) is bool and "output" in obj else "sft"
    if "prompt" in obj and "completion" in obj:
        return "trl", "kto" if type(obj.get("label")) is bool else "sft"
    if "text" in obj and len(obj) <= 3 and type(obj["text"]) is str:
        return "pretrain", "pretrain"
    return "", ""


def normalise(record: Record, spec: Spec | None) -> tuple[Sample | None, list[Problem]]:
    """The Sample for a parsed record, and the schema problems met on the way.

    Returns no Sample when the record cannot be read as a conversation at all (not an object,
    unknown format, no message list); the problems then say why.
    """
    obj = record.value
    if type(obj) is not dict:
        what = type(obj).__name__ if obj is not None else "null"
        what = {"list": "an array", "str": "a string", "int": "a number", "float": "a number"}.get(
            what, what
        )
        return None, [Problem("not-an-object", None, f"the record is {what}, not a JSON object")]
    if spec is None:
        layout, kind = detect(obj)
        if not layout:
            keys = ", ".join(list(obj)[:8]) or "no keys"
            return None, [
                Problem("unknown-format", None, f"no known format has these fields: {keys}")
            ]
        spec = _AUTO[layout]
    else:
        layout = spec.formatting
        kind = _kind_for(obj, spec)
    problems: list[Problem] = []
    reader = _READERS[layout]
    sample = reader(record, obj, spec, kind, problems)
    return sample, problems


def _kind_for(obj: dict, spec: Spec) -> str:
    if spec.formatting == "pretrain":
        return "pretrain"
    if spec.strict and spec.formatting == "alpaca" and not spec.response and not spec.ranking:
        return "pretrain"  # LLaMA-Factory's `"columns": {"prompt": "text"}` pre-training entries
    if spec.ranking or (spec.ranking is None and ("chosen" in obj or "chosen_messages" in obj)):
        return "dpo"
    if spec.kto_tag and type(obj.get(spec.kto_tag)) is bool:
        return "kto"
    return "sft"


def _alpaca(record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]) -> Sample:
    # Written for speed: most records are clean alpaca, and this runs once per record.
    messages: list[Turn] = []
    history_key = spec.history
    if history_key in obj and obj[history_key] is not None:
        messages.extend(_history(obj[history_key], history_key, problems))
    prompt_key = spec.prompt
    instruction = obj.get(prompt_key) if prompt_key else None
    if instruction is not None and type(instruction) is not str:
        instruction = fields.string(obj, prompt_key, problems)
    query = obj.get(spec.query) if spec.query else None
    if query is not None and type(query) is not str:
        query = fields.string(obj, spec.query, problems)
    if prompt_key and prompt_key not in obj and not query:
        problems.append(
            Problem("missing-field", prompt_key, f"no {prompt_key!r}: the record has no prompt")
        )
    # LLaMA-Factory joins the non-empty parts with a newline.
    content = f"{instruction}\n{query}" if instruction and query else (instruction or query or "")
    prompt_field = prompt_key or spec.query or "instruction"
    messages.append(Turn(USER, content, prompt_field))
    chosen: tuple[Turn, ...] = ()
    rejected: tuple[Turn, ...] = ()
    response_key = spec.response
    if kind == "dpo":
        chosen = _answer_string(obj, spec.chosen, problems)
        rejected = _answer_string(obj, spec.rejected, problems)
    elif response_key and kind != "pretrain":
        if response_key in obj:
            output = obj[response_key]
            if output is not None and type(output) is not str:
                output = fields.string(obj, response_key, problems)
            messages.append(Turn(ASSISTANT, output, response_key))
        else:
            problems.append(
                Problem("missing-field", response_key, f"no {response_key!r}: nothing to learn")
            )
    return Sample(
        record.source,
        record.line,
        record.index,
        "alpaca",
        kind,
        tuple(messages),
        fields.string(obj, spec.system, problems) if spec.system in obj else None,
        fields.tools(obj, spec.tools, problems) if spec.tools in obj else None,
        chosen,
        rejected,
        fields.images(obj, spec.images, problems) if spec.images in obj else (),
        fields.label(obj, spec, kind) if kind == "kto" else None,
        prompt_field,
        videos=fields.images(obj, spec.videos, problems, "video"),
        audios=fields.images(obj, spec.audios, problems, "audio"),
    )


def _history(value: Any, key: str, problems: list[Problem]) -> list[Turn]:
    if type(value) is not list:
        problems.append(
            Problem(
                "wrong-type",
                key,
                f"{key!r} is {fields.type_name(value)}, not a list of [prompt, answer]",
            )
        )
        return []
    turns = []
    for i, pair in enumerate(value):
        where = f"{key}[{i}]"
        if type(pair) is not list or len(pair) != 2:
            problems.append(
                Problem(
                    "wrong-type",
                    where,
                    f"{where} is {fields.type_name(pair)}, not a [prompt, answer] pair",
                )
            )
            continue
        for j, role in ((0, USER), (1, ASSISTANT)):
            text = pair[j]
            if text is not None and type(text) is not str:
                problems.append(
                    Problem("wrong-type", f"{where}[{j}]", f"is {fields.type_name(text)}, not text")
                )
                text = None
            turns.append(Turn(role, text, f"{where}[{j}]"))
    return turns


def _answer_string(obj: dict, key: str | None, problems: list[Problem]) -> tuple[Turn, ...]:
    if not key or key not in obj:
        problems.append(Problem("missing-field", key, f"no {key!r} answer in a preference record"))
        return ()
    value = obj[key]
    if type(value) is dict:  # sharegpt-style message dict, as in LLaMA-Factory's sharegpt ranking
        return (
            messages.message(
                value, key, "from" if "from" in value else "role", None, None, problems
            ),
        )
    return (Turn(ASSISTANT, fields.string(obj, key, problems), key),)


def _pretrain(record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]) -> Sample:
    key = spec.prompt if spec.strict and spec.prompt else "text"
    text = fields.string(obj, key, problems)
    if key not in obj:
        problems.append(Problem("missing-field", key, f"no {key!r} text"))
    return Sample(
        record.source,
        record.line,
        record.index,
        "pretrain",
        "pretrain",
        (Turn(ASSISTANT, text, key),),
        messages_field=key,
    )


_READERS = {
    "alpaca": _alpaca,
    "sharegpt": messages.conversation,
    "openai": messages.conversation,
    "trl": messages.trl,
    "pretrain": _pretrain,
}
_AUTO = {name: Spec(formatting=name) for name in FORMATS}
