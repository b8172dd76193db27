"""The Finding value every check yields, and its stable ordering."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Note:
    """A measurement for the run's summary rather than a problem (a dataset check's length
    ratios, a file's token lengths): `finish` may yield it beside its Hits."""

    text: str
