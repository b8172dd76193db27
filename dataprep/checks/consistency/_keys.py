"""Stable content keys of a Sample, shared by the duplicate checks."""

from __future__ import annotations

import hashlib

from dataprep.sample import ANSWER_ROLES, Sample


def _strip(text: str | None) -> str:
    return text.strip() if text else ""


def _digest(parts: list[str]) -> bytes:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "replace"), digest_size=12).digest()


def record_key(sample: Sample) -> bytes:
    """Everything training sees of the record, whitespace-normalised (computed once)."""
    return sample.content_key


def prompt_and_answer(sample: Sample) -> tuple[bytes, bytes] | None:
    """(key of everything before the last answer, key of the last answer), case-insensitive."""
    turns = sample.messages
    last = len(turns) - 1
    while last >= 0 and turns[last].role not in ANSWER_ROLES:
        last -= 1
    if last < 1:
        return None
    # Outer whitespace and case only: cheaper, and enough to tell a repeated prompt.
    prompt = [_strip(sample.system).lower(), *sample.media_parts]
    prompt.extend(f"{t.role}\x1e{_strip(t.content).lower()}" for t in turns[:last])
    return _digest(prompt), _digest([_strip(turns[last].content).lower()])


def lanes(key: bytes) -> tuple[int, int]:
    """A key as two 64-bit ints, the shape the checks' state keeps (`Batch.content_lanes`)."""
    return int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
