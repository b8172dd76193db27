"""Formatters: findings to text (for people), JSON Lines, GitHub annotations, or parsable lines.

Formatters consume the finding stream and count; they never decide what is wrong.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

import orjson

from dataprep import checks
from dataprep.findings import SEVERITY_RANK, Finding
from dataprep.linter import Summary

OUTPUT_FORMATS = ("text", "json", "github", "parsable")

_COLOURS = {"error": "31", "warning": "33", "info": "36", "dim": "2", "bold": "1"}


@dataclass
class Tally:
    """Counts by severity and by rule, kept while findings stream past."""

    severity: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)

    def add(self, f: Finding) -> None:
        self.severity[f.severity] += 1
        self.rules[f.name] += 1


def use_colour(choice: str, stream: TextIO) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


def write(
    findings: Iterable[Finding],
    summary: Summary,
    fmt: str,
    out: TextIO = sys.stdout,
    *,
    colour: bool = False,
    examples: int = 3,
) -> Tally:
    """Write every finding in `fmt`; returns the tally (for the exit code)."""
    tally = Tally()
    if fmt == "text":
        _text(findings, summary, out, tally, colour, examples)
        return tally
    line = {"json": _json_line, "github": _github_line, "parsable": _parsable_line}[fmt]
    for f in findings:
        tally.add(f)
        out.write(line(f))
    out.flush()
    return tally


def _json_line(f: Finding) -> str:
    return (
        orjson.dumps(
            {
                "path": f.path,
                "line": f.line,
                "record": f.record,
                "code": f.code,
                "name": f.name,
                "severity": f.severity,
                "field": f.field,
                "message": f.message,
                "fix": f.fix,
            }
        ).decode()
        + "\n"
    )


def _github_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _github_line(f: Finding) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}[f.severity]
    props = [f"file={_github_escape(f.path, True)}"]
    if f.line is not None:
        props.append(f"line={f.line}")
    props.append(f"title={_github_escape(f'{f.name} ({f.code})', True)}")
    where = f"{f.field}: " if f.field else ""
    body = _github_escape(f"{where}{f.message}. Fix: {f.fix}")
    return f"::{level} {','.join(props)}::{body}\n"


def _parsable_line(f: Finding) -> str:
    line = f.line if f.line is not None else ""
    return f"{f.path}:{line}:{f.field or ''}: [{f.severity}] {f.message} ({f.code} {f.name})\n"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _paint(text: str, style: str, colour: bool) -> str:
    return f"\033[{_COLOURS[style]}m{text}\033[0m" if colour else text


def _text(
    findings: Iterable[Finding],
    summary: Summary,
    out: TextIO,
    tally: Tally,
    colour: bool,
    examples: int,
) -> None:
    first: dict[str, list[Finding]] = {}
    for f in findings:
        tally.add(f)
        kept = first.setdefault(f.name, [])
        if len(kept) < examples:
            kept.append(f)
    for stats in summary.files:
        parts = [f"{fmt} {kind} ×{n:,}" for (fmt, kind), n in stats.formats.most_common()]
        unread = stats.records - sum(stats.formats.values())
        if unread:
            parts.append(f"{unread:,} unreadable")
        detail = f" ({', '.join(parts)})" if parts else ""
        out.write(_paint(f"{stats.path}: {_count(stats.records, 'record')}{detail}", "dim", colour))
        out.write("\n")
    for note in summary.notes:
        out.write(f"{note}\n")
    if first:
        out.write("\n")
    order = sorted(first, key=lambda n: (SEVERITY_RANK[first[n][0].severity], -tally.rules[n], n))
    for name in order:
        sample = first[name]
        head = sample[0]
        doc = (checks.get(name).__doc__ or "").strip().splitlines()[0]
        out.write(
            f"{_paint(f'{head.severity:<7}', head.severity, colour)} "
            f"{_paint(f'{head.code} {name}', 'bold', colour)} ×{tally.rules[name]:,}  {doc}\n"
        )
        one_fix = len({f.fix for f in sample}) == 1
        for f in sample:
            where = f.path if f.line is None else f"{f.path}:{f.line}"
            field_text = f" {f.field}:" if f.field else ""
            out.write(f"    {_paint(where, 'dim', colour)}{field_text} {f.message}\n")
            if not one_fix:
                out.write(f"      fix: {f.fix}\n")
        more = tally.rules[name] - len(sample)
        if more > 0:
            out.write(f"    … and {more:,} more\n")
        if one_fix:
            out.write(f"    fix: {head.fix}\n")
    if not summary.files and not first:
        out.flush()
        return  # nothing was read: the errors on stderr say everything
    counts = tally.severity
    files = len(summary.files)
    errors = _count(counts["error"], "error")
    parts = [
        _paint(errors, "error", colour) if counts["error"] else errors,
        _count(counts["warning"], "warning"),
        f"{counts['info']:,} info",
    ]
    records = _count(summary.records, "record")
    out.write(f"\n{records} in {_count(files, 'file')}: {', '.join(parts)}\n")
    if summary.skipped:
        out.write(
            _paint(
                f"skipped {len(summary.skipped)} dataset_info entries without a local file_name\n",
                "dim",
                colour,
            )
        )
    out.flush()
