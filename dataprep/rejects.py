"""rejects.jsonl: one row per record a command dropped, and what a build's rejects say.

A row keeps the record exactly as it was read, so it can be found and repaired, with its rule
names, reasons and fixes; what the fixers would have made of it stands apart.
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from dataprep.findings import Finding
from dataprep.records import UNPARSED, Record


def row(
    record: Record, reasons: list[Finding], fixed: Any = None, fixes: list[str] | None = None
) -> bytes:
    """One rejects.jsonl row: where the record is, why it was rejected, how to fix it, and the
    record exactly as read (`raw`: its text, `value`: as parsed), never as the fixers changed
    it; what the fixers would have made of it is `fixed` (with `fixed_by`), apart."""
    raw = record.raw.strip()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # kept byte for byte, as base64
        text = None
    row = {
        "path": record.source,
        "line": record.line,
        "record": record.index,
        "rules": sorted({f.name for f in reasons}),
        "reasons": [f"{f.name}: {f.message}" for f in reasons],
        "fixes": sorted({f.fix for f in reasons if f.fix}),
        "value": record.value if record.value is not UNPARSED else text,
    }
    if text is not None:
        row["raw"] = text
    else:
        row["raw_base64"] = base64.b64encode(raw).decode("ascii")
    if fixes:
        row["fixed"] = fixed
        row["fixed_by"] = fixes
    return orjson.dumps(row) + b"\n"


def verdict(
    read: int, kept: int, rejected: Counter, path: Path, max_rejected: float | None
) -> list[str] | None:
    """Why a build failed (no record kept, or more rejected than `max_rejected`), with its top
    three rejection rules, each with a first example and its fix; None when it did not."""
    share = (read - kept) / read if read else 0.0
    if not kept:
        head = f"the build kept no record (read {read:,})"
    elif max_rejected is not None and share > max_rejected:
        head = f"{share:.1%} of the records were rejected, over --max-rejected {max_rejected:g}"
    else:
        return None
    lines = [f"{head}; the top rejection rules:"]
    top = [rule for rule, _ in rejected.most_common(3)]
    first = _first_per_rule(path, top)
    for rule in top:
        row = first.get(rule, {})
        where = f"{row.get('path')}:{row.get('line')}"
        lines.append(f"  {rule} ×{rejected[rule]:,}, e.g. {where}: {row.get('reason', '')}")
        if row.get("fix"):
            lines.append(f"    fix: {row['fix']}")
    lines.append(f"  every rejected record, why and its fix: {path}")
    return lines


def _first_per_rule(path: Path, rules: list[str]) -> dict[str, dict]:
    """The first rejects.jsonl row of each rule (read only as far as needed)."""
    found: dict[str, dict] = {}
    with open(path, "rb") as f:
        for line in f:
            row = orjson.loads(line)
            for rule, reason in zip(row["rules"], row["reasons"], strict=False):
                if rule in rules and rule not in found:
                    fix = row["fixes"][0] if row["fixes"] else ""
                    found[rule] = {"path": row["path"], "line": row["line"],
                                   "reason": reason.split(": ", 1)[-1], "fix": fix}  # fmt: skip
            if len(found) == len(rules):
                break
    return found
