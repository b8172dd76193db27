r"""An answer that is empty, whitespace only, zero-width characters only, or null.

Why it hurts training:
    The model is trained to produce nothing: it learns to stop at once, or (with a chat
    template) to emit only the end-of-turn token. A few such records teach a model to give up;
    in DPO an empty chosen or rejected answer makes the pair meaningless.

Bad:
    {"instruction": "Describe a sunset.", "input": "", "output": ""}
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "\u200b"}]}

Good:
    {"instruction": "Describe a sunset.", "input": "", "output": "The sky turns orange, then violet."}

Options:
    None.

Fix:
    Write the missing answer, or drop the record (`dataprep clean` rejects it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import Sample, answers
from dataprep.text import is_blank

CODE = "CT01"
NAME = "empty-output"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto", "pretrain")


@dataclass(frozen=True)
class Options:
    pass


def prefilter(opts: Options):
    from dataprep import columns as col

    return col.is_answer & col.blank()


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        if is_blank(turn.content):
            what = "null" if turn.content is None else "empty" if not turn.content else "blank"
            yield Hit(
                turn.field,
                f"the answer is {what}" + (f" ({turn.content!r})" if turn.content else ""),
                "write the answer, or drop the record",
            )
