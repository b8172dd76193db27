"""One file holds records of different formats (dataset-level).

Why it hurts training:
    Trainers read a file with one format: LLaMA-Factory applies one `formatting` per dataset,
    so the records of the other format lose their prompt or answer, or the whole load fails
    when Arrow cannot unify the columns. A DPO file with a few SFT records, or alpaca records
    appended to a ShareGPT export, are the usual cases.

Bad:
    {"instruction": "Name a prime.", "output": "7"}
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}

Good:
    {"instruction": "Name a prime.", "output": "7"}
    {"instruction": "Say hello.", "output": "Hello!"}

Options:
    None.

Fix:
    Convert the minority records to the file's main format, or split them into their own file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where

CODE = "PA07"
NAME = "mixed-format"
FORMATS = ("*",)
KINDS = ("*",)


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> dict:
    return {}  # everything needed is in ctx.stats: records per (format, kind), first lines


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    counts = ctx.stats.formats
    if len(counts) < 2:
        return
    first = ctx.stats.first
    ranked = sorted(counts, key=lambda key: (-counts[key], first[key][0]))
    names = {key: f"{key[0]} {'preference' if key[1] == 'dpo' else key[1]}" for key in counts}
    main = names[ranked[0]]
    others = ", ".join(
        f"{names[key]} ×{counts[key]} (first at line {first[key][0]})" for key in ranked[1:]
    )
    yield Hit(
        None,
        f"the file mixes formats: {main} ×{counts[ranked[0]]}, {others}",
        f"convert the other records to {main}, or move them to their own file",
        Where(ctx.path),
    )
