"""How to read records, named before any record is read: the format names and their aliases,
and the Spec (LLaMA-Factory's DatasetAttr, or a forced `--input-format`). Light on purpose:
a cached `dataprep build` and every command's parser need these, not the normalisers of
`dataprep.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
