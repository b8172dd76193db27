"""The Finding value every check yields, and its stable ordering."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

# The contract field order of `--format json` (DESIGN.md, Findings).
FIELDS = ("path", "line", "record", "code", "name", "severity", "field", "message", "fix")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place. `line`/`record` are None for dataset-level findings."""

    path: str
    line: int | None
    record: int | None
    code: str
    name: str
    severity: Severity
    field: str | None
    message: str
    fix: str

    def as_dict(self) -> dict:
        return asdict(self)

    def shifted(self, lines: int, records: int) -> Finding:
        """The same finding with line and record offsets added (for `--jobs` chunks)."""
        if self.line is None:
            return self
        return Finding(
            self.path,
            self.line + lines,
            None if self.record is None else self.record + records,
            self.code,
            self.name,
            self.severity,
            self.field,
            self.message,
            self.fix,
        )


@dataclass(frozen=True, slots=True)
class Where:
    """An explicit location, for dataset-level hits (line None: the file as a whole)."""

    path: str
    line: int | None = None
    record: int | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """What a check found: the field, what is wrong and the fix. `where` None means the record
    being checked; the linter adds provenance and the pack's severity to make a Finding."""

    field: str | None
    message: str
    fix: str
    where: Where | None = None


def sort_key(f: Finding) -> tuple:
    """File order first, then line; dataset-level findings after the records of their file."""
    return (f.path, f.line is None, f.line or 0, f.record or 0, f.code)


def shorten(value: object, limit: int = 60) -> str:
    """A value as it may appear inside a message: repr-like, one line, at most `limit` chars."""
    if isinstance(value, str):
        text = value
    else:
        try:
            import orjson

            text = orjson.dumps(value).decode()
        except TypeError:
            text = repr(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"' if isinstance(value, str) else text
