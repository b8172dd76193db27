"""Preference-pair checks: what makes a chosen/rejected pair teach the wrong thing."""

from __future__ import annotations

from dataprep.sample import Sample, Turn
from dataprep.text import squash


def side(turns: tuple[Turn, ...]) -> tuple[str, str | None]:
    """One answer of a pair as normalised text, and the field it lives in."""
    texts = [t.content for t in turns if t.content]
    field = turns[0].field if len(turns) == 1 else (turns[0].field if turns else None)
    return squash("\n".join(texts)), field


def pair(sample: Sample) -> tuple[str, str, str | None, str | None] | None:
    """(chosen, rejected, chosen field, rejected field), or None when either side is empty
    (empty-output reports those) or the record is not a pair."""
    if sample.kind != "dpo" or not sample.chosen or not sample.rejected:
        return None
    chosen, chosen_field = side(sample.chosen)
    rejected, rejected_field = side(sample.rejected)
    if not chosen or not rejected:
        return None
    return chosen, rejected, chosen_field, rejected_field


def shorten(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
