"""Conversations as Samples: sharegpt and OpenAI message lists (SFT and preference), TRL's
prompt/chosen/rejected layouts (conversational, plain text, implicit prompts) and Anthropic
HH-RLHF transcripts.

Role tags follow the Spec: without one, the spellings the common trainers accept
(`SHAREGPT_ROLES`, `OPENAI_ROLES`); with one from dataset_info.json, exactly LLaMA-Factory's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from dataprep.spec import Spec

from dataprep import fields

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

# messages_field of a prompt taken from the shared start of chosen and rejected conversations
IMPLICIT_PROMPT = "chosen/rejected (shared prompt)"

# Anthropic HH-RLHF transcripts: "\n\nHuman: ...\n\nAssistant: ..."
_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def conversation(
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
            Problem(
                "wrong-type", key, f"{key!r} is {fields.type_name(raw)}, not a list of messages"
            )
        )
        return None
    images = list(fields.images(obj, spec.images, problems))
    if "image" in obj and spec.images == "images" and not spec.strict:  # original LLaVA layout
        images.extend(fields.images(obj, "image", problems))
    turns = [
        message(m, f"{key}[{i}]", role_tag, content_tag, roles, problems, images, spec)
        for i, m in enumerate(raw)
    ]
    system = None
    if turns and turns[0].role == SYSTEM and turns[0].known:
        system = turns[0].content
    elif spec.system and spec.system in obj:
        system = fields.string(obj, spec.system, problems)
    chosen: tuple[Turn, ...] = ()
    rejected: tuple[Turn, ...] = ()
    if kind == "dpo":
        chosen = preference_answer(obj, spec.chosen, role_tag, content_tag, roles, spec, problems)
        rejected = preference_answer(
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
        tools=fields.tools(obj, spec.tools, problems),
        chosen=chosen,
        rejected=rejected,
        images=tuple(images),
        label=fields.label(obj, spec, kind),
        messages_field=key,
        images_field="image" if "image" in obj and spec.images not in obj else "images",
        videos=fields.images(obj, spec.videos, problems, "video"),
        audios=fields.images(obj, spec.audios, problems, "audio"),
    )


def preference_answer(
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
        return (message(value, key, role_tag, content_tag, roles, problems, None, spec),)
    if type(value) is str and not spec.strict:  # MedicalGPT-style: the answer text itself
        return (Turn(ASSISTANT, value, key),)
    if type(value) is list and not spec.strict:
        return tuple(
            message(m, f"{key}[{i}]", role_tag, content_tag, roles, problems)
            for i, m in enumerate(value)
        )
    expected = f"a {{{role_tag}, {content_tag}}} message"
    problems.append(
        Problem("wrong-type", key, f"{key!r} is {fields.type_name(value)}, not {expected}")
    )
    return ()


def message(
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
            Problem(
                "wrong-type", where, f"{where} is {fields.type_name(msg)}, not a message object"
            )
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
            Problem(
                "wrong-type",
                f"{where}.{role_tag}",
                f"role is {fields.type_name(tag)}, not a string",
            )
        )
        return Turn("?", None, f"{where}.{content_tag}", known=False)
    role = roles.get(tag)
    if role is None:
        problems.append(
            Problem(
                "invalid-role",
                f"{where}.{role_tag}",
                f"role {tag!r} is not one the trainer maps (known: {', '.join(roles)})",
                role_fix(tag, roles, spec),
            )
        )
    cfield = f"{where}.{content_tag}"
    if content_tag not in msg:
        if role == ASSISTANT and msg.get("tool_calls"):
            return Turn(FUNCTION_CALL, fields.dumps(msg["tool_calls"]), f"{where}.tool_calls")
        problems.append(Problem("missing-field", cfield, f"message has no {content_tag!r}"))
        return Turn(role or tag, None, cfield, known=role is not None)
    content = msg[content_tag]
    if role == ASSISTANT and msg.get("tool_calls") and not content:
        return Turn(FUNCTION_CALL, fields.dumps(msg["tool_calls"]), f"{where}.tool_calls")
    calls: list = []
    thoughts: list[str] = []
    text = fields.content_text(content, cfield, problems, images, calls, thoughts)
    found = fields.dumps(calls) if calls and role == ASSISTANT else None
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
                    f"reasoning_content is {fields.type_name(value)}, not text",
                )
            )
    return Turn(role or tag, text, cfield, known=role is not None, calls=found, reasoning=reasoning)


def role_fix(tag: str, roles: dict[str, str], spec: Spec | None) -> str:
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


def trl(record: Record, obj: dict, spec: Spec, kind: str, problems: list[Problem]) -> Sample:
    prompt: list[Turn] = []
    chosen: tuple[Turn, ...] = ()
    rejected: tuple[Turn, ...] = ()
    field = "prompt"
    if "chosen_messages" in obj or "rejected_messages" in obj:  # LLaMA-Factory v1 preference
        c = trl_messages(obj, "chosen_messages", problems)
        r = trl_messages(obj, "rejected_messages", problems)
        prompt, chosen, rejected = split_implicit(c, r, "chosen_messages", problems)
        field = IMPLICIT_PROMPT
    elif "prompt" in obj:
        prompt = list(trl_messages(obj, "prompt", problems, default_role=USER))
        if kind == "dpo":
            chosen = trl_messages(obj, "chosen", problems)
            rejected = trl_messages(obj, "rejected", problems)
        else:
            completion = trl_messages(obj, "completion", problems)
            prompt.extend(completion)
    else:  # implicit prompt: chosen and rejected are whole conversations that share the prompt
        c = trl_messages(obj, "chosen", problems, transcript=True)
        r = trl_messages(obj, "rejected", problems, transcript=True)
        prompt, chosen, rejected = split_implicit(c, r, "chosen", problems)
        field = IMPLICIT_PROMPT
    return Sample(
        record.source,
        record.line,
        record.index,
        "trl",
        kind,
        tuple(prompt),
        system=None,
        tools=fields.tools(obj, "tools", problems),
        chosen=chosen,
        rejected=rejected,
        images=fields.images(obj, "images", problems),
        label=obj.get("label") if kind == "kto" else None,
        messages_field=field,
        videos=fields.images(obj, "videos", problems, "video"),
        audios=fields.images(obj, "audios", problems, "audio"),
    )


def trl_messages(
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
            return hh_transcript(value, key)
        return (Turn(default_role, value, key),)
    if type(value) is list:
        return tuple(
            message(m, f"{key}[{i}]", "role", "content", None, problems)
            for i, m in enumerate(value)
        )
    if value is None:
        return (Turn(default_role, None, key),)
    problems.append(
        Problem("wrong-type", key, f"{key!r} is {fields.type_name(value)}, not text or messages")
    )
    return ()


def hh_transcript(text: str, key: str) -> tuple[Turn, ...]:
    """Split an Anthropic HH-RLHF transcript into turns."""
    turns = []
    marks = list(_HH_TURN.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        role = USER if m.group(1) == "Human" else ASSISTANT
        turns.append(Turn(role, text[m.end() : end], f"{key} (turn {i + 1})"))
    return tuple(turns)


def split_implicit(
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
