"""Errors that stop a command. Bad *data* never raises: it becomes a Finding."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataprepError(Exception):
    """The tool could not do its job (exit 2). The CLI prints it once, never as a traceback."""

    message: str
    path: str | None = None
    line: int | None = None
    field: str | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = self.path or ""
        if self.path and self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" ({self.field})" if where else self.field
        text = f"{where}: {self.message}" if where else self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


@dataclass
class ConfigError(Exception):
    """Every problem found in one config or rule pack, reported together (exit code 2)."""

    source: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        # Each problem names its own file or flag; the head says what was being loaded.
        head = f"{self.source}: {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def closest(name: str, known) -> str | None:
    """The known name `name` is most likely a typo of, for a "did you mean" hint (or None)."""
    import difflib  # only error messages need it, and it is 1.4 ms of every start

    close = difflib.get_close_matches(name, list(known), n=1)
    return close[0] if close else None
