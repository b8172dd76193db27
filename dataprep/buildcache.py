"""A build's cache: the key that decides whether a build is current, and publishing one.

The key hashes the inputs' bytes, the tokenizer files, the template, the processor config,
the rule pack and every option. A build writes into `<out>.partial-<key>` and renames it to
`<out>` only when complete (under `dataprep.buildlock`'s lock); each finished stage of a shard
leaves a marker (`save_marker`), so a killed build resumes where it stopped and never leaves a
half-written `<out>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dataprep import __version__, readers
from dataprep.errors import DataprepError

if TYPE_CHECKING:
    from dataprep.builder import Input, Options
    from dataprep.lengths import LengthSetup
    from dataprep.rulepack import PackArgs

SCHEMA = 1  # the layout of a build folder
RACY_NS = 2_000_000_000  # see Hashes


def file_hash(path: Path, digest=None) -> str:
    h = digest or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


@dataclass
class Hashes:
    """Content hashes remembered by the files' stat, as git's index remembers them: a file
    whose device, inode, size, mtime and ctime are what they were when it was hashed is not
    read again (a cached rebuild of a large dataset would otherwise spend most of its time
    re-reading it). ctime cannot be set back from user space (`touch -d` sets mtime), and a
    file changed less than RACY_NS before its hashing is always read again: a coarse
    filesystem clock could give a write just after the hashing the same times."""

    known: dict = field(default_factory=dict)  # what a build folder remembered ("hashes")
    at: int = field(default_factory=time.time_ns)  # when this run's hashing started
    seen: dict = field(default_factory=dict)  # this run's, to remember for the next

    def digest(self, paths: list[Path], compute: Callable[[], str]) -> str:
        name = "\0".join(str(p) for p in paths)
        stats = [_stat(Path(p)) for p in paths]
        old = self.known.get(name, {})
        if stats and old.get("stat") == stats and max(s[4] for s in stats) < old["at"] - RACY_NS:
            self.seen[name] = old
            return old["sha256"]
        self.seen[name] = {"stat": stats, "at": self.at, "sha256": compute()}
        return self.seen[name]["sha256"]

    def size(self, path: Path) -> int:
        """The size of a file digested on its own, from the stat taken with its hash."""
        return self.seen[str(path)]["stat"][0][2]

    @property
    def changed(self) -> bool:
        return self.seen != self.known


def input_files(inputs: list[Input]) -> list[Path]:
    files = []
    for item in inputs:
        for source in readers.expand(list(item.paths)):
            if source.path is None:
                raise DataprepError("build reads files, not stdin", fix="save the data to a file")
            files.append(source.path)
    return files


def rules_text(pack: PackArgs) -> str:
    """The rule packs that decide what is rejected, as text: the bundled packs (any pack may
    extend them), the named one, and the select/ignore lists."""
    from dataprep.resources import rules_dir

    parts = [p.read_text(encoding="utf-8") for p in sorted(rules_dir().glob("*.yaml"))]
    if pack.path:
        parts.append(Path(pack.path).read_text(encoding="utf-8"))
    parts.append(repr((pack.select, pack.ignore)))
    return "\n".join(parts)


def cache_key(
    inputs: list[Input],
    setup: LengthSetup,
    options: Options,
    pack: PackArgs,
    hashes: Hashes | None = None,
) -> tuple:
    """(key, input descriptions, tokenizer hash): everything that decides the shards."""
    hashes = hashes or Hashes()
    described = []
    for path in input_files(inputs):
        sha = hashes.digest([path], lambda path=path: file_hash(path))
        described.append({"path": str(path), "size": hashes.size(path), "sha256": sha})
    tokenizer = setup.tokenizer
    tokenizer_hash = hashes.digest(list(tokenizer.files), tokenizer.fingerprint)
    material = {
        "schema": SCHEMA,
        "dataprep": __version__,
        "inputs": [(d["path"], d["sha256"]) for d in described],
        "datasets": [
            [i.name, list(i.paths), repr(i.spec), i.num_samples, i.probability] for i in inputs
        ],
        "tokenizer": tokenizer_hash,
        "template": setup.template.source,
        "image_tokens": setup.image_tokens,
        "options": asdict(options),
        "rules": hashlib.sha256(rules_text(pack).encode()).hexdigest(),
    }
    # stdlib json, not orjson: a cached build then never imports orjson (its datetime and uuid)
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return key, described, tokenizer_hash


def publish(partial: Path, target: Path) -> None:
    """Swap the finished build in: `target` is always a whole build, old or new."""
    old = None
    if target.exists():
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        target.rename(old)
    partial.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_marker(path: Path, state: dict) -> None:
    """A stage of a shard is finished only once its marker exists."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def markers(partial: Path, prefix: str) -> set[int]:
    """The shard numbers with a `prefix` marker in a partial build."""
    return {int(p.stem.split("-")[1]) for p in partial.glob(f"{prefix}-*.json")}
