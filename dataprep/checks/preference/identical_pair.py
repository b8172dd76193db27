r"""A preference pair whose chosen and rejected answers are the same text.

Why it hurts training:
    DPO learns from the difference between the two answers; with none, the pair adds noise to
    the loss and teaches nothing (LLaMA-Factory trains on it without a word). Usually a
    generation or merge bug: the rejected column was filled from the chosen one. Compared after
    Unicode (NFKC), case and whitespace normalisation, so `Paris.` and ` paris. ` are the same.

Bad:
    {"instruction": "Capital of France?", "input": "", "chosen": "Paris.", "rejected": "Paris."}
    {"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "Hello!"}, "rejected": {"from": "gpt", "value": " hello! "}}

Good:
    {"instruction": "Capital of France?", "input": "", "chosen": "Paris.", "rejected": "Lyon."}

Options:
    None.

Fix:
    Regenerate the rejected answer (or the chosen one), or drop the pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.preference import pair, shorten
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "PR01"
NAME = "identical-pair"
FORMATS = ("*",)
KINDS = ("dpo",)


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    found = pair(sample)
    if found is None:
        return
    chosen, rejected, _, rejected_field = found
    if chosen == rejected:
        yield Hit(
            rejected_field,
            f"chosen and rejected are the same text: {shorten(chosen)}",
            "regenerate the rejected answer (or the chosen one), or drop the pair",
        )
