r"""A record that would train on nothing: no label token survives masking and truncation.

Why it hurts training:
    A record whose labels are all -100 adds no loss but still counts in the batch: with loss
    normalised per token it only wastes compute, with loss averaged per sequence it pulls the
    mean towards zero, and a batch made only of such records gives a zero or NaN loss (TRL and
    Unsloth users meet it as "all labels are -100"). It happens when the prompt alone fills
    `cutoff_len` (truncate-answer cuts the answer away entirely), when an answer is empty or
    only a template token, or when masking leaves nothing. `dataprep build` rejects such
    records under this name; with `--cutoff-len` lint and `dataprep stats` say how many there
    will be, per truncation policy.

Bad:
    lint data.jsonl --cutoff-len 512, where a record's prompt is a 900-token document

Good:
    lint data.jsonl --cutoff-len 2048, where every prompt leaves room for its answer

Options:
    None (the cutoff is `--cutoff-len`).

Fix:
    Raise cutoff_len, build with `--truncation truncate-prompt` (it shortens the prompt and
    keeps the answer whole), or shorten the prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tokens.exceeds_cutoff import new_state  # noqa: F401  (needs --cutoff-len)
from dataprep.findings import Hit, Where

CODE = "TK05"
NAME = "no-trainable-tokens"
FORMATS = ("*",)
KINDS = ("*",)
EXAMPLES = "described"  # needs a tokenizer and --cutoff-len; tests/checks/cases/TK05.yaml runs them


@dataclass(frozen=True)
class Options:
    pass


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    lengths, cutoff = ctx.lengths, ctx.setup.cutoff_len
    if lengths is None:
        return
    for i in range(len(lengths)):
        if not lengths.trains_on_nothing(i, cutoff):
            continue
        turns = lengths.record_turns(i)
        why = (
            f"the prompt before its first answer is {turns[0][0]:,} tokens, not under "
            f"cutoff_len {cutoff:,}: truncate-answer leaves no answer token"
            if lengths.label[i]
            else "its answers have no token to train on"
        )
        yield Hit(
            None,
            f"{why}; `dataprep build` rejects it",
            "raise cutoff_len, build with --truncation truncate-prompt, or shorten the prompt",
            Where(ctx.path, lengths.lines[i], lengths.records[i]),
        )
