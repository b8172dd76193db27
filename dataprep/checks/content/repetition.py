r"""A degenerate loop: the same line, sentence or phrase repeated over and over.

Why it hurts training:
    Generated data sometimes ran until the length limit while looping ("I hope this helps! I
    hope this helps! ..."). Training on it teaches the model exactly the failure it should
    avoid: repeating itself until it is cut off.

Bad:
    {"instruction": "Say something nice.", "input": "", "output": "You are great. You are great. You are great. You are great. You are great. You are great."}
    {"instruction": "写一句祝福。", "input": "", "output": "祝你快乐！祝你快乐！祝你快乐！祝你快乐！祝你快乐！祝你快乐！祝你快乐！"}

Good:
    {"instruction": "List three fruits.", "input": "", "output": "1. Apple\n2. Banana\n3. Cherry"}

Options:
    min_repeats: how many times a unit must repeat back to back.
    min_unit: the shortest repeated unit, in characters.

Fix:
    Cut the answer before the loop starts (and check it still answers), or drop the record.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dataprep.findings import Hit
from dataprep.sample import Sample, answers
from dataprep.text import CODE_SPAN_RUST, SPACE, without_code

if TYPE_CHECKING:
    import polars as pl

CODE = "CT10"
NAME = "repetition"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto", "pretrain")

# Sentence ends: Latin punctuation before whitespace (not `java.util`), CJK punctuation, lines.
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；\n])\s*")
_LETTER = re.compile(r"[^\W\d_]")
SENTENCE_MIN = 12  # shorter repeated lines are names, labels or list items


@dataclass(frozen=True)
class Options:
    min_repeats: int = 4
    min_unit: int = 4


def _loop(text: str, opts: Options) -> str | None:
    """The repeated unit, if the text loops."""
    if len(text) < opts.min_unit * opts.min_repeats:
        return None
    # A loop that runs to the end of the text: its tail occurs again and again (cheap, in C).
    # Non-overlapping counts of a 6-char tail undercount short periods, hence the lower bar.
    if text.count(text[-6:]) >= max(2, opts.min_repeats - 1) or text.count(text[-3:]) >= 5:
        words = " ".join(text[-3000:].split())
        for tail in (words, words + " "):  # "a b a b" loops with or without a final space
            unit = _period(tail, opts.min_unit, opts.min_repeats)
            if unit and _wordy(unit):
                return unit
            # Short symbolic units ("1. 1. 1. ...") count when they repeat five times or more.
            unit = _period(tail[-400:], 2, 5)
            if unit and len(set(unit.replace(" ", ""))) >= 2:
                return unit
    # Sentences or lines repeated anywhere (outside code, where `self.` repeats by nature).
    if len(text) >= 60:
        units = [u for u in _SENTENCE.split(without_code(text)) if len(u.strip()) >= SENTENCE_MIN]
        if len(units) >= opts.min_repeats:
            unit, count = Counter(u.strip() for u in units).most_common(1)[0]
            if (
                count >= opts.min_repeats
                and (count * 3 >= len(units) or count >= 6)
                and _wordy(unit)
                and (" " in unit or not unit.isascii())  # a sentence, not a code token
            ):
                return unit
    return None


def _period(text: str, min_unit: int, min_repeats: int, max_unit: int = 300) -> str | None:
    """The shortest unit that ends `text` repeated back to back `min_repeats` times or more.

    Slice comparisons only: linear in the units tried, where a backtracking regex with a
    repeated group can run for seconds on whitespace-heavy text.
    """
    n = len(text)
    for p in range(min_unit, min(max_unit, n // min_repeats) + 1):
        unit = text[n - p :]
        k = 1
        while k < min_repeats and text[n - (k + 1) * p : n - k * p] == unit:
            k += 1
        if k >= min_repeats:
            return unit
    return None


def _wordy(unit: str) -> bool:
    """At least two letters: table borders (`+----+`) and digit runs are not loops."""
    return len(_LETTER.findall(unit)) >= 2


# _SENTENCE's split points, kept at the end of the piece before them (Rust's regex has no
# look-behind): stripped, the pieces are _SENTENCE's units, less the empty ones.
_SPLIT = rf"[.!?;]{SPACE}+|[\x{{3002}}\x{{ff01}}\x{{ff1f}}\x{{ff1b}}\n]{SPACE}*"
_RUN = rf"{SPACE}+"


def _repeated(texts: pl.DataFrame, at: np.ndarray, code: bool, opts: Options) -> np.ndarray:
    """The rows of `at` with a sentence repeated `min_repeats` times (and often enough).

    Without code the sentences are exactly the confirm's (U+001C..U+001F made spaces, so that
    Rust's strip is Python's). With code, code becomes a run of spaces as long as a sentence
    and whitespace runs compare as one: no sentence of the confirm's is lost, some are added,
    hence no ratio test there."""
    import polars as pl

    from dataprep import columns as col

    text = col.text.str.replace_all(r"[\x1c-\x1f]", " ")
    if code:
        text = text.str.replace_all(CODE_SPAN_RUST, " " * SENTENCE_MIN)
    unit = pl.col("unit").str.strip_chars()
    units = (
        texts.select(
            pl.Series("at", at),
            text.str.split(_SPLIT, literal=False, inclusive=True).alias("unit"),
        )
        .explode("unit")
        .select("at", unit)
        .filter(pl.col("unit").str.len_chars() >= SENTENCE_MIN)
        .select(
            "at", (pl.col("unit").str.replace_all(_RUN, " ") if code else pl.col("unit")).hash()
        )
        .group_by("at", "unit")
        .len()
        .group_by("at")
        .agg(pl.col("len").max().alias("most"), pl.col("len").sum().alias("units"))
    )
    most, count = units["most"], units["units"]
    ratio = (most * 3 >= count) | (most >= 6) if not code else most > 0
    return units["at"].filter((most >= opts.min_repeats) & ratio).to_numpy()


def prefilter(opts: Options):
    """Answers whose tail recurs (a loop to the end), or with a sentence or line repeated
    `min_repeats` times, counted in Rust over the sentences `_SENTENCE` splits."""

    from dataprep import columns as col

    def select(frame: pl.DataFrame) -> np.ndarray:
        n = col.text.str.len_chars()
        tail = col.text.str.count_matches(col.text.str.slice(-6), literal=True)
        tail3 = col.text.str.count_matches(col.text.str.slice(-3), literal=True)
        loop = (n >= opts.min_unit * opts.min_repeats) & (
            (tail >= max(2, opts.min_repeats - 1)) | (tail3 >= 5)
        )
        looks = frame.select(
            (col.is_answer & loop).fill_null(False).alias("a"),
            (col.is_answer & (n >= 60)).fill_null(False).alias("b"),
            col.has_code.fill_null(False).alias("code"),
        )
        found = looks["a"].to_numpy().copy()
        rest = looks["b"].to_numpy() & ~found
        code = looks["code"].to_numpy()
        for at, coded in (
            (np.flatnonzero(rest & ~code), False),
            (np.flatnonzero(rest & code), True),
        ):
            if len(at):
                found[_repeated(frame[at], at, coded, opts)] = True
        return found

    return select


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        text = turn.content
        if not text:
            continue
        unit = _loop(text, opts)
        if unit is not None:
            yield Hit(
                turn.field,
                f"the answer loops on {unit.strip()[:50]!r}",
                "cut the answer before the loop, or drop the record",
            )
