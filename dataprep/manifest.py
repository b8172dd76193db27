"""manifest.json: what a build holds and how it was made, and checking a build against it."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dataprep import __version__
from dataprep.buildcache import SCHEMA, file_hash

if TYPE_CHECKING:
    from dataprep.builder import Options
    from dataprep.lengths import LengthSetup


@dataclass
class Counts:
    read: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)  # rule name -> records
    rejected_records: int = 0
    fixed: Counter = field(default_factory=Counter)  # fixer -> records it changed
    truncated: Counter = field(default_factory=Counter)  # what the cutoff policy did, by case
    splits: Counter = field(default_factory=Counter)  # rows per split
    tokens: int = 0
    label_tokens: int = 0

    def add(self, other: dict) -> None:
        self.read += other["read"]
        self.kept += other["kept"]
        self.rejected.update(other["rejected"])
        self.rejected_records += other["rejected_records"]
        self.fixed.update(other.get("fixed", {}))
        self.truncated.update(other["truncated"])
        self.splits.update(other["splits"])
        self.tokens += other["tokens"]
        self.label_tokens += other["label_tokens"]

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "kept": self.kept,
            "rejected_records": self.rejected_records,
            "rejected": dict(self.rejected),
            "fixed": dict(self.fixed),
            "truncated": dict(self.truncated),
            "splits": dict(self.splits),
            "tokens": self.tokens,
            "label_tokens": self.label_tokens,
        }


def manifest(
    key: str,
    described: list,
    tokenizer_hash: str,
    setup: LengthSetup,
    options: Options,
    counts: Counts,
    folder: Path,
    rules: list[str],
) -> dict:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            files[str(path.relative_to(folder))] = {
                "size": path.stat().st_size,
                "sha256": file_hash(path),
            }
    return {
        "schema": SCHEMA,
        "dataprep": __version__,
        "key": key,
        "inputs": described,
        "tokenizer": {
            "name": setup.tokenizer.name,
            "sha256": tokenizer_hash,
            "estimate": setup.tokenizer.estimate,
        },
        "template": {
            "name": setup.template.name,
            "source": setup.template.source,
            "sha256": hashlib.sha256(setup.template.source.encode()).hexdigest(),
        },
        "image_tokens": setup.image_tokens,
        "cutoff_len": options.cutoff_len,
        "truncation": options.truncation,
        "masking": {
            "train_on_prompt": options.train_on_prompt,
            "mask_history": options.mask_history,
            "label_pair_history": options.label_pair_history,
            "label_turn_end": options.label_turn_end,
        },
        "packing": options.packing,
        "layout": options.layout,
        "options": asdict(options),
        "rules": rules,
        "counts": counts.as_dict(),
        "counts_raw": counts.as_dict(),  # what a cache hit reads back
        "files": files,
    }


def check(folder: str) -> list[str]:
    """Problems with a build folder against its manifest (empty: it is intact)."""
    root = Path(folder)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        return [f"{folder}: no manifest.json: not a dataprep build (or an unfinished one)"]
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        return [f"manifest.json is not valid JSON: {exc}"]
    problems = []
    for name, expect in manifest.get("files", {}).items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != expect["size"] or file_hash(path) != expect["sha256"]:
            problems.append(f"{name}: changed since the build (size or sha256 differ)")
    extra = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    extra -= set(manifest.get("files", {})) | {"manifest.json"}
    problems.extend(f"{name}: not part of the build" for name in sorted(extra))
    counts = manifest.get("counts", {})
    if counts.get("read") != counts.get("kept", 0) + counts.get("rejected_records", 0):
        problems.append("counts: read != kept + rejected")
    return problems
