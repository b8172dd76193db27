r"""Chosen answers that look unlike the SFT answers the model was trained on (needs `--sft`).

Why it hurts training:
    DPO pushes the policy toward the chosen answers; when they come from another model or
    another style (long Markdown essays after terse SFT answers, English after Chinese,
    "Certainly!" openings the SFT data never had), the reference model gives them low
    probability, the loss is dominated by that gap and the policy drifts off its own
    distribution: the "SFT vs DPO leakage" of the troubleshooting checklist. A simple
    classifier (style features and hashed vocabulary, logistic regression, 5-fold
    cross-validation) measures how easily chosen answers are told from SFT answers: its AUC
    is printed for every DPO file, and above `min_auc` the dataset is reported with how the
    two differ, and the `top` most off-distribution pairs are listed.

Bad:
    lint dpo.jsonl --sft sft.jsonl, where every SFT answer is one plain sentence and every chosen answer a Markdown essay

Good:
    lint dpo.jsonl --sft sft.jsonl, where chosen answers were sampled from the SFT model

Options:
    min_auc: report when chosen answers are told from SFT answers at least this well.
    top: how many of the most off-distribution pairs to list.
    max_sft: read at most this many SFT answers (an even sample of the file).

Fix:
    Generate chosen answers with the SFT model itself (on-policy), or rewrite them in the SFT
    data's style; or fine-tune on the chosen answers first (as SimPO/ORPO-style recipes do).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.preference import side
from dataprep.findings import Hit, Note, Where

CODE = "PR06"
NAME = "off-policy-chosen"
FORMATS = ("*",)
KINDS = ("dpo",)
OBSERVES_PLAIN = False
EXAMPLES = "described"  # whole datasets; tests/checks/cases/PR06.yaml runs real ones


@dataclass(frozen=True)
class Options:
    min_auc: float = 0.8
    top: int = 5
    max_sft: int = 20_000


def new_state(ctx) -> list | None:
    return [] if ctx.sft else None  # (line, record, field, chosen text)


def observe(state: list, record, sample) -> None:
    if sample is not None and sample.kind == "dpo" and sample.chosen:
        text = "\n".join(t.content for t in sample.chosen if t.content)
        if text.strip():
            state.append((record.line, record.index, side(sample.chosen)[1], text))


def merge(a: list, b: list, offset: tuple[int, int]) -> list:
    lines, records = offset
    a.extend((line + lines, index + records, f, t) for line, index, f, t in b)
    return a


def finish(state: list, opts: Options, ctx) -> Iterator[Hit | Note]:
    from dataprep.separability import separate
    from dataprep.sft_answers import read_answers

    if len(state) < 10:
        return
    sft = read_answers(ctx.sft, opts.max_sft)
    if len(sft) < 10:
        yield Note(f"off-policy-chosen: too few SFT answers in {', '.join(ctx.sft)}")
        return
    result = separate(sft, [text for *_, text in state])
    how = "; ".join(result.differences) or "in vocabulary"
    yield Note(
        f"{ctx.path}: chosen answers vs {len(sft):,} SFT answers: classifier AUC "
        f"{result.auc:.2f} (0.5 = indistinguishable, 1.0 = another distribution); {how}"
    )
    if result.auc < opts.min_auc:
        return
    yield Hit(
        None,
        f"chosen answers are easy to tell from the SFT answers (AUC {result.auc:.2f}): {how}",
        "generate chosen answers with the SFT model (on-policy) or rewrite them in its style",
        Where(ctx.path),
    )
    ranked = sorted(range(len(state)), key=lambda i: -result.scores[i])[: opts.top]
    for i in ranked:
        line, index, field, text = state[i]
        yield Hit(
            field,
            f"one of the {opts.top} chosen answers least like the SFT data (score "
            f"{result.scores[i]:.2f}): {len(text):,} characters, opens {text[:40]!r}",
            "regenerate this answer with the SFT model, or drop the pair",
            Where(ctx.path, line, index),
        )
