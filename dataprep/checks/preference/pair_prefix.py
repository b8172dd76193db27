r"""A preference pair where one answer is the other cut short.

Why it hurts training:
    When the rejected answer is the chosen one truncated, the only thing DPO can learn is
    "longer wins": the model rambles and stops late. When the chosen answer is the truncated
    one it learns to stop mid-sentence. Either way the pair says nothing about quality. Typical
    of pairs built from generations that hit `max_new_tokens`.

Bad:
    {"instruction": "Explain rain.", "input": "", "chosen": "Water vapour condenses into droplets that grow until they fall.", "rejected": "Water vapour condenses into drop"}

Good:
    {"instruction": "Explain rain.", "input": "", "chosen": "Water vapour condenses into droplets that grow until they fall.", "rejected": "Rain is when clouds get sad."}

Options:
    min_chars: ignore pairs whose shorter answer is shorter than this ("Yes" / "Yes, because…").

Fix:
    Pair the chosen answer with a complete rejected answer (regenerate with a larger
    max_new_tokens), or drop the pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.preference import pair
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "PR02"
NAME = "pair-prefix"
FORMATS = ("*",)
KINDS = ("dpo",)


@dataclass(frozen=True)
class Options:
    min_chars: int = 10


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    found = pair(sample)
    if found is None:
        return
    chosen, rejected, chosen_field, rejected_field = found
    if chosen == rejected:  # identical-pair's
        return
    short, long, name, other, field = (
        (rejected, chosen, "rejected", "chosen", rejected_field)
        if len(rejected) < len(chosen)
        else (chosen, rejected, "chosen", "rejected", chosen_field)
    )
    if len(short) >= opts.min_chars and long.startswith(short):
        yield Hit(
            field,
            f"the {name} answer is the {other} one cut short "
            f"({len(short):,} of its {len(long):,} characters)",
            f"pair the {other} answer with a complete {name} answer, or drop the pair",
        )
