r"""A record longer than `--cutoff-len` tokens: training will truncate it.

Why it hurts training:
    Truncation is silent in LLaMA-Factory: a long record loses the end of its answer (and the
    end-of-turn token, so the model never sees where to stop), or its whole answer when the
    prompt alone fills the budget. The summary prints what each policy would lose at the given
    cutoff_len (drop the record, cut the end, or LLaMA-Factory's split of the budget between
    prompt and answer); each record gets a finding with its length.

Bad:
    lint data.jsonl --tokenizer MODEL --cutoff-len 1024, where a record renders to 1,800 tokens

Good:
    lint data.jsonl --tokenizer MODEL --cutoff-len 2048, where the longest record renders to 1,800 tokens

Options:
    None (the cutoff is `--cutoff-len`).

Fix:
    Raise cutoff_len to the recommended value (the summary's), split the record into shorter
    ones, or drop it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where
from dataprep.lengths import kept_by_llamafactory

CODE = "TK01"
NAME = "exceeds-cutoff"
FORMATS = ("*",)
KINDS = ("*",)
EXAMPLES = "described"  # needs a tokenizer and --cutoff-len; tests/checks/cases/TK01.yaml runs them


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> dict | None:
    return {} if ctx.setup is not None and ctx.setup.cutoff_len else None


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    lengths, cutoff = ctx.lengths, ctx.setup.cutoff_len
    if lengths is None:
        return
    for i, full in enumerate(lengths.full):
        if full <= cutoff:
            continue
        label = lengths.label[i]
        kept = sum(kept_by_llamafactory(lengths.record_turns(i), cutoff))
        yield Hit(
            None,
            f"{full:,} tokens, {full - cutoff:,} over cutoff_len {cutoff:,}; LLaMA-Factory's "
            f"truncation keeps {kept:,} of its {label:,} answer tokens",
            "raise cutoff_len (see the recommended value), shorten the record, or drop it",
            Where(ctx.path, lengths.lines[i], lengths.records[i]),
        )
