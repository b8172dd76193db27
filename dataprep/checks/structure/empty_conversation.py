"""A conversation with no turns (or only a system prompt).

Why it hurts training:
    There is nothing to learn: the record costs a slot in every batch and, in LLaMA-Factory,
    is dropped during preprocessing with only a log line. It usually marks a failed scrape or
    an export that lost its messages.

Bad:
    {"conversations": []}
    {"messages": [{"role": "system", "content": "You are helpful."}]}

Good:
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}

Options:
    None.

Fix:
    Restore the turns from the source, or drop the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import SYSTEM, Sample

CODE = "ST01"
NAME = "empty-conversation"
FORMATS = ("sharegpt", "openai", "trl")
KINDS = ("sft", "dpo", "kto")


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    if any(t.role != SYSTEM for t in sample.messages):
        return
    only = " (only a system prompt)" if sample.messages else ""
    what = "prompt" if sample.kind == "dpo" else "conversation"
    yield Hit(
        sample.messages_field,
        f"the {what} has no turns{only}",
        "restore the turns from the source, or drop the record",
    )
