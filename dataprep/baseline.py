"""Baselines: accept the findings a dataset has today, and report only new ones.

A finding is keyed by its rule and the content hash of its record (not its line), so records
may move, and edits to a record show its findings again. Dataset-level findings are keyed by
rule, file name and message.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from dataprep.errors import DataprepError
from dataprep.findings import Finding

VERSION = 1


def record_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw.strip(), digest_size=10).hexdigest()


def key(finding: Finding, hashes: dict[tuple[str, int], str]) -> str:
    if finding.record is not None:
        digest = hashes.get((finding.path, finding.record))
        if digest is not None:
            return f"{finding.name}|{digest}"
    return f"{finding.name}|{Path(finding.path).name}|{finding.message}"


def write(path: str, findings: Iterable[Finding], hashes: dict[tuple[str, int], str]) -> int:
    counts = Counter(key(f, hashes) for f in findings)
    body = {"version": VERSION, "findings": dict(sorted(counts.items()))}
    Path(path).write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    return sum(counts.values())


def load(path: str) -> Counter:
    try:
        body = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise DataprepError(f"cannot read baseline: {exc.strerror}", path=path) from None
    except orjson.JSONDecodeError:
        raise DataprepError(
            "not a baseline file (invalid JSON)",
            path=path,
            fix="write one with dataprep lint --write-baseline FILE",
        ) from None
    if not isinstance(body, dict) or body.get("version") != VERSION:
        raise DataprepError(
            f"not a version-{VERSION} baseline file",
            path=path,
            fix="write one with dataprep lint --write-baseline FILE",
        )
    return Counter(body.get("findings", {}))


def new_only(
    findings: Iterable[Finding], accepted: Counter, hashes: dict[tuple[str, int], str]
) -> Iterator[Finding]:
    """Findings beyond those the baseline accepted (each accepted key absorbs its count)."""
    left = Counter(accepted)
    for finding in findings:
        k = key(finding, hashes)
        if left[k] > 0:
            left[k] -= 1
            continue
        yield finding
