"""A batch of Samples as columns: one row per text (system prompt or turn), in Arrow via polars.

Checks select candidate records with expressions over these columns (compiled regexes and
string kernels on all cores) instead of looking at every record in Python; dataset-level checks
take their per-record keys from the same columns. Rows keep the batch's order: `row` is the
record's position in the batch, and a record's texts are contiguous (system, messages, chosen,
rejected).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import polars as pl

from dataprep.sample import ANSWER_ROLES, ASSISTANT, USER, Sample

KEY_SEEDS = (0x6C696E74, 0x64617461)  # fixed: keys must agree across processes and runs
NEAR_PROMPT_CHARS, NEAR_ANSWER_CHARS = 120, 240  # near-duplicate's window of each record
SYSTEM_SLOT, MESSAGES_SLOT, CHOSEN_SLOT, REJECTED_SLOT = 0, 1, 2, 3
TEXT_ROLES = ("user", "assistant", "system")  # turns read or written as language
# Python's str.split() and str.strip() treat U+001C..U+001F as whitespace; Rust's \s does not.
SPACE = r"[\s\x1c-\x1f]"
ZERO_WIDTH_CLASS = r"\x{200b}\x{200c}\x{200d}\x{2060}\x{feff}"
# The non-ASCII letters Python's re.IGNORECASE matches with ASCII ones (U+0130 U+0131 U+017F
# U+212A); Rust's case folding differs on some, so prefilters add them to ASCII classes.
FOLDS = r"\x{130}\x{131}\x{17f}\x{212a}"

# Expressions over a batch's text rows, for checks' prefilters.
text = pl.col("text")
is_answer = pl.col("answer")  # a turn the model learns to write: `sample.answers`
is_prompt = pl.col("prompt")  # a known user turn: `sample.prompts`
in_turns = pl.col("slot") != SYSTEM_SLOT  # messages, chosen and rejected; not the system prompt
text_role = pl.col("role").is_in(TEXT_ROLES)
has_code = text.str.contains("`", literal=True)  # rules that skip code decide those in Python


_image_part = pl.concat_str(pl.lit("image\x1e"), "ref").alias("part")


def prompt_of(expr: pl.Expr) -> pl.Expr:
    """`expr` of the user turn an answer responds to (`sample.answer_for`); null elsewhere."""
    return expr.gather(pl.col("prompt_of"))


def blank() -> pl.Expr:
    """Null, empty, or only whitespace and zero-width characters (`text.is_blank`)."""
    return text.is_null() | ~text.str.contains(rf"[^\s\x1c-\x1f{ZERO_WIDTH_CLASS}]")


def wide_and_latin(expr: pl.Expr, limit: int = 2000) -> tuple[pl.Expr, pl.Expr]:
    """`text.cjk_share` as expressions: (wide characters, ASCII letters) in the first `limit`."""
    head = expr.str.slice(0, limit)
    return (head.str.len_bytes() - head.str.len_chars()) // 2, head.str.count_matches("[A-Za-z]")


class Batch:
    """The Samples of up to a few thousand records and their text columns (built on first use)."""

    def __init__(self, samples: Sequence[Sample | None]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def frame(self) -> pl.DataFrame:
        rows: list[int] = []
        slots: list[int] = []
        roles: list[str] = []
        texts: list[str | None] = []
        answer: list[bool] = []
        prompt: list[bool] = []
        prompt_at: list[int | None] = []
        position: list[int] = []
        for i, sample in enumerate(self.samples):
            if sample is None:
                continue
            if sample.system is not None:
                rows.append(i)
                slots.append(SYSTEM_SLOT)
                roles.append("system")
                texts.append(sample.system)
                answer.append(False)
                prompt.append(False)
                prompt_at.append(None)
                position.append(-1)
            last_user = None
            for at, turn in enumerate(sample.messages):
                role = turn.role
                user = role == USER and turn.known
                mine = role == ASSISTANT and turn.known
                if user:
                    last_user = len(rows)
                rows.append(i)
                slots.append(MESSAGES_SLOT)
                roles.append(role)
                texts.append(turn.content)
                answer.append(mine)
                prompt.append(user)
                prompt_at.append(last_user if mine else None)
                position.append(at)
            pair = sample.kind == "dpo"
            for slot, group in ((CHOSEN_SLOT, sample.chosen), (REJECTED_SLOT, sample.rejected)):
                for turn in group:
                    mine = pair and turn.role == ASSISTANT
                    rows.append(i)
                    slots.append(slot)
                    roles.append(turn.role)
                    texts.append(turn.content)
                    answer.append(mine)
                    prompt.append(False)
                    prompt_at.append(last_user if mine else None)
                    position.append(-1)
        return pl.DataFrame(
            {
                "row": pl.Series(rows, dtype=pl.UInt32),
                "slot": pl.Series(slots, dtype=pl.UInt8),
                "role": pl.Series(roles, dtype=pl.String),
                "text": pl.Series(texts, dtype=pl.String),
                "answer": pl.Series(answer, dtype=pl.Boolean),
                "prompt": pl.Series(prompt, dtype=pl.Boolean),
                "prompt_of": pl.Series(prompt_at, dtype=pl.UInt32),
                "position": pl.Series(position, dtype=pl.Int32),  # in messages; -1 elsewhere
            }
        )

    @cached_property
    def rows(self) -> np.ndarray:
        return self.frame["row"].to_numpy()

    def any_per_record(self, per_text: np.ndarray) -> np.ndarray:
        """A boolean per record: whether any of its text rows is True in `per_text`."""
        found = np.zeros(len(self.samples), dtype=bool)
        found[self.rows[per_text]] = True
        return found

    @cached_property
    def images(self) -> pl.DataFrame:
        """(row, reference) of every image a record names, in order."""
        rows = [i for i, s in enumerate(self.samples) if s is not None for _ in s.images]
        refs = [ref for s in self.samples if s is not None for ref in s.images]
        return pl.DataFrame(
            {"row": pl.Series(rows, dtype=pl.UInt32), "ref": pl.Series(refs, dtype=pl.String)}
        )

    def _keys(self, parts: pl.DataFrame) -> list[int | None]:
        """One 128-bit key per record from its (row, part) strings in order (None: no parts)."""
        joined = parts.group_by("row", maintain_order=True).agg(pl.col("part").str.join("\x1f"))
        keys: list[int | None] = [None] * len(self.samples)
        low = joined["part"].hash(seed=KEY_SEEDS[0]).to_list()
        high = joined["part"].hash(seed=KEY_SEEDS[1]).to_list()
        for row, a, b in zip(joined["row"].to_list(), low, high, strict=True):
            keys[row] = a << 64 | b
        return keys

    @cached_property
    def content_keys(self) -> list[int | None]:
        """`Sample.content_key`'s equality as 128-bit keys: everything training sees of each
        record (system, images, every turn with its role), whitespace-normalised."""
        squeezed = text.fill_null("").str.replace_all(rf"{SPACE}+", " ").str.strip_chars(" ")
        turns = self.frame.select(
            "row",
            pl.concat_str(
                pl.col("slot").cast(pl.String), pl.lit("\x1e"), "role", pl.lit("\x1e"), squeezed
            ).alias("part"),
            (pl.col("slot") == SYSTEM_SLOT).alias("system"),
            squeezed.alias("squeezed"),
        )
        # An empty or blank system prompt is no system prompt (as in Sample.content_key).
        turns = turns.filter(~pl.col("system") | (pl.col("squeezed") != "")).select("row", "part")
        every = pl.concat(
            [
                pl.DataFrame(
                    {
                        "row": pl.Series(range(len(self.samples)), dtype=pl.UInt32),
                        "part": pl.Series([""] * len(self.samples)),
                    }
                ),
                self.images.select("row", _image_part),
                turns,
            ]
        ).sort("row", maintain_order=True)
        keys = self._keys(every)
        return [k if s is not None else None for k, s in zip(keys, self.samples, strict=True)]

    @cached_property
    def prompt_answer_keys(self) -> list[tuple[int, int] | None]:
        """`_keys.prompt_and_answer` per record as 128-bit keys: (everything before the last
        answer, the last answer), outer whitespace stripped, case-insensitive."""
        folded = text.fill_null("").str.replace_all(rf"^{SPACE}+|{SPACE}+$", "").str.to_lowercase()
        turns = self.frame.filter(pl.col("slot") == MESSAGES_SLOT)
        last = (
            turns.filter(pl.col("role").is_in(ANSWER_ROLES))
            .group_by("row")
            .agg(pl.col("position").max().alias("last"))
            .filter(pl.col("last") >= 1)
        )
        turns = turns.join(last, on="row", maintain_order="left")
        found = turns.filter(pl.col("position") == pl.col("last")).select(
            "row",
            folded.hash(seed=KEY_SEEDS[0]).alias("a"),
            folded.hash(seed=KEY_SEEDS[1]).alias("b"),
        )
        keep = last.select("row")
        system = (
            self.frame.filter(pl.col("slot") == SYSTEM_SLOT)
            .select("row", folded.alias("part"))
            .filter(pl.col("part") != "")
        )
        parts = pl.concat(
            [
                keep.with_columns(pl.lit("").alias("part")),
                system.join(keep, on="row"),
                self.images.join(keep, on="row").select(
                    "row", pl.concat_str(pl.lit("image\x1e"), "ref").alias("part")
                ),
                turns.filter(pl.col("position") < pl.col("last")).select(
                    "row", pl.concat_str("role", pl.lit("\x1e"), folded).alias("part")
                ),
            ]
        ).sort("row", maintain_order=True)
        prompts = self._keys(parts)
        keys: list[tuple[int, int] | None] = [None] * len(self.samples)
        for row, a, b in zip(
            found["row"].to_list(), found["a"].to_list(), found["b"].to_list(), strict=True
        ):
            keys[row] = (prompts[row], a << 64 | b)
        return keys

    @cached_property
    def near_texts(self) -> list[str | None]:
        """`near_duplicate._text` per record: the head of its prompts and of its answers,
        lower case, whitespace-normalised."""
        every = pl.DataFrame({"row": pl.Series(range(len(self.samples)), dtype=pl.UInt32)})
        joined = [
            every.join(
                self.frame.filter(pl.col(flag))
                .group_by("row", maintain_order=True)
                .agg(text.fill_null("").str.join(" ").str.slice(0, width).alias(flag)),
                on="row",
                how="left",
                maintain_order="left",
            )[flag].fill_null("")
            for flag, width in (("prompt", NEAR_PROMPT_CHARS), ("answer", NEAR_ANSWER_CHARS))
        ]
        texts = (
            pl.concat_str(joined[0], pl.lit(" "), joined[1])
            .str.to_lowercase()
            .str.replace_all(rf"{SPACE}+", " ")
            .str.strip_chars(" ")
        )
        found = pl.select(texts).to_series().to_list()
        return [t if s is not None else None for t, s in zip(found, self.samples, strict=True)]
