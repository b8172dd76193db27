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

from dataprep.sample import ANSWER_ROLES, ASSISTANT, TEXT_ROLES, USER, Sample
from dataprep.text import CODE_SPAN_RUST, FOLDS, PY_WHITESPACE, SPACE, ZERO_WIDTH_CLASS

__all__ = ["FOLDS", "PY_WHITESPACE", "SPACE", "Batch"]  # the classes prefilters build with

KEY_SEEDS = (0x6C696E74, 0x64617461)  # fixed: keys must agree across processes and runs
SYSTEM_SLOT, MESSAGES_SLOT, CHOSEN_SLOT, REJECTED_SLOT = 0, 1, 2, 3

# Expressions over a batch's text rows, for checks' prefilters.
text = pl.col("text")
is_answer = pl.col("answer")  # a turn the model learns to write: `sample.answers`
is_prompt = pl.col("prompt")  # a known user turn: `sample.prompts`
in_turns = pl.col("slot") != SYSTEM_SLOT  # messages, chosen and rejected; not the system prompt
text_role = pl.col("role").is_in(TEXT_ROLES)
has_code = text.str.contains("`", literal=True)  # rules that skip code decide those in Python
# `text.without_code` with each code span as one space (offsets are not kept): for patterns
# that match across whitespace of any length, a match in either is a match in the other.
prose = text.str.replace_all(CODE_SPAN_RUST, " ")
_SLOT = pl.col("slot").cast(pl.String)
_ODD_SPACE = rf"{SPACE}{{2,}}|[^\S ]|[\x1c-\x1f]"

_BASES = np.random.default_rng(20261202).integers(1, 2**63, 2, dtype=np.uint64) * 2 + 1
_POWERS = [np.ones((0, 2), dtype=np.uint64)]


def _powers(n: int) -> np.ndarray:
    """(n, 2): the two lanes' bases to the powers 1..n, modulo 2**64 (a table that grows)."""
    if len(_POWERS[0]) < n:
        with np.errstate(over="ignore"):
            _POWERS[0] = np.cumprod(np.tile(_BASES, (max(n, 64), 1)), axis=0, dtype=np.uint64)
    return _POWERS[0]


def _window(width: int) -> pl.Expr:
    """The first `width` characters of a record's texts joined by spaces (in a group_by)."""
    return text.fill_null("").str.slice(0, width).str.join(" ").str.slice(0, width)


def stripped(expr: pl.Expr) -> pl.Expr:
    """`str.strip()`, with Python's whitespace (Rust's lacks U+001C..U+001F)."""
    return expr.str.strip_chars(PY_WHITESPACE)


def squeezed(expr: pl.Expr) -> pl.Expr:
    """`" ".join(s.split())`: whitespace runs as one space, none at the ends."""
    # Only the runs that change (two or more, or one that is not a space): a single space
    # between words is left alone, which makes prose ~3x faster than rewriting every run.
    return expr.str.replace_all(_ODD_SPACE, " ").str.strip_chars(" ")


def prompt_of(expr: pl.Expr) -> pl.Expr:
    """`expr` of the user turn an answer responds to (`sample.answer_for`); null elsewhere."""
    return expr.gather(pl.col("prompt_of"))


def ascii_letters(texts: pl.Series) -> np.ndarray:
    """How many ASCII letters each text holds (a null: 0), counted over the UTF-8 bytes in
    numpy: a regex count pays for a match per letter, 3x slower."""
    found = texts.cast(pl.String).to_arrow()
    buffers = found.buffers()
    start = found.offset
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[start : start + len(found) + 1]
    if buffers[2] is None or offsets[-1] == offsets[0]:
        return np.zeros(len(found), dtype=np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    # One byte more than the data, so that every offset (the last included) indexes it.
    letters = np.zeros(len(data) + 1, dtype=np.uint8)
    np.less((data | 0x20) - np.uint8(ord("a")), 26, out=letters[:-1].view(bool))  # wraps
    counts = np.add.reduceat(letters, offsets[:-1] - offsets[0], dtype=np.int64)
    counts[offsets[1:] == offsets[:-1]] = 0  # reduceat gives an empty range its first element
    return counts


def blank() -> pl.Expr:
    """Null, empty, or only whitespace and zero-width characters (`text.is_blank`)."""
    return text.is_null() | ~text.str.contains(rf"[^{SPACE[1:-1]}{ZERO_WIDTH_CLASS}]")


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
        images: list[int] = []
        tools: list[bool] = []
        calls: list[bool] = []
        clips: list[bool] = []
        reasoning: list[str | None] = []
        for i, sample in enumerate(self.samples):
            if sample is None:
                continue
            start = len(rows)
            if sample.system is not None:
                rows.append(i)
                slots.append(SYSTEM_SLOT)
                roles.append("system")
                texts.append(sample.system)
                answer.append(False)
                prompt.append(False)
                prompt_at.append(None)
                position.append(-1)
                calls.append(False)
                reasoning.append(None)
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
                calls.append(turn.calls is not None)
                reasoning.append(turn.reasoning)
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
                    calls.append(turn.calls is not None)
                    reasoning.append(turn.reasoning)
            images.extend([len(sample.images)] * (len(rows) - start))
            tools.extend([sample.tools is not None] * (len(rows) - start))
            clips.extend([bool(sample.videos or sample.audios)] * (len(rows) - start))
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
                "images": pl.Series(images, dtype=pl.UInt32),  # the record's image count
                "tools": pl.Series(tools, dtype=pl.Boolean),  # the record declares tools
                "calls": pl.Series(calls, dtype=pl.Boolean),  # a turn with tool-call parts
                "clips": pl.Series(clips, dtype=pl.Boolean),  # the record names videos/audios
                "reasoning": pl.Series(reasoning, dtype=pl.String),  # Turn.reasoning
            }
        )

    @cached_property
    def rows(self) -> np.ndarray:
        return self.frame["row"].to_numpy()

    @cached_property
    def textless(self) -> np.ndarray:
        """Records with a Sample but no text rows (no system prompt, no turns)."""
        counts = np.bincount(self.rows, minlength=len(self.samples))
        return (counts == 0) & self.present

    def any_per_record(self, per_text: np.ndarray) -> np.ndarray:
        """A boolean per record: whether any of its text rows is True in `per_text`."""
        found = np.zeros(len(self.samples), dtype=bool)
        found[self.rows[per_text]] = True
        return found

    def _keys(self, rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """One key per record (two 64-bit lanes) of its parts' hashes in order: a polynomial in
        random odd multipliers, so equal part sequences give equal keys and others differ but
        with chance 2**-128. `rows`: each part's record, parts of a record in order; `hashes`:
        (parts, 2) uint64. Records without parts get the key of the empty sequence."""
        keys = np.zeros((len(self.samples), 2), dtype=np.uint64)
        if not len(rows):
            return keys
        start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        rank = np.arange(len(rows)) - np.repeat(start, np.diff(np.r_[start, len(rows)]))
        with np.errstate(over="ignore"):
            np.add.at(keys, rows, hashes * _powers(int(rank.max()) + 1)[rank])
            count = np.bincount(rows, minlength=len(self.samples)).astype(np.uint64)
            keys ^= count[:, None] * np.uint64(0x9E3779B97F4A7C15)
        return keys

    def _hashes(self, frame: pl.DataFrame, part: pl.Expr) -> np.ndarray:
        """(rows, 2) uint64: the two seeded hashes of an expression over `frame`'s rows."""
        found = frame.select(
            *(part.hash(seed=seed).alias(f"h{i}") for i, seed in enumerate(KEY_SEEDS))
        )
        return np.stack([found["h0"].to_numpy(), found["h1"].to_numpy()], axis=1)

    def _ints(self, keys: np.ndarray, present: np.ndarray) -> list[int | None]:
        low, high = keys[:, 0].tolist(), keys[:, 1].tolist()
        return [a << 64 | b if p else None for a, b, p in zip(low, high, present, strict=True)]

    @cached_property
    def present(self) -> np.ndarray:
        """A boolean per record: whether it has a Sample (it parsed and normalised)."""
        return np.fromiter((s is not None for s in self.samples), dtype=bool, count=len(self))

    @cached_property
    def media(self) -> pl.DataFrame:
        """(row, part) of every image, video and audio a record names, in `Sample.media_parts`
        order: the key parts the duplicate checks append after a record's texts."""
        rows: list[int] = []
        parts: list[str] = []
        for i, sample in enumerate(self.samples):
            # The tuples first: most records name no media, and `media_parts` builds a list.
            if sample is not None and (sample.images or sample.videos or sample.audios):
                rows.extend([i] * len(sample.media_parts))
                parts.extend(sample.media_parts)
        return pl.DataFrame(
            {"row": pl.Series(rows, dtype=pl.UInt32), "ref": pl.Series(parts, dtype=pl.String)}
        )

    def _with_media(self, rows: np.ndarray, hashes: np.ndarray, keep: np.ndarray | None = None):
        """Parts with each record's image, video and audio references appended after its
        texts."""
        media = self.media
        if not len(media):
            return rows, hashes
        media_rows = media["row"].to_numpy()
        media_hashes = self._hashes(media, pl.col("ref"))
        if keep is not None:
            media_hashes, media_rows = media_hashes[keep[media_rows]], media_rows[keep[media_rows]]
        rows = np.concatenate([rows, media_rows])
        order = np.argsort(rows, kind="stable")
        return rows[order], np.concatenate([hashes, media_hashes])[order]

    @cached_property
    def content_lanes(self) -> np.ndarray:
        """(records, 2) uint64: `Sample.content_key`'s equality as two 64-bit lanes: everything
        training sees of each record (system, images, every turn with its role),
        whitespace-normalised. Rows without a Sample hold the empty record's key."""
        thought = pl.col("reasoning")
        frame = self.frame.select(
            "slot",
            "role",
            squeezed(text.fill_null("")).alias("text"),
            # As Sample.content_key: a turn's separate reasoning, then \x1c, before its text.
            pl.when(thought.is_null())
            .then(pl.lit(""))
            .otherwise(squeezed(thought) + pl.lit("\x1c"))
            .alias("thought"),
        )
        part = pl.concat_str(_SLOT, pl.lit("\x1e"), "role", pl.lit("\x1e"), "thought", "text")
        # An empty or blank system prompt is no system prompt (as in Sample.content_key).
        keep = frame.select(in_turns | (text != ""))[:, 0].to_numpy()
        rows, hashes = self.rows[keep], self._hashes(frame, part)[keep]
        rows, hashes = self._with_media(rows, hashes)
        return self._keys(rows, hashes)

    @cached_property
    def content_keys(self) -> list[int | None]:
        """`content_lanes` as 128-bit ints, None where a record has no Sample."""
        return self._ints(self.content_lanes, self.present)

    @cached_property
    def where(self) -> tuple[np.ndarray, np.ndarray]:
        """(line, index) of each record's Sample (-1 where there is none)."""
        lines = [s.line if s is not None else -1 for s in self.samples]
        indexes = [s.index if s is not None else -1 for s in self.samples]
        return np.array(lines, dtype=np.int64), np.array(indexes, dtype=np.int64)

    @cached_property
    def prompt_answer_lanes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_keys.prompt_and_answer` per record as two (records, 2) uint64 lane arrays
        (everything before the last answer; the last answer), outer whitespace stripped,
        case-insensitive, and the mask of records that have both."""
        frame = self.frame
        folded = stripped(text.fill_null("")).str.to_lowercase()
        found = frame.select(
            "slot",
            "role",
            pl.col("role").is_in(ANSWER_ROLES).alias("answer_role"),
            folded.alias("text"),
        )
        slot, position, rows = frame["slot"].to_numpy(), frame["position"].to_numpy(), self.rows
        messages = slot == MESSAGES_SLOT
        last = np.full(len(self.samples), -1, dtype=np.int64)
        answer = messages & found["answer_role"].to_numpy()
        np.maximum.at(last, rows[answer], position[answer])
        keep = last >= 1
        mine = last[rows]
        prompt_part = keep[rows] & (
            (messages & (position < mine))
            | ((slot == SYSTEM_SLOT) & found.select(text != "")[:, 0].to_numpy())
        )
        answer_part = keep[rows] & messages & (position == mine)
        hashes = self._hashes(found, pl.concat_str(_SLOT, "role", pl.lit("\x1e"), "text"))
        prompt_rows, prompt_hashes = self._with_media(rows[prompt_part], hashes[prompt_part], keep)
        prompts = self._keys(prompt_rows, prompt_hashes)
        # The answer's text alone: the same words from another role are the same answer.
        # (Hashing every row costs less than copying the answers' out.)
        answers = self._keys(rows[answer_part], self._hashes(found, text)[answer_part])
        return prompts, answers, keep & self.present

    def near_texts(self, prompt_chars: int, answer_chars: int) -> list[str | None]:
        """`near_duplicate._text` per record: the head of its prompts and of its answers,
        lower case, whitespace-normalised."""
        prompt, answer = self._head("prompt", prompt_chars), self._head("answer", answer_chars)
        texts = squeezed(pl.concat_str(prompt, pl.lit(" "), answer).str.to_lowercase())
        found = pl.select(texts).to_series().to_list()
        return [t if s is not None else None for t, s in zip(found, self.samples, strict=True)]

    def _head(self, flag: str, width: int) -> pl.Series:
        """Per record, the first `width` characters of its `flag` texts joined by spaces."""
        marked = self.frame[flag].to_numpy()
        count = np.bincount(self.rows[marked], minlength=len(self.samples))
        if count.max(initial=0) <= 1:  # one text or none a record (alpaca): no join needed
            at = np.full(len(self.samples), len(self.frame), dtype=np.int64)
            at[self.rows[marked]] = np.flatnonzero(marked)
            # Cut before gathering: the gather then copies the heads, not the whole texts.
            every = pl.concat(
                [self.frame["text"].str.slice(0, width), pl.Series([None], dtype=pl.String)]
            )
            return every.gather(at).fill_null("")
        # Each text cut to the window first: the joined head needs no more of any one text.
        every = pl.DataFrame({"row": pl.Series(range(len(self.samples)), dtype=pl.UInt32)})
        return every.join(
            self.frame.filter(pl.col(flag))
            .group_by("row", maintain_order=True)
            .agg(_window(width).alias(flag)),
            on="row",
            how="left",
            maintain_order="left",
        )[flag].fill_null("")
