"""`dataprep clean`: apply the safe fixers, reject what cannot be fixed, account for every record.

Fixers work on the record's own text values (never on roles, types, paths or tool schemas), so
the output keeps the input's format and field order; a record no fixer touched is written back
byte for byte. After fixing, the record is linted again with the rule pack: a remaining error
finding rejects it under that rule's name, as does being an exact copy of an earlier record.
Cleaning twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson

from dataprep import readers
from dataprep import rejects as reject_rows
from dataprep.checks.images import references as image_references
from dataprep.engine import Plan, batches, sample_hits
from dataprep.errors import DataprepError
from dataprep.findings import Finding, Hit
from dataprep.fixers import Fixers, fixed_value
from dataprep.formats import Spec, normalise
from dataprep.images import MISSING, OUTSIDE, TOO_LARGE, UNREADABLE, ImageCache, cache_for
from dataprep.linter import finding, problem_errors, problem_findings
from dataprep.records import UNPARSED, Record
from dataprep.rulepack import Pack
from dataprep.sample import Sample


@dataclass
class Report:
    """What clean did: counts that always add up, by rule name."""

    read: int = 0
    written: int = 0
    rejected: Counter = field(default_factory=Counter)  # rule -> records rejected under it
    rejected_records: int = 0
    fixed: Counter = field(default_factory=Counter)  # fixer -> records it changed (kept or not)

    def check(self) -> None:
        if self.read != self.written + self.rejected_records:
            raise AssertionError(
                f"accounting broke: read {self.read} != written {self.written} + rejected "
                f"{self.rejected_records}"
            )


def clean(
    paths: list[str],
    out: BinaryIO | None,
    rejects: BinaryIO | None,
    pack: Pack,
    *,
    spec: Spec | None = None,
    array: bool = False,
    images: ImageCache | None = None,
) -> Report:
    """Clean every record of `paths` into `out` (JSONL, or a JSON array; None: a dry run that
    only counts), rejects as JSONL.

    Records whose images fail an image rule at error severity (missing, outside the root,
    unreadable, too large) are rejected like any other error; each file is opened once."""
    plan = Plan(pack)
    images = cache_for(plan, images)
    fixers = Fixers.from_pack(pack)
    report = Report()
    seen: dict[int, tuple[str, int]] = {}
    first = True
    array = array and out is not None
    if array:
        out.write(b"[")
    for source in readers.expand(paths):
        media = (images, images.root_for(source.display)) if images is not None else None
        for chunk in batches(readers.read_source(source)):
            items = [(record, spec, media) for record in chunk]
            for record, cleaned in zip(
                chunk, clean_records(items, plan, fixers, seen), strict=True
            ):
                report.read += 1
                first = _write(report, cleaned, record, out, rejects, array, first)
    if array:
        out.write(b"]\n")
    report.check()
    return report


def _write(report: Report, cleaned: Cleaned, record: Record, out, rejects, array: bool,
           first: bool) -> bool:  # fmt: skip
    """Count one cleaned record and write it where it goes; whether the next is the first."""
    kept, reasons, fixes, _, fixed = cleaned
    report.fixed.update(fixes)
    if kept is None:
        report.rejected_records += 1
        report.rejected.update({f.name for f in reasons})
        if rejects is not None:
            rejects.write(reject_rows.row(record, reasons, fixed, fixes))
        return first
    report.written += 1
    if out is None:  # a dry run
        return first
    if array:
        out.write(b"" if first else b",\n")
    out.write(kept)
    if not array:
        out.write(b"\n")
    return False


class Cleaned(NamedTuple):
    """One record through the fixers and the gate."""

    line: bytes | None  # the line to write, or None: rejected
    errors: list[Finding]  # the error findings that reject it
    fixes: list[str]  # the fixers that changed it (also when it is then rejected)
    sample: Sample | None  # the cleaned Sample of a kept record
    fixed: Any  # what the fixers made of it, when they changed it (else None)


def clean_records(
    items: list[tuple[Record, Spec | None, tuple[ImageCache, Path] | None]],
    plan: Plan,
    fixers: Fixers | None,
    seen: dict,
) -> list[Cleaned]:
    """A batch of (record, spec, media) through the fixers (on copies; none when `fixers` is
    None) and the gate: the engine's record checks at error severity, then the image files,
    then exact duplicates (`seen` holds the content keys of the records kept so far)."""
    from dataprep.columns import Batch

    prepared = [_prepare(record, plan, spec, fixers) for record, spec, _ in items]
    batch = Batch([p[1] if not p[4] else None for p in prepared])
    hits = sample_hits(plan, batch, errors_only=True)
    keys = batch.content_keys
    found = []
    copy_rule = plan.pack.settings["exact-duplicate"]
    for (record, sample, fixes, fixed, errors), (_, spec, media), mine, key in zip(
        prepared, items, hits, keys, strict=True
    ):
        if sample is None and not errors:  # no format, at a severity that keeps it: as read
            found.append(_kept(record, None, fixes, fixed))
            continue
        if errors:
            found.append(Cleaned(None, errors, fixes, None, fixed))
            continue
        errors = [finding(s, h, record.source, record.line, record.index) for s, h in mine]
        if media is not None and sample.images:
            errors.extend(_image_errors(record, sample, plan, spec, *media))
        if errors:
            found.append(Cleaned(None, errors, fixes, None, fixed))
            continue
        if key in seen:
            source, line = seen[key]
            hit = Hit(None, f"the same record as {source}:{line}", "keep the first copy")
            copy = finding(copy_rule, hit, record.source, record.line, record.index)
            found.append(Cleaned(None, [copy], fixes, None, fixed))
            continue
        seen[key] = (record.source, record.line)
        found.append(_kept(record, sample, fixes, fixed))
    return found


def _prepare(record: Record, plan: Plan, spec: Spec | None, fixers: Fixers | None) -> tuple:
    """(record as fixed, its Sample, fixer names, fixed value or None, errors so far)."""
    errors = problem_errors(record, plan) if record.problems else []
    if errors or record.value is UNPARSED:
        return record, None, [], None, errors or _unreadable(record)
    sample, problems = normalise(record, spec)
    obj, fixes = fixed_value(record, sample, plan, fixers)
    fixed = obj if fixes else None
    if fixes:
        record = Record(record.source, record.line, record.index, obj, record.raw)
        sample, problems = normalise(record, spec)
    errors = [
        f
        for p in problems
        for f in problem_findings(plan, p, record.source, record.line, record.index)
        if f.severity == "error"
    ]
    return record, sample, fixes, fixed, errors


def _kept(record: Record, sample: Sample | None, fixes: list[str], fixed: Any) -> Cleaned:
    raw = record.raw.strip()
    if fixes or b"\n" in raw:  # changed, or a pretty-printed array element: one line of JSON
        raw = orjson.dumps(record.value)
    return Cleaned(raw, [], fixes, sample, fixed)


IMAGE_RULES = {
    MISSING: "missing-image",
    OUTSIDE: "image-outside-root",
    UNREADABLE: "unreadable-image",
    TOO_LARGE: "image-too-large",
}


def _image_errors(
    record: Record, sample, plan: Plan, spec: Spec | None, cache: ImageCache, root: Path
) -> list[Finding]:
    key = spec.images if spec is not None and spec.images else "images"
    refs = image_references(record, sample, key)
    results = cache.check([ref for ref, _ in refs], root)
    errors = []
    for ref, where in refs:
        info = results[ref]
        setting = plan.by_problem.get(IMAGE_RULES.get(info.status, ""))
        if setting is not None and setting.severity == "error":
            hit = Hit(where, f"{ref!r}: {info.detail}", "")
            errors.append(finding(setting, hit, record.source, record.line, record.index))
    return errors


def _unreadable(record: Record) -> list[Finding]:
    return [
        Finding(record.source, record.line, record.index, "PA01", "invalid-json", "error", None,
                "the record could not be read", "fix the line")
    ]  # fmt: skip


def open_output(path: str) -> BinaryIO:
    target = Path(path)
    if target.exists() and target.is_dir():
        raise DataprepError("output is a directory", path=path, fix="name a file")
    try:
        return open(target, "wb")
    except OSError as exc:
        raise DataprepError(
            f"cannot write: {exc.strerror}",
            path=path,
            fix="create the folder first, or choose a path you can write to",
        ) from None
