"""Sample: the one normalised view of a record, whatever format it came in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

# Canonical roles, as LLaMA-Factory names them after alignment.
SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
FUNCTION_CALL, OBSERVATION = "function_call", "observation"
ROLES = (SYSTEM, USER, ASSISTANT, FUNCTION_CALL, OBSERVATION)
PROMPT_ROLES = (USER, OBSERVATION)  # turns the model reads
ANSWER_ROLES = (ASSISTANT, FUNCTION_CALL)  # turns the model learns to write
# Turns read or written as language; tool calls and tool results carry raw data (a fetched
# page) that content rules leave alone.
TEXT_ROLES = (USER, ASSISTANT, SYSTEM)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message. `role` is canonical, or the record's own tag when `known` is False."""

    role: str
    content: str | None
    field: str  # where the content lives in the record, e.g. "conversations[3].value"
    known: bool = True
    # The tool calls of an assistant turn whose typed parts (LLaMA-Factory v1) include
    # `tool_call` parts, as JSON (a list): the tool checks read them; the text keeps them too.
    calls: str | None = None
    # The reasoning an answer carries beside its text: LLaMA-Factory v1 `reasoning` parts or a
    # message's `reasoning_content` (what chat templates render as a think block). Reasoning
    # written inline as `<think>...</think>` stays in `content`, as the data has it.
    reasoning: str | None = None


@dataclass(frozen=True)  # no slots: cached_property keeps derived views in __dict__
class Sample:
    """What training would see of one record.

    `messages` is the whole conversation for SFT and KTO, and the prompt for preference data,
    whose answers are `chosen` and `rejected` (usually one assistant turn each).
    """

    source: str
    line: int
    index: int
    format: str  # alpaca | sharegpt | openai | trl | pretrain
    kind: str  # sft | dpo | kto | pretrain
    messages: tuple[Turn, ...]
    system: str | None = None
    tools: str | None = None
    chosen: tuple[Turn, ...] = ()
    rejected: tuple[Turn, ...] = ()
    images: tuple[str, ...] = ()
    label: bool | None = None  # KTO: desirable or not
    messages_field: str = "messages"
    images_field: str = "images"  # "image" in the original LLaVA layout
    videos: tuple[str, ...] = ()  # LLaMA-Factory's `videos` and `audios` columns, as written
    audios: tuple[str, ...] = ()

    # Derived once per record: many checks ask for the same views.
    @cached_property
    def answer_turns(self) -> list[Turn]:
        found = [t for t in self.messages if t.role == ASSISTANT and t.known]
        if self.kind == "dpo":
            found.extend(t for t in self.chosen + self.rejected if t.role == ASSISTANT)
        return found

    @cached_property
    def prompt_turns(self) -> list[Turn]:
        return [t for t in self.messages if t.role == USER and t.known]

    @cached_property
    def media_parts(self) -> list[str]:
        """The record's images, videos and audios as key parts: two questions about two
        different pictures or clips are two records, not a duplicate."""
        return [*(f"image\x1e{ref}" for ref in self.images),
                *(f"video\x1e{ref}" for ref in self.videos),
                *(f"audio\x1e{ref}" for ref in self.audios)]  # fmt: skip

    @cached_property
    def content_key(self) -> bytes:
        """Everything training sees of the record, whitespace-normalised, hashed."""
        parts = [_squeeze(self.system), *self.media_parts]
        for group in (self.messages, self.chosen, self.rejected):
            parts.extend(f"{t.role}\x1e{_reasoned(t)}{_squeeze(t.content)}" for t in group)
            parts.append("\x1d")
        data = "\x1f".join(parts).encode("utf-8", "replace")
        return hashlib.blake2b(data, digest_size=12).digest()


def _squeeze(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _reasoned(turn: Turn) -> str:
    """A turn's separate reasoning as a key prefix ("" without one): the same reply reached by
    different reasoning is a different record to train on."""
    return "" if turn.reasoning is None else f"{_squeeze(turn.reasoning)}\x1c"


def article(role: str) -> str:
    """`a user`, `an assistant`, `an observation`: for messages."""
    return f"{'an' if role[:1] in 'aeio' else 'a'} {role}"


def answers(sample: Sample) -> list[Turn]:
    """The turns the model learns to write: assistant turns, and both sides of a pair."""
    return sample.answer_turns


def prompts(sample: Sample) -> list[Turn]:
    """The user turns the model reads."""
    return sample.prompt_turns


def answer_for(sample: Sample, turn: Turn) -> Turn | None:
    """The user turn a given answer responds to (the closest one before it)."""
    if turn in sample.chosen or turn in sample.rejected:
        users = prompts(sample)
        return users[-1] if users else None
    last = None
    for t in sample.messages:
        if t is turn:
            return last
        if t.role == USER and t.known:
            last = t
    return None
