r"""A prompt (user turn, or alpaca instruction plus input) that is empty or blank.

Why it hurts training:
    The model learns to answer a question nobody asked: it starts producing text without a
    prompt, which shows up as unprompted rambling after an end-of-turn. Scraped chats with an
    empty first turn and alpaca records whose instruction was lost are the usual source.

Bad:
    {"instruction": "", "input": "", "output": "Paris is the capital of France."}
    {"conversations": [{"from": "human", "value": " "}, {"from": "gpt", "value": "Hello!"}]}

Good:
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris."}

Options:
    None.

Fix:
    Restore the prompt from the source, or drop the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import Sample, prompts
from dataprep.text import is_blank

CODE = "CT02"
NAME = "empty-instruction"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto")


@dataclass(frozen=True)
class Options:
    pass


def prefilter(opts: Options):
    from dataprep import columns as col

    return col.is_prompt & col.blank()


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in prompts(sample):
        if is_blank(turn.content):
            yield Hit(turn.field, "the prompt is empty", "restore the prompt, or drop the record")
