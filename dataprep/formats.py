"""Detect a record's format and normalise it to a Sample.

Without a Spec the layout is detected per record and common role spellings are accepted.
With a Spec from `dataset_info.json` the fields and role tags mean exactly what they mean to
LLaMA-Factory (dataprep/dataset_info.py), so a column or tag it would not read is not read here
either, and the problems that follow are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from dataprep.records import Problem, Record
from dataprep.sample import (
    ASSISTANT,
    FUNCTION_CALL,
    OBSERVATION,
    PROMPT_ROLES,
    SYSTEM,
    USER,
    Sample,
    Turn,
    article,
)

FORMATS = ("alpaca", "sharegpt", "openai", "trl", "pretrain")
FORMAT_ALIASES = {
    "messages": "openai",
    "llava": "sharegpt",
    "mllm": "openai",
    "dpo-alpaca": "alpaca",
    "dpo-sharegpt": "sharegpt",
    "dpo-trl": "trl",
    "text": "pretrain",
}

# Auto mode: the role spellings that the common trainers (LLaMA-Factory, Axolotl, TRL) accept.
SHAREGPT_ROLES = {
    "human": USER,
    "user": USER,
    "gpt": ASSISTANT,
    "assistant": ASSISTANT,
    "system": SYSTEM,
    "function_call": FUNCTION_CALL,
    "observation": OBSERVATION,
    "tool": OBSERVATION,
}
OPENAI_ROLES = {
    "user": USER,
    "assistant": ASSISTANT,
    "system": SYSTEM,
    "developer": SYSTEM,
    "tool": OBSERVATION,
    "function": OBSERVATION,
    "observation": OBSERVATION,
    "function_call": FUNCTION_CALL,
}
TEXT_PARTS = ("text", "reasoning", "tool_call", "input_text", "output_text")
IMAGE_PARTS = ("image", "image_url", "input_image")
OTHER_MEDIA_PARTS = ("video", "video_url", "audio", "audio_url", "input_audio")

# messages_field of a prompt taken from the shared start of chosen and rejected conversations
IMPLICIT_PROMPT = "chosen/rejected (shared prompt)"

# Anthropic HH-RLHF transcripts: "\n\nHuman: ...\n\nAssistant: ..."
_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


@dataclass(frozen=True)
class Spec:
    """How to read records: LLaMA-Factory's DatasetAttr, or a forced `--format`.

    Column values are record keys (None: the field is not read); tags map role spellings.
    """

    formatting: str  # alpaca | sharegpt | openai | trl | pretrain
    ranking: bool | None = None  # None: decided per record from the fields present
    strict: bool = False  # exact LLaMA-Factory semantics (from dataset_info.json)
    prompt: str | None = "instruction"
    query: str | None = "input"
    response: str | None = "output"
    history: str | None = "history"
    messages: str | None = None  # None: "conversations" or "messages", whichever is present
    system: str | None = "system"
    tools: str | None = "tools"
    images: str | None = "images"
    videos: str | None = "videos"
    audios: str | None = "audios"
    chosen: str | None = "chosen"
    rejected: str | None = "rejected"
    kto_tag: str | None = "label"
    role_tag: str | None = None  # None: "from" for sharegpt, "role" for openai
    content_tag: str | None = None
    role_map: dict[str, str] | None = None  # None: SHAREGPT_ROLES / OPENAI_ROLES
    origin: str = ""  # where the spec came from, for messages
    fields: dict[str, str] = field(default_factory=dict)  # role tag name -> config key, for fixes


def resolve_format(name: str) -> str | None:
    name = name.lower()
    if name in FORMATS:
        return name
    return FORMAT_ALIASES.get(name)


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


# --- alpaca -------------------------------------------------------------------------------


def _alpaca(record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]) -> Sample:
    # Written for speed: most records are clean alpaca, and this runs once per record.
    messages: list[Turn] = []
    history_key = spec.history
    if history_key in obj and obj[history_key] is not None:
        messages.extend(_history(obj[history_key], history_key, problems))
    prompt_key = spec.prompt
    instruction = obj.get(prompt_key) if prompt_key else None
    if instruction is not None and type(instruction) is not str:
        instruction = _string(obj, prompt_key, problems)
    query = obj.get(spec.query) if spec.query else None
    if query is not None and type(query) is not str:
        query = _string(obj, spec.query, problems)
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
                output = _string(obj, response_key, problems)
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
        _string(obj, spec.system, problems) if spec.system in obj else None,
        _tools(obj, spec.tools, problems) if spec.tools in obj else None,
        chosen,
        rejected,
        _images(obj, spec.images, problems) if spec.images in obj else (),
        _label(obj, spec, kind) if kind == "kto" else None,
        prompt_field,
        videos=_images(obj, spec.videos, problems, "video"),
        audios=_images(obj, spec.audios, problems, "audio"),
    )


def _history(value: Any, key: str, problems: list[Problem]) -> list[Turn]:
    if type(value) is not list:
        problems.append(
            Problem("wrong-type", key, f"{key!r} is {_type(value)}, not a list of [prompt, answer]")
        )
        return []
    turns = []
    for i, pair in enumerate(value):
        where = f"{key}[{i}]"
        if type(pair) is not list or len(pair) != 2:
            problems.append(
                Problem(
                    "wrong-type", where, f"{where} is {_type(pair)}, not a [prompt, answer] pair"
                )
            )
            continue
        for j, role in ((0, USER), (1, ASSISTANT)):
            text = pair[j]
            if text is not None and type(text) is not str:
                problems.append(
                    Problem("wrong-type", f"{where}[{j}]", f"is {_type(text)}, not text")
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
        return (_message(value, key, "from" if "from" in value else "role", None, None, problems),)
    return (Turn(ASSISTANT, _string(obj, key, problems), key),)


# --- sharegpt / openai --------------------------------------------------------------------


def _conversation(
    record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]
) -> Sample | None:
    layout = spec.formatting
    key = spec.messages or (
        "conversations"
        if "conversations" in obj or ("messages" not in obj and layout == "sharegpt")
        else "messages"
    )
    role_tag = spec.role_tag or ("from" if layout == "sharegpt" else "role")
    content_tag = spec.content_tag or ("value" if layout == "sharegpt" else "content")
    roles = spec.role_map or (SHAREGPT_ROLES if layout == "sharegpt" else OPENAI_ROLES)
    if key not in obj:
        problems.append(Problem("missing-field", key, f"no {key!r} list of messages"))
        return None
    raw = obj[key]
    if type(raw) is not list:
        problems.append(
            Problem("wrong-type", key, f"{key!r} is {_type(raw)}, not a list of messages")
        )
        return None
    images = list(_images(obj, spec.images, problems))
    if "image" in obj and spec.images == "images" and not spec.strict:  # original LLaVA layout
        images.extend(_images(obj, "image", problems))
    turns = [
        _message(m, f"{key}[{i}]", role_tag, content_tag, roles, problems, images, spec)
        for i, m in enumerate(raw)
    ]
    system = None
    if turns and turns[0].role == SYSTEM and turns[0].known:
        system = turns[0].content
    elif spec.system and spec.system in obj:
        system = _string(obj, spec.system, problems)
    chosen: tuple[Turn, ...] = ()
    rejected: tuple[Turn, ...] = ()
    if kind == "dpo":
        chosen = _preference_answer(obj, spec.chosen, role_tag, content_tag, roles, spec, problems)
        rejected = _preference_answer(
            obj, spec.rejected, role_tag, content_tag, roles, spec, problems
        )
    return Sample(
        record.source,
        record.line,
        record.index,
        layout,
        kind,
        tuple(turns),
        system=system,
        tools=_tools(obj, spec.tools, problems),
        chosen=chosen,
        rejected=rejected,
        images=tuple(images),
        label=_label(obj, spec, kind),
        messages_field=key,
        images_field="image" if "image" in obj and spec.images not in obj else "images",
        videos=_images(obj, spec.videos, problems, "video"),
        audios=_images(obj, spec.audios, problems, "audio"),
    )


def _preference_answer(
    obj: dict,
    key: str | None,
    role_tag: str,
    content_tag: str,
    roles: dict[str, str],
    spec: Spec,
    problems: list[Problem],
) -> tuple[Turn, ...]:
    if not key or key not in obj:
        problems.append(Problem("missing-field", key, f"no {key!r} answer in a preference record"))
        return ()
    value = obj[key]
    if type(value) is dict:
        return (_message(value, key, role_tag, content_tag, roles, problems, None, spec),)
    if type(value) is str and not spec.strict:  # MedicalGPT-style: the answer text itself
        return (Turn(ASSISTANT, value, key),)
    if type(value) is list and not spec.strict:
        return tuple(
            _message(m, f"{key}[{i}]", role_tag, content_tag, roles, problems)
            for i, m in enumerate(value)
        )
    expected = f"a {{{role_tag}, {content_tag}}} message"
    problems.append(Problem("wrong-type", key, f"{key!r} is {_type(value)}, not {expected}"))
    return ()


def _message(
    msg: Any,
    where: str,
    role_tag: str,
    content_tag: str | None,
    roles: dict[str, str] | None,
    problems: list[Problem],
    images: list[str] | None = None,
    spec: Spec | None = None,
) -> Turn:
    if type(msg) is not dict:
        problems.append(
            Problem("wrong-type", where, f"{where} is {_type(msg)}, not a message object")
        )
        return Turn("?", None, where, known=False)
    if roles is None:
        roles = SHAREGPT_ROLES if role_tag == "from" else OPENAI_ROLES
    if content_tag is None:
        content_tag = "value" if role_tag == "from" else "content"
    tag = msg.get(role_tag)
    if tag is None:
        problems.append(
            Problem("missing-field", f"{where}.{role_tag}", f"message has no {role_tag!r}")
        )
        return Turn("?", None, f"{where}.{content_tag}", known=False)
    if type(tag) is not str:
        problems.append(
            Problem("wrong-type", f"{where}.{role_tag}", f"role is {_type(tag)}, not a string")
        )
        return Turn("?", None, f"{where}.{content_tag}", known=False)
    role = roles.get(tag)
    if role is None:
        problems.append(
            Problem(
                "invalid-role",
                f"{where}.{role_tag}",
                f"role {tag!r} is not one the trainer maps (known: {', '.join(roles)})",
                _role_fix(tag, roles, spec),
            )
        )
    cfield = f"{where}.{content_tag}"
    if content_tag not in msg:
        if role == ASSISTANT and msg.get("tool_calls"):
            return Turn(FUNCTION_CALL, _dumps(msg["tool_calls"]), f"{where}.tool_calls")
        problems.append(Problem("missing-field", cfield, f"message has no {content_tag!r}"))
        return Turn(role or tag, None, cfield, known=role is not None)
    content = msg[content_tag]
    if role == ASSISTANT and msg.get("tool_calls") and not content:
        return Turn(FUNCTION_CALL, _dumps(msg["tool_calls"]), f"{where}.tool_calls")
    calls: list = []
    thoughts: list[str] = []
    text = _content_text(content, cfield, problems, images, calls, thoughts)
    found = _dumps(calls) if calls and role == ASSISTANT else None
    reasoning = "".join(thoughts) if thoughts else None
    if "reasoning_content" in msg:
        value = msg["reasoning_content"]
        if type(value) is str:
            reasoning = value if reasoning is None else reasoning + value
        elif value is not None:
            problems.append(
                Problem(
                    "wrong-type",
                    f"{where}.reasoning_content",
                    f"reasoning_content is {_type(value)}, not text",
                )
            )
    return Turn(role or tag, text, cfield, known=role is not None, calls=found, reasoning=reasoning)


def _role_fix(tag: str, roles: dict[str, str], spec: Spec | None) -> str:
    if spec is not None and spec.strict:
        # A role LLaMA-Factory would know by default, unmapped because the tags block omits it.
        for tag_key, default in (
            ("system_tag", "system"),
            ("observation_tag", "observation"),
            ("function_tag", "function_call"),
            ("user_tag", "human"),
            ("assistant_tag", "gpt"),
        ):
            if tag == default and tag_key not in spec.fields.values():
                return (
                    f"{spec.origin}: the tags block omits {tag_key}, so no role maps to {tag!r}; "
                    f'add "{tag_key}": "{tag}" to tags'
                )
        return f"{spec.origin}: map {tag!r} in the tags block, or rename the role in the data"
    canonical: dict[str, str] = {}
    for spelling, role in roles.items():
        canonical.setdefault(role, spelling)  # the format's own spelling comes first
    return (
        f"rename the role to one of {', '.join(roles)} "
        f"(assistant turns: {canonical.get(ASSISTANT, 'assistant')!r})"
    )


def _content_text(
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
                "wrong-type", where, f"content is {_type(content)}, not text or a list of parts"
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
                    "wrong-type", pwhere, f"{pwhere} is {_type(part)}, not a typed content part"
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
                texts.append(_dumps(value))
            else:
                problems.append(
                    Problem("wrong-type", pwhere, f"{ptype} part has {_type(value)} text")
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


# --- TRL ----------------------------------------------------------------------------------


def _trl(record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]) -> Sample:
    prompt: list[Turn] = []
    chosen: tuple[Turn, ...] = ()
    rejected: tuple[Turn, ...] = ()
    field = "prompt"
    if "chosen_messages" in obj or "rejected_messages" in obj:  # LLaMA-Factory v1 preference
        c = _trl_messages(obj, "chosen_messages", problems)
        r = _trl_messages(obj, "rejected_messages", problems)
        prompt, chosen, rejected = _split_implicit(c, r, "chosen_messages", problems)
        field = IMPLICIT_PROMPT
    elif "prompt" in obj:
        prompt = list(_trl_messages(obj, "prompt", problems, default_role=USER))
        if kind == "dpo":
            chosen = _trl_messages(obj, "chosen", problems)
            rejected = _trl_messages(obj, "rejected", problems)
        else:
            completion = _trl_messages(obj, "completion", problems)
            prompt.extend(completion)
    else:  # implicit prompt: chosen and rejected are whole conversations that share the prompt
        c = _trl_messages(obj, "chosen", problems, transcript=True)
        r = _trl_messages(obj, "rejected", problems, transcript=True)
        prompt, chosen, rejected = _split_implicit(c, r, "chosen", problems)
        field = IMPLICIT_PROMPT
    return Sample(
        record.source,
        record.line,
        record.index,
        "trl",
        kind,
        tuple(prompt),
        system=None,
        tools=_tools(obj, "tools", problems),
        chosen=chosen,
        rejected=rejected,
        images=_images(obj, "images", problems),
        label=obj.get("label") if kind == "kto" else None,
        messages_field=field,
        videos=_images(obj, "videos", problems, "video"),
        audios=_images(obj, "audios", problems, "audio"),
    )


def _trl_messages(
    obj: dict,
    key: str,
    problems: list[Problem],
    default_role: str = ASSISTANT,
    transcript: bool = False,
) -> tuple[Turn, ...]:
    if key not in obj:
        problems.append(Problem("missing-field", key, f"no {key!r}"))
        return ()
    value = obj[key]
    if type(value) is str:
        if transcript and _HH_TURN.search(value):
            return _hh_transcript(value, key)
        return (Turn(default_role, value, key),)
    if type(value) is list:
        return tuple(
            _message(m, f"{key}[{i}]", "role", "content", None, problems)
            for i, m in enumerate(value)
        )
    if value is None:
        return (Turn(default_role, None, key),)
    problems.append(Problem("wrong-type", key, f"{key!r} is {_type(value)}, not text or messages"))
    return ()


def _hh_transcript(text: str, key: str) -> tuple[Turn, ...]:
    """Split an Anthropic HH-RLHF transcript into turns."""
    turns = []
    marks = list(_HH_TURN.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        role = USER if m.group(1) == "Human" else ASSISTANT
        turns.append(Turn(role, text[m.end() : end], f"{key} (turn {i + 1})"))
    return tuple(turns)


def _split_implicit(
    chosen: tuple[Turn, ...], rejected: tuple[Turn, ...], key: str, problems: list[Problem]
) -> tuple[list[Turn], tuple[Turn, ...], tuple[Turn, ...]]:
    """Shared prompt and the two final answers of two whole conversations.

    The prompt checks of prompt-mismatch happen here, once, because only here is it known
    whether the two sides share their prompt at all.
    """
    if not chosen or not rejected:
        return [], chosen, rejected
    prompt_c, prompt_r = chosen[:-1], rejected[:-1]
    differ = next(
        (
            i
            for i, (a, b) in enumerate(zip(prompt_c, prompt_r, strict=False))
            if a.role != b.role or a.content != b.content
        ),
        None if len(prompt_c) == len(prompt_r) else min(len(prompt_c), len(prompt_r)),
    )
    if differ is not None:
        problems.append(
            Problem(
                "prompt-mismatch",
                key,
                f"chosen and rejected conversations differ before their final answers "
                f"(first at turn {differ + 1})",
                "both sides must share the same prompt turns; only the last answer may differ",
            )
        )
    elif prompt_c and prompt_c[-1].known and prompt_c[-1].role not in PROMPT_ROLES:
        problems.append(
            Problem(
                "prompt-mismatch",
                prompt_c[-1].field,
                f"the shared prompt ends on {article(prompt_c[-1].role)} turn, not the user",
                "end both conversations with a user turn followed by one answer",
            )
        )
    return list(prompt_c), chosen[-1:], rejected[-1:]


# --- pre-training text --------------------------------------------------------------------


def _pretrain(record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]) -> Sample:
    key = spec.prompt if spec.strict and spec.prompt else "text"
    text = _string(obj, key, problems)
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


# --- shared field readers -----------------------------------------------------------------


def _string(obj: dict, key: str | None, problems: list[Problem]) -> str | None:
    if not key:
        return None
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    problems.append(Problem("wrong-type", key, f"{key!r} is {_type(value)}, not text"))
    # A number still reads as text (`42`), so later checks do not also call it empty.
    return str(value) if type(value) in (int, float, bool) else None


def _tools(obj: dict, key: str | None, problems: list[Problem]) -> str | None:
    if not key or key not in obj:
        return None
    value = obj[key]
    if value is None or type(value) is str:
        return value
    if type(value) in (list, dict):
        return _dumps(value)
    problems.append(Problem("wrong-type", key, f"{key!r} is {_type(value)}, not a tool list"))
    return None


def _images(
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
            problems.append(Problem("wrong-type", where, f"{noun} is {_type(item)}, not a path"))
    return tuple(paths)


def _label(obj: dict, spec: Spec, kind: str) -> bool | None:
    if kind != "kto" or not spec.kto_tag:
        return None
    value = obj.get(spec.kto_tag)
    return value if type(value) is bool else None


def _type(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_READERS = {
    "alpaca": _alpaca,
    "sharegpt": _conversation,
    "openai": _conversation,
    "trl": _trl,
    "pretrain": _pretrain,
}
_AUTO = {name: Spec(formatting=name) for name in FORMATS}
