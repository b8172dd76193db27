"""Record: one item read from a data file, before it is understood (datatrove's Document)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


class _Unparsed:
    """The value of a record whose line is not JSON: one object, compared with `is`, that
    stays itself when records are pickled (to a worker process or a Ray task)."""

    def __reduce__(self) -> str:
        return "UNPARSED"

    def __repr__(self) -> str:
        return "UNPARSED"


UNPARSED: Any = _Unparsed()
"""`Record.value` when the bytes could not be parsed (a parse problem says why)."""


BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which readers drop from a file's start
PROGRESS_EVERY = 4096  # records between progress callbacks

Progress = Callable[[int], None]
"""`progress(position)`: the bytes of the file read so far."""
PlainCheck = Callable[[dict, bytes], int]
"""`plain(value, raw)`: the number of fields of a parsed object the caller only needs counted
(the linter's fast path for records no active rule can flag), else 0. Such an object is yielded
as a `Plain`, not a Record."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a reader or normaliser noticed; the check module named `rule` reports it."""

    rule: str
    field: str | None
    message: str
    fix: str | None = None


class Plain(NamedTuple):
    """A record the reader only counted (`readers.PlainCheck`): an object of `fields` string
    fields no active check can flag, at 1-based `line`, 0-based `index`. A tuple, because the
    fast path makes one per record."""

    line: int
    index: int
    fields: int


@dataclass(frozen=True, slots=True)
class Record:
    """Provenance plus the parsed value: `source:line` points back to the user's file."""

    source: str
    line: int  # 1-based line where the record starts
    index: int  # 0-based position among the records of its file
    value: Any  # the parsed JSON value, or UNPARSED
    raw: bytes  # the record's bytes as read (for rejects and hashing)
    problems: tuple[Problem, ...] = ()
