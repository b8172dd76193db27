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
    return {}


def observe(state: dict, record, sample) -> None:
    if sample is None:
        return
    key = f"{sample.format} {'preference' if sample.kind == 'dpo' else sample.kind}"
    seen = state.get(key)
    if seen is None:
        state[key] = [1, sample.line, sample.index]
    else:
        seen[0] += 1


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines, records = offset  # b's lines and indexes are relative to its chunk
    for key, (count, line, index) in b.items():
        if key in a:
            a[key][0] += count
        else:
            a[key] = [count, line + lines, index + records]
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    if len(state) < 2:
        return
    ranked = sorted(state.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    main, (main_count, _, _) = ranked[0]
    others = ", ".join(
        f"{key} ×{count} (first at line {line})" for key, (count, line, _) in ranked[1:]
    )
    yield Hit(
        None,
        f"the file mixes formats: {main} ×{main_count}, {others}",
        f"convert the other records to {main}, or move them to their own file",
        Where(ctx.path),
    )
