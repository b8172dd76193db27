r"""A preference pair whose answers differ only in a few characters.

Why it hurts training:
    The DPO signal is the difference between the answers. When they differ in a comma, a
    letter's case or one word of a long text, the loss pushes hard on tokens that do not
    matter, and a pair generated twice from one prompt with the same seed looks like this.
    Deliberate minimal edits (one fact fixed in an otherwise equal answer) are real signal:
    raise the threshold or disable the rule for such data.

Bad:
    {"instruction": "Describe the water cycle.", "input": "", "chosen": "Water evaporates from the sea, condenses into clouds and falls back as rain, which flows to the sea again.", "rejected": "Water evaporates from the sea, condenses into clouds and falls back as rain which flows to the sea again."}

Good:
    {"instruction": "Describe the water cycle.", "input": "", "chosen": "Water evaporates, condenses into clouds and falls back as rain.", "rejected": "Water is made in clouds and stays there."}

Options:
    min_similarity: character similarity (0-1) at or above which a pair is reported.
    min_chars: ignore pairs whose answers are shorter than this.

Fix:
    Regenerate the rejected answer so that it differs in substance, or drop the pair.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.preference import pair, shorten
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "PR04"
NAME = "near-identical-pair"
FORMATS = ("*",)
KINDS = ("dpo",)


@dataclass(frozen=True)
class Options:
    min_similarity: float = 0.97
    min_chars: int = 40


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    found = pair(sample)
    if found is None:
        return
    chosen, rejected, _, rejected_field = found
    if chosen == rejected or min(len(chosen), len(rejected)) < opts.min_chars:
        return
    # Lengths alone bound the similarity: most pairs stop here without a diff.
    if 2 * min(len(chosen), len(rejected)) / (len(chosen) + len(rejected)) < opts.min_similarity:
        return
    if chosen.startswith(rejected) or rejected.startswith(chosen):  # pair-prefix's
        return
    matcher = difflib.SequenceMatcher(None, chosen, rejected, autojunk=False)
    if matcher.quick_ratio() < opts.min_similarity or matcher.ratio() < opts.min_similarity:
        return
    op = next(o for o in matcher.get_opcodes() if o[0] != "equal")
    _, i1, i2, j1, j2 = op
    yield Hit(
        rejected_field,
        f"chosen and rejected are {matcher.ratio():.0%} the same; first difference: "
        f"{shorten(chosen[max(0, i1 - 15) : i2 + 15], 50)} vs "
        f"{shorten(rejected[max(0, j1 - 15) : j2 + 15], 50)}",
        "regenerate the rejected answer so that it differs in substance, or drop the pair",
    )
