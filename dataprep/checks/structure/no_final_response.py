"""A conversation that ends on a user turn: its last question has no answer.

Why it hurts training:
    Supervised fine-tuning learns from assistant turns. LLaMA-Factory drops a conversation
    with an odd number of turns entirely ("Invalid message count"), so every earlier answer in
    it is lost too; other trainers train on it with the last question unanswered. Scraped chats
    where only the prompts were kept are the usual source.

Bad:
    {"conversations": [{"from": "human", "value": "Write a haiku about rain."}]}

Good:
    {"conversations": [{"from": "human", "value": "Write a haiku about rain."}, {"from": "gpt", "value": "Soft rain on the roof..."}]}

Options:
    None.

Fix:
    Add the missing answer, or remove the unanswered last turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import ANSWER_ROLES, SYSTEM, Sample, article

CODE = "ST04"
NAME = "no-final-response"
FORMATS = ("sharegpt", "openai", "trl")
KINDS = ("sft", "kto")


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    turns = [t for t in sample.messages if t.role != SYSTEM]
    if not turns or not turns[-1].known or turns[-1].role in ANSWER_ROLES:
        return
    last = turns[-1]
    yield Hit(
        last.field,
        f"the conversation ends on {article(last.role)} turn, with no answer to learn from",
        "add the missing answer, or remove the unanswered last turn",
    )
