"""The stages of a build: generator functions over batches of records, one job each.

    read -> gate -> admit -> split -> pair_kto -> render -> tokenize -> cut -> write

`dataprep.builder` connects them. Each stage passes on the records it keeps and hands the ones it
rejects to the shard's `Ledger` with a reason, so read == kept + rejected holds stage by stage.
`Timings` measures each stage's own seconds (not those of the stages it pulls from).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataprep import readers
from dataprep import rejects as reject_rows
from dataprep.images import image_root
from dataprep.kto import kto_pair
from dataprep.manifest import Counts
from dataprep.records import Record
from dataprep.rows import row
from dataprep.sample import Sample
from dataprep.truncation import NO_LABELS

if TYPE_CHECKING:
    from dataprep.builder import Input, Options
    from dataprep.encode import Encoder
    from dataprep.engine import Plan
    from dataprep.fixers import Fixers

KINDS = ("sft", "dpo", "kto")  # the kinds of record a build writes
AHEAD = 2  # batches in the tokenizer's queue: its start-up (the vocabulary) is hidden too

# What to do about a record the build itself rejects (the linter's rules carry their own fix).
FIXES = {
    "unknown-format": "make it an SFT or preference record, or build it with its own kind",
    "mixed-format": "build SFT and preference data into separate folders",
    "template-mismatch": "use a template that keeps message text as written (--template)",
    "exceeds-cutoff": "raise --cutoff-len, use --truncation truncate-answer, or shorten it",
    NO_LABELS: "raise --cutoff-len, use --truncation truncate-prompt, or shorten the prompt",
    "identical-pair": "raise --cutoff-len so the answers' difference fits, or drop the pair",
}


@dataclass(slots=True)
class Item:
    """One record on its way through the stages."""

    record: Record
    source: Input  # the dataset it was read from
    at: int  # its position in its shard
    sample: Sample | None = None
    fixes: list[str] = field(default_factory=list)
    fixed: Any = None  # the record as the fixers changed it (None: unchanged)
    validation: bool = False
    plan: list | None = None  # per rendered sequence: (text number, message spans, text)
    sequences: list | None = None  # one Encoded per sequence (two for a pair)


@dataclass
class Ledger:
    """What one shard's stages kept and rejected: the counts, and a rejects.jsonl row for each
    rejected record."""

    counts: Counts = field(default_factory=Counts)
    rejects: list[bytes] = field(default_factory=list)

    def reject(self, item: Item, reasons: list) -> None:
        self.counts.rejected_records += 1
        self.counts.rejected.update({f.name for f in reasons})
        self.rejects.append(reject_rows.row(item.record, reasons, item.fixed, item.fixes))

    def refuse(self, item: Item, name: str, message: str) -> None:
        """Reject under one of the build's own rules (FIXES says what to do)."""
        self.reject(item, [finding(item.record, name, message)])


def finding(record: Record, name: str, message: str):
    from dataprep.checks import get
    from dataprep.findings import Finding

    code = get(name).CODE
    return Finding(record.source, record.line, record.index, code, name, "error", None, message,
                   FIXES[name])  # fmt: skip


@dataclass
class Layout:
    """What the shards hold, decided by the first record kept."""

    kind: str | None = None
    images: bool = False


class Timings:
    """Seconds per stage: the time a stage spends producing its batches, less the time the
    stages it pulls from spent in the meantime."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()
        self._counted = 0.0

    def stage(self, name: str, batches: Iterable) -> Iterator:
        batches = iter(batches)
        while True:
            started, before = time.perf_counter(), self._counted
            try:
                batch = next(batches)
            except StopIteration:
                self._own(name, started, before)
                return
            self._own(name, started, before)
            yield batch

    def consume(self, name: str, sink: Callable[[], None]) -> None:
        """Run the last stage (it pulls everything before it) and count its own time."""
        started, before = time.perf_counter(), self._counted
        sink()
        self._own(name, started, before)

    def _own(self, name: str, started: float, before: float) -> None:
        own = time.perf_counter() - started - (self._counted - before)
        self.seconds[name] += own
        self._counted += own


# --- the stages ------------------------------------------------------------------------------


def read(inputs: list[Input], options: Options) -> Iterator[tuple[Input, Record]]:
    """Every record to build from, datasets mixed as asked (deterministic with the seed)."""

    def one(item: Input) -> Iterator[tuple[Input, Record]]:
        n = 0
        for source in readers.expand(list(item.paths)):
            for record in readers.read_source(source):
                if item.num_samples is not None and n >= item.num_samples:
                    return
                n += 1
                yield item, record

    if options.mix == "concat" or len(inputs) == 1:
        for item in inputs:
            yield from one(item)
        return
    rng = random.Random(options.seed)
    streams = [one(item) for item in inputs]
    weights = [item.probability if item.probability is not None else 1.0 for item in inputs]
    while True:  # interleave until the first dataset runs out (datasets' first_exhausted)
        k = rng.choices(range(len(streams)), weights=weights)[0]
        try:
            yield next(streams[k])
        except StopIteration:
            return


def shards(records: Iterator, size: int) -> Iterator[list]:
    """The records `size` at a time (one shard, maybe empty, when there are none)."""
    shard: list = []
    count = 0
    for record in records:
        shard.append(record)
        if len(shard) >= size:
            yield shard
            shard, count = [], count + 1
    if shard or count == 0:
        yield shard


def slices(records: list[tuple[Input, Record]], size: int) -> Iterator[list[Item]]:
    """A shard's records, `size` at a time."""
    for at in range(0, len(records), size):
        yield [Item(record, item, at + k) for k, (item, record) in
               enumerate(records[at : at + size])]  # fmt: skip


def gate(
    batches: Iterable[list[Item]],
    plan: Plan,
    fixers: Fixers | None,
    seen: dict,
    new_seen: list,
    media: Callable[[Input], object],
    ledger: Ledger,
) -> Iterator[list[Item]]:
    """The safe fixers (on copies; none under --fix none), then the batched engine's record
    checks at error severity, the image files and exact duplicates (`seen`: the content keys
    kept so far; `new_seen` gets this shard's). Rejects carry the rules' findings."""
    from dataprep import clean

    for batch in batches:
        items = []
        for item in batch:
            cache = media(item.source)
            where = (cache, cache.root_for(item.record.source)) if cache is not None else None
            items.append((item.record, item.source.spec, where))
        before = len(seen)
        results = clean.clean_records(items, plan, fixers, seen)
        new_seen.extend(reversed(list(islice(reversed(seen.items()), len(seen) - before))))
        kept = []
        for item, (value, reasons, fixes, sample, fixed) in zip(batch, results, strict=True):
            ledger.counts.read += 1
            ledger.counts.fixed.update(fixes)
            item.fixes, item.fixed, item.sample = fixes, fixed, sample
            if value is None or sample is None:
                ledger.reject(item, reasons or [
                    finding(item.record, "unknown-format", "no record to train on")])  # fmt: skip
                continue
            kept.append(item)
        yield kept


def admit(batches: Iterable[list[Item]], layout: Layout, ledger: Ledger) -> Iterator[list[Item]]:
    """Records of the kinds a build writes, all of the build's kind (the first record's)."""
    for batch in batches:
        kept = []
        for item in batch:
            kind = item.sample.kind
            if kind not in KINDS:
                why = f"{kind} records are not built (sft, dpo and kto are)"
                ledger.refuse(item, "unknown-format", why)
                continue
            if layout.kind is None:
                layout.kind, layout.images = kind, bool(item.sample.images)
            elif kind != layout.kind:
                why = f"a {kind} record in a {layout.kind} build: build separately"
                ledger.refuse(item, "mixed-format", why)
                continue
            kept.append(item)
        yield kept


def pair_kto(
    batches: Iterable[list[Item]], kl: Callable[[], list[str | None]], ledger: Ledger
) -> Iterator[list[Item]]:
    """A KTO record becomes the pair of its answer and its KL completion (`kl()`: the shard's
    KL completions by position, read the first time a KTO record needs them)."""
    for batch in batches:
        kept = []
        for item in batch:
            if item.sample.kind == "kto":
                pair = kto_pair(item.sample, kl()[item.at])
                if pair is None:
                    why = "a KTO record ends with its answer; this one does not"
                    ledger.refuse(item, "unknown-format", why)
                    continue
                item.sample = pair
            kept.append(item)
        yield kept


def split(batches: Iterable[list[Item]], options: Options) -> Iterator[list[Item]]:
    """Marks the validation records: a hash of the seed and the content decides, so the split
    does not depend on order or on the other records."""
    for batch in batches:
        if options.val_size > 0:
            for item in batch:
                item.validation = _validation(item.sample, options)
        yield batch


def _validation(sample: Sample, options: Options) -> bool:
    digest = hashlib.blake2b(
        str(options.seed).encode() + sample.content_key, digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64 < options.val_size


def render(
    batches: Iterable[list[Item]], encoder: Encoder, ledger: Ledger
) -> Iterator[tuple[list[Item], list[str]]]:
    """Each sample through the chat template: (the batch, the texts to encode)."""
    for batch in batches:
        texts, plans = encoder.prepare([item.sample for item in batch])
        kept = []
        for item, plan in zip(batch, plans, strict=True):
            if isinstance(plan, str):  # the template refused it, or rewrote an answer
                ledger.refuse(item, "template-mismatch", plan)
                continue
            item.plan = plan
            kept.append(item)
        yield kept, texts


def tokenize(
    batches: Iterable[tuple[list[Item], list[str]]], encoder: Encoder, pool
) -> Iterator[list[Item]]:
    """The texts encoded in `pool`'s thread (Rust, the GIL released), up to AHEAD batches
    ahead: while it encodes one batch (or, at the start, loads the vocabulary), the stages
    before render the next ones and the stages after cut the previous one. Each item gets
    its sequences, with token spans of messages and images."""
    pending: deque = deque()
    for batch, texts in batches:
        pending.append((batch, pool.submit(encoder.tokenize, texts)))
        if len(pending) > AHEAD:
            yield _placed(encoder, *pending.popleft())
    while pending:
        yield _placed(encoder, *pending.popleft())


def _placed(encoder: Encoder, batch: list[Item], future) -> list[Item]:
    placed = encoder.place([item.plan for item in batch], future.result())
    for item, sequences in zip(batch, placed, strict=True):
        item.sequences, item.plan = sequences, None
    return batch


def cut(
    batches: Iterable[list[Item]],
    encoder: Encoder,
    options: Options,
    cutoff: int,
    layout: Layout,
    ledger: Ledger,
) -> Iterator[list[tuple[Item, dict]]]:
    """Labels, the cutoff policy and columns: (item, row) for each record that still trains on
    something (the rest are rejected with the policy's reason). `layout`: the build's, decided
    by admit as the first record passes."""
    roots: dict[tuple, Path] = {}
    for batch in batches:
        rows = []
        for item in batch:
            where = (item.source.image_root, item.record.source)
            if where not in roots:
                roots[where] = image_root(*where).resolve()
            made = row(item.sample, item.sequences, encoder, cutoff, options, ledger.counts,
                       roots[where], layout.kind)  # fmt: skip
            if isinstance(made, tuple):  # (rule, why)
                ledger.reject(item, [finding(item.record, *made)])
                continue
            rows.append((item, made))
        yield rows


def write(
    batches: Iterable[list[tuple[Item, dict]]], writer: Callable[[str], object], ledger: Ledger
) -> None:
    """Each row into its split's shard file (`writer(split)` opens it the first time)."""
    writers: dict[str, object] = {}
    for rows in batches:
        for item, made in rows:
            split = "validation" if item.validation else "train"
            if split not in writers:
                writers[split] = writer(split)
            writers[split].add(made)
            ledger.counts.kept += 1
    for split, opened in writers.items():
        opened.close()
        ledger.counts.splits[split] += opened.count
