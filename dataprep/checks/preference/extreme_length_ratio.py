r"""A preference pair whose answers differ enormously in length.

Why it hurts training:
    DPO rewards whatever separates chosen from rejected; when one answer is many times longer,
    length is the easiest signal and the model learns verbosity (or terseness) instead of
    quality. A one-line rejected answer against a page-long chosen one is rarely a fair
    comparison.

Bad:
    {"instruction": "How do vaccines work?", "input": "", "chosen": "Vaccines show the immune system a harmless piece or copy of a germ, so it learns to recognise it. If the real germ arrives later, the body already has antibodies and memory cells ready and fights it off quickly.", "rejected": "They help."}

Good:
    {"instruction": "How do vaccines work?", "input": "", "chosen": "They train the immune system to recognise a germ before it meets the real one.", "rejected": "They cure an infection once you are already ill."}

Options:
    max_ratio: report pairs whose longer answer is more than this many times the shorter one.
    min_chars: ignore pairs whose longer answer is shorter than this.

Fix:
    Regenerate the outlier answer with a comparable length budget, or drop the pair; a few are
    fine, a pattern is `length-bias`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.preference import pair
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "PR03"
NAME = "extreme-length-ratio"
FORMATS = ("*",)
KINDS = ("dpo",)


@dataclass(frozen=True)
class Options:
    max_ratio: float = 10.0
    min_chars: int = 80


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    found = pair(sample)
    if found is None:
        return
    chosen, rejected, chosen_field, rejected_field = found
    c, r = len(chosen), len(rejected)
    if max(c, r) < opts.min_chars:
        return
    ratio = max(c, r) / min(c, r)
    if ratio > opts.max_ratio:
        longer = "chosen" if c > r else "rejected"
        yield Hit(
            chosen_field if c < r else rejected_field,
            f"the {longer} answer is {ratio:.1f}x as long as the other ({c:,} vs {r:,} characters)",
            "regenerate the outlier answer with a comparable length budget, or drop the pair",
        )
