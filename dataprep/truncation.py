"""Fitting a tokenized conversation into `cutoff_len`: the three truncation policies, and a
preference pair's shared prompt shortened so both answers survive.

Each function works on an `Encoded` sequence (token ids and where each message is, in tokens)
and its labels, and returns the fitted ids and labels with what happened, or `(rule, why)` when
the record must be rejected: every rejection names its rule, so the build can count it.
"""

from __future__ import annotations

from dataclasses import dataclass

POLICIES = ("drop", "truncate-prompt", "truncate-answer")
NO_LABELS = "no-trainable-tokens"  # the rule a record left without a label token is rejected by


@dataclass
class Encoded:
    """One tokenized sequence and where its messages are, in tokens."""

    ids: list[int]
    spans: list[tuple[str, int, int]]  # (role, start token, end token) per message
    images: list[tuple[int, int]]  # token spans of <image> placeholders


def truncate(
    seq: Encoded, labels: list[int], cutoff: int, policy: str, eos_id: int | None
) -> tuple[list[int], list[int], str] | tuple[str, str]:
    """(ids, labels, what happened) within `cutoff` tokens, or (rule, why) the record is
    rejected.

    truncate-answer cuts at the cutoff: a cut inside an answer keeps the answer's start and
    ends it with the end-of-turn token (labelled); a cut in a prompt (its text, its assistant
    header, or an image span) drops that turn and all after it, and a cut in the first prompt
    leaves nothing to train on. truncate-prompt keeps the answers whole: it drops the oldest
    turns, then shortens the first user message's text from its end, never inside an image
    span. drop rejects every record over the cutoff."""
    n = len(seq.ids)
    if n <= cutoff:
        return seq.ids, labels, "fits"
    if policy == "drop":
        return "exceeds-cutoff", f"{n:,} tokens, over cutoff_len {cutoff:,} (truncation: drop)"
    if policy == "truncate-answer":
        answers = [(a, b) for role, a, b in seq.spans if role == "assistant"]
        for k, (a, b) in enumerate(answers):
            if cutoff < a + 2:  # the cut falls in this turn's prompt or header
                if k == 0:
                    return NO_LABELS, (
                        f"the prompt alone is {a:,} tokens, not under cutoff_len {cutoff:,}: "
                        "truncate-answer would leave no answer token to train on"
                    )
                end = answers[k - 1][1]
                return seq.ids[:end], labels[:end], "turns dropped"
            if cutoff < b:
                if eos_id is None:
                    return seq.ids[:cutoff], labels[:cutoff], "answer cut, no EOS token"
                ids = [*seq.ids[: cutoff - 1], eos_id]
                cut = [*labels[: cutoff - 1], eos_id]
                return ids, cut, "answer cut"
        return seq.ids[:cutoff], labels[:cutoff], "tail cut"  # only unlabelled text after
    shortened = shorten_prompt(seq, labels, n - cutoff, cutoff)
    if isinstance(shortened[0], str):
        return shortened  # type: ignore[return-value]
    short, cut, case = shortened
    return short.ids, cut, case


def shorten_prompt(
    seq: Encoded, labels: list[int], excess: int, cutoff: int
) -> tuple[Encoded, list[int], str] | tuple[str, str]:
    """`seq` with `excess` prompt tokens removed and its answers whole: the oldest turns
    first, then the first user message's text from its end, never inside an image span."""
    ids, labs = list(seq.ids), list(labels)
    spans, images = list(seq.spans), list(seq.images)
    case = "prompt cut"

    def answers_and_users():
        return ([(a, b) for r, a, b in spans if r == "assistant"],
                [(a, b) for r, a, b in spans if r == "user"])  # fmt: skip

    answers, users = answers_and_users()
    while excess > 0 and len(answers) > 1 and users:
        start, end = _line_start(ids, users[0][0], spans), answers[0][1]
        del ids[start:end], labs[start:end]
        removed = end - start
        excess -= removed
        spans = [(r, a - removed, b - removed) for r, a, b in spans if a >= end]
        images = [(a - removed, b - removed) for a, b in images if a >= end]
        answers, users = answers_and_users()
        case = "turns dropped"
    if excess > 0:
        if not users:
            return "exceeds-cutoff", "no user message to shorten (truncation: truncate-prompt)"
        start, end = users[0]
        cut_end = end
        for a, b in images:  # never cut inside an image span: cut before it
            if a < cut_end and b > cut_end - excess:
                cut_end = min(cut_end, a)
        cut_start = cut_end - excess
        if cut_start < start:
            return "exceeds-cutoff", (
                f"the answers alone need {len(ids) - (end - start):,} tokens, over cutoff_len "
                f"{cutoff:,} (truncation: truncate-prompt)"
            )
        del ids[cut_start:cut_end], labs[cut_start:cut_end]
        spans = [(r, a if a < cut_end else a - excess, b if b < cut_start else b - excess)
                 for r, a, b in spans]  # fmt: skip
        images = [(a - excess, b - excess) if a >= cut_end else (a, b) for a, b in images]
    return Encoded(ids, spans, images), labs, case


def fit_pair_prompt(
    sides: list[tuple[Encoded, list[int]]], cutoff: int
) -> list[tuple[Encoded, list[int]]] | tuple[str, str]:
    """A preference pair under truncate-answer: its two answers are what it teaches, so the
    shared prompt is shortened (oldest turns first, as LLaMA-Factory keeps the answers and cuts
    the prompt) until the answers have room: as many tokens as the longer one needs, up to half
    the cutoff. Cutting the prompt's last turn away would leave both sides the same history."""
    prompt = max(max((a for r, a, _ in seq.spans if r == "assistant"), default=0)
                 for seq, _ in sides)  # fmt: skip
    answers = max(len(seq.ids) for seq, _ in sides) - prompt
    budget = cutoff - min(answers, cutoff // 2)
    if prompt <= budget:
        return sides
    out = []
    for seq, labels in sides:
        shortened = shorten_prompt(seq, labels, prompt - budget, cutoff)
        if isinstance(shortened[0], str):
            return shortened  # type: ignore[return-value]
        out.append(shortened[:2])
    return out


def _line_start(ids: list[int], start: int, spans: list) -> int:
    """Where a user turn's header begins: right after the previous message's span."""
    before = [b for _, _, b in spans if b <= start]
    return max(before) if before else start
