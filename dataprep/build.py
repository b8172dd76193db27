"""`dataprep build`: raw files to tokenized, label-masked Arrow shards, in a cache never stale.

Stages, streamed a batch at a time: read -> normalise -> clean and gate (dataprep.clean: the
fixers, then records with error findings are rejected under those rule names) -> render with
the chat template -> batch-encode -> labels from character offsets -> `<image>` expansion ->
the cutoff policy (dataprep.truncation) -> Arrow shards. Output follows DESIGN.md's build
contract: a folder `datasets.load_from_disk` opens (LLaMA-Factory's column names, so it also
works as its `tokenized_path`), `manifest.json` and `rejects.jsonl`, with read == kept +
rejected.

The cache key hashes the inputs' bytes, the tokenizer files, the template, the processor
config, the rule pack and every option. A build writes into `<out>.partial-<key>` and renames
it to `<out>` only when complete, under a lock; each finished shard leaves a marker, so a
killed build resumes where it stopped and never leaves a half-written `<out>`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from dataprep import __version__, buildlock, readers
from dataprep import rejects as reject_rows
from dataprep.errors import DataprepError
from dataprep.formats import Spec
from dataprep.images import image_root
from dataprep.lengths import (
    LengthSetup,
    Meter,
    message_spans,
    rendered,
    stop_tokens,
    token_at,
)
from dataprep.records import Record
from dataprep.sample import Sample
from dataprep.truncation import NO_LABELS, POLICIES, Encoded, fit_pair_prompt, truncate

if TYPE_CHECKING:  # the cache-hit path imports none of these (nor the rule registry)
    from dataprep import clean
    from dataprep.engine import Plan
    from dataprep.images import ImageCache
    from dataprep.rulepack import PackArgs

SCHEMA = 1
ENCODE_BATCH = 1024  # sequences encoded together: all cores busy, memory bounded
TRUNCATION = POLICIES
FIX = ("safe", "none")
LAYOUTS = ("llamafactory", "trl")
IMAGE = "<image>"
MEDIA = ("images", "videos", "audios")  # the media columns of every build, as LLaMA-Factory's
IMAGE_TOKENS = ("<image>", "<|image_pad|>")  # the token an <image> expands to, if the vocab has one
KINDS = ("sft", "dpo", "kto")  # the kinds of record a build writes
# LLaMA-Factory's preprocessing_batch_size: a KTO record's KL completion is the answer of the
# record before it in a batch of this many (the first's: the batch's last).
KL_BLOCK = 1000


@dataclass(frozen=True)
class Input:
    """One dataset to build from: files (or folders), how to read them, how many records."""

    paths: tuple[str, ...]
    name: str = ""
    spec: Spec | None = None
    num_samples: int | None = None  # the first N records read
    probability: float | None = None  # for interleave mixing
    image_root: str | None = None


@dataclass(frozen=True)
class Options:
    """Everything that changes the shards (all of it goes into the cache key)."""

    cutoff_len: int | None = None  # None: auto, the recommended cutoff_len
    truncation: str = "truncate-answer"
    train_on_prompt: bool = False
    mask_history: bool = False
    label_turn_end: bool = False  # label the line break after the end-of-turn token too
    label_pair_history: bool = False  # pairs: label the prompt's earlier answers too (the old way)
    packing: bool = False
    val_size: float = 0.0
    seed: int = 42
    mix: str = "concat"  # or interleave
    shard_size: int = 10_000  # records read per shard
    fix: str = "safe"  # safe: the clean fixers rewrite text first; none: records only gated
    layout: str = "llamafactory"  # or trl: the columns TRL's trainers take pre-tokenized


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


@dataclass
class Result:
    out: Path
    key: str
    reused: bool
    counts: Counts
    seconds: float
    manifest: dict


# --- the cache key ---------------------------------------------------------------------------


def _file_hash(path: Path, digest=None) -> str:
    h = digest or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def input_files(inputs: list[Input]) -> list[Path]:
    files = []
    for item in inputs:
        for source in readers.expand(list(item.paths)):
            if source.path is None:
                raise DataprepError("build reads files, not stdin", fix="save the data to a file")
            files.append(source.path)
    return files


def _rules_text(pack: PackArgs) -> str:
    """The rule packs that decide what is rejected, as text: the bundled packs (any pack may
    extend them), the named one, and the select/ignore lists."""
    from dataprep.resources import rules_dir

    parts = [p.read_text(encoding="utf-8") for p in sorted(rules_dir().glob("*.yaml"))]
    if pack.path:
        parts.append(Path(pack.path).read_text(encoding="utf-8"))
    parts.append(repr((pack.select, pack.ignore)))
    return "\n".join(parts)


def cache_key(inputs: list[Input], setup: LengthSetup, options: Options, pack: PackArgs) -> tuple:
    """(key, input descriptions, tokenizer hash): everything that decides the shards."""
    described = []
    for path in input_files(inputs):
        described.append(
            {"path": str(path), "size": path.stat().st_size, "sha256": _file_hash(path)}
        )
    tokenizer_hash = setup.tokenizer.fingerprint()
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
        "rules": hashlib.sha256(_rules_text(pack).encode()).hexdigest(),
    }
    key = hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return key, described, tokenizer_hash


# --- encoding one record ---------------------------------------------------------------------


class Encoder:
    """Renders and tokenizes samples in batches; labels and images are added per sequence."""

    def __init__(self, setup: LengthSetup, options: Options):
        self.setup = setup
        self.options = options
        self.backend = setup.tokenizer.backend
        self.template = setup.template
        self.stops = stop_tokens(setup.tokenizer)
        self.eos_id = None
        for stop in self.stops:
            token = self.backend.token_to_id(stop)
            if token is not None:
                self.eos_id = token
                break
        self.image_id = next(
            (t for t in map(self.backend.token_to_id, IMAGE_TOKENS) if t is not None), None
        )

    def prepare(self, samples: list[Sample]) -> tuple[list[str], list]:
        """Render every conversation and find its messages (Python): the texts to encode,
        and per sample its plan, or why it cannot be encoded."""
        texts: list[str] = []
        plans: list = []
        for sample in samples:
            try:
                conversations = [(self.template.render(m, tools=t), m) for m, t in rendered(sample)]
            except Exception as exc:
                plans.append(f"the template refused the record: {type(exc).__name__}: {exc}")
                continue
            plan: list | str = []
            for text, messages in conversations:
                spans = message_spans(text, messages, self.stops, self.options.label_turn_end)
                if spans is None:
                    plan = "the template rewrote an answer, so its labels cannot be placed"
                    break
                plan.append((len(texts), spans, text))
                texts.append(text)
            plans.append(plan)
        return texts, plans

    def tokenize(self, texts: list[str]) -> list:
        """The Rust part (all cores, the GIL released): it may run beside `prepare`."""
        return self.backend.encode_batch(texts, add_special_tokens=False) if texts else []

    def place(self, plans: list, encodings: list) -> list[list[Encoded] | str]:
        """Per sample: one Encoded per sequence (two for a pair), or why it cannot be encoded."""
        out: list = []
        for plan in plans:
            if isinstance(plan, str):
                out.append(plan)
                continue
            sequences = []
            for k, spans, text in plan:
                encoding = encodings[k]
                token_spans = []
                for role, start, end, _ in spans:
                    first = token_at(encoding, start, end, forward=True)
                    last = token_at(encoding, start, end, forward=False)
                    if first is None or last is None:
                        token_spans.append((role, first or 0, first or 0))
                    else:
                        token_spans.append((role, first, last + 1))
                images = []
                at = text.find(IMAGE)
                while at >= 0:
                    first = token_at(encoding, at, at + len(IMAGE), forward=True)
                    last = token_at(encoding, at, at + len(IMAGE), forward=False)
                    if first is not None and last is not None:
                        images.append((first, last + 1))
                    at = text.find(IMAGE, at + len(IMAGE))
                sequences.append(Encoded(encoding.ids, token_spans, images))
            out.append(sequences)
        return out

    def encode(self, samples: list[Sample]) -> list[list[Encoded] | str]:
        texts, plans = self.prepare(samples)
        return self.place(plans, self.tokenize(texts))


def expand_images(seq: Encoded, count: int | None, image_id: int | None) -> Encoded:
    """Replace each <image> placeholder's tokens with `count` image tokens (spans follow)."""
    if not seq.images or not count or image_id is None:
        return seq
    ids: list[int] = []
    shift: list[tuple[int, int]] = []  # (old position, added before it)
    new_images = []
    cursor = added = 0
    for start, end in seq.images:
        ids.extend(seq.ids[cursor:start])
        new_images.append((len(ids), len(ids) + count))
        ids.extend([image_id] * count)
        added += count - (end - start)
        shift.append((end, added))
        cursor = end
    ids.extend(seq.ids[cursor:])

    def moved(position: int) -> int:
        extra = 0
        for old, total in shift:
            if position >= old:
                extra = total
        return position + extra

    spans = [(role, moved(a), moved(b)) for role, a, b in seq.spans]
    return Encoded(ids, spans, new_images)


def labels_for(seq: Encoded, options: Options, pair: bool = False) -> list[int]:
    """The answers' tokens (and their end-of-turn), -100 elsewhere. A preference pair's
    labels are its final answer only: the earlier answers are prompt, masked as LLaMA-Factory
    and TRL mask them (unless label_pair_history)."""
    if options.train_on_prompt:
        return list(seq.ids)
    labels = [-100] * len(seq.ids)
    answers = [(a, b) for role, a, b in seq.spans if role == "assistant"]
    if options.mask_history or (pair and not options.label_pair_history):
        answers = answers[-1:]
    for a, b in answers:
        labels[a:b] = seq.ids[a:b]
    return labels


# --- writing ---------------------------------------------------------------------------------


class ShardWriter:
    """Rows of one split into one Arrow IPC stream file (what datasets' save_to_disk writes),
    a record batch of `batch` rows at a time, so memory does not grow with the shard."""

    def __init__(self, path: Path, schema, batch: int = 512):
        import pyarrow as pa

        self.pa = pa
        self.path = path
        self.schema = schema
        self.batch = batch
        self.rows: dict[str, list] = {name: [] for name in schema.names}
        self.count = 0
        self.tmp = path.with_suffix(".tmp")
        self.sink = pa.OSFile(str(self.tmp), "wb")
        self.writer = pa.ipc.new_stream(self.sink, schema)

    def add(self, row: dict) -> None:
        for name, values in self.rows.items():
            values.append(row[name])
        self.count += 1
        if len(self.rows[self.schema.names[0]]) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self.rows[self.schema.names[0]]:
            self.writer.write_batch(self.pa.RecordBatch.from_pydict(self.rows, schema=self.schema))
            for values in self.rows.values():
                values.clear()

    def close(self) -> None:
        self._flush()
        self.writer.close()
        self.sink.close()
        self.tmp.replace(self.path)


class Packer:
    """Greedy packing into rows of at most `cutoff` tokens, streamed: position ids restart per
    sequence and attention_mask numbers the sequences (1, 2, ...), so attention can stay
    within each."""

    def __init__(self, writer: ShardWriter, cutoff: int):
        self.writer, self.cutoff, self.current = writer, cutoff, None

    def add(self, row: dict) -> None:
        n = len(row["input_ids"])
        current = self.current
        if current is None or len(current["input_ids"]) + n > self.cutoff:
            self.flush()
            current = self.current = {
                "input_ids": [], "attention_mask": [], "labels": [], "position_ids": [],
                **dict.fromkeys(MEDIA),
            }  # fmt: skip
        number = (current["attention_mask"][-1] if current["attention_mask"] else 0) + 1
        current["input_ids"].extend(row["input_ids"])
        current["labels"].extend(row["labels"])
        current["attention_mask"].extend([number] * n)
        current["position_ids"].extend(range(n))
        for media in MEDIA:  # a packed row names the media of all its sequences
            if row.get(media):
                current[media] = [*(current[media] or []), *row[media]]

    def flush(self) -> None:
        if self.current is not None:
            self.writer.add(self.current)
            self.current = None

    @property
    def count(self) -> int:
        return self.writer.count


def _schema(kind: str, packing: bool, layout: str = "llamafactory"):
    import pyarrow as pa

    ints = pa.list_(pa.int32())
    if layout == "trl":  # no media columns: TRL takes a dataset with `images` for a VLM's
        names = ("prompt_ids", "chosen_ids", "rejected_ids") if kind == "dpo" else (
            "input_ids", "attention_mask", "labels")  # fmt: skip
        return pa.schema([(name, ints) for name in names])
    if kind == "dpo":
        fields = [
            (f"{side}_{col}", ints)
            for side in ("chosen", "rejected")
            for col in ("input_ids", "attention_mask", "labels")
        ]
    elif kind == "kto":  # LLaMA-Factory's feedback columns (KTODataCollatorWithPadding)
        fields = [
            (f"{side}{col}", ints)
            for side in ("", "kl_")
            for col in ("input_ids", "attention_mask", "labels")
        ]
        fields.append(("kto_tags", pa.bool_()))
    else:
        fields = [("input_ids", ints), ("attention_mask", ints), ("labels", ints)]
        if packing:
            fields.append(("position_ids", ints))
    # LLaMA-Factory's collators read all three, null where a row has none, in every stage.
    fields.extend((media, pa.list_(pa.string())) for media in MEDIA)
    return pa.schema(fields)


def _features(schema) -> dict:
    out = {}
    for f in schema:
        if not hasattr(f.type, "value_type"):  # a scalar column (kto_tags)
            out[f.name] = {"dtype": str(f.type), "_type": "Value"}
            continue
        dtype = "string" if str(f.type.value_type) == "string" else str(f.type.value_type)
        out[f.name] = {"feature": {"dtype": dtype, "_type": "Value"}, "_type": "Sequence"}
    return out


# --- the build -------------------------------------------------------------------------------


@dataclass
class Layout:
    """What the shards hold, decided from the first records."""

    kind: str
    images: bool


def _records(inputs: list[Input], options: Options) -> Iterator[tuple[Input, Record]]:
    """Every record to build from, datasets mixed as asked (deterministic with the seed)."""

    def one(item: Input) -> Iterator[tuple[Input, Record]]:
        n = 0
        for source in readers.expand(list(item.paths)):
            for record in readers.read_source(source, None, []):
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


def _validation(sample: Sample, options: Options) -> bool:
    if options.val_size <= 0:
        return False
    digest = hashlib.blake2b(
        str(options.seed).encode() + sample.content_key, digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64 < options.val_size


def build(
    inputs: list[Input],
    out: str,
    setup: LengthSetup,
    pack: PackArgs,
    options: Options,
    *,
    progress=None,
    lock_timeout: float | None = None,
    notify=None,
) -> Result:
    """Build (or reuse) the shards for `inputs` in `out`. The cache is checked before the
    tokenizer's vocabulary or the rules are even loaded. A builder of the same `out` that is
    already running is waited for (`notify` says so once), at most `lock_timeout` seconds."""
    started = time.perf_counter()
    if options.truncation not in TRUNCATION:
        raise DataprepError(
            f"unknown truncation {options.truncation!r}", fix=f"use one of {', '.join(TRUNCATION)}"
        )
    if options.fix not in FIX:
        raise DataprepError(f"unknown --fix {options.fix!r}", fix=f"use one of {', '.join(FIX)}")
    if options.layout not in LAYOUTS:
        raise DataprepError(
            f"unknown --layout {options.layout!r}", fix=f"use one of {', '.join(LAYOUTS)}"
        )
    if options.layout == "trl" and options.packing:
        raise DataprepError(
            "--layout trl with --packing: TRL packs rows itself (SFTConfig(packing=True))",
            fix="drop --packing, or build for LLaMA-Factory and train run",
        )
    if not 0 <= options.val_size < 1:
        raise DataprepError("--val-size must be in [0, 1)", fix="e.g. --val-size 0.05")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    with buildlock.held(lock_path, lock_timeout, notify):
        # The key is of the options as asked (cutoff_len auto stays auto): a build that is
        # in the cache is found without measuring every record again.
        key, described, tokenizer_hash = cache_key(inputs, setup, options, pack)
        manifest_path = target / "manifest.json"
        if manifest_path.is_file():
            try:
                old = json.loads(manifest_path.read_text())
            except ValueError:
                old = {}
            if old.get("key") == key:
                counts = Counts()
                counts.add(old["counts_raw"])
                return Result(target, key, True, counts, time.perf_counter() - started, old)
        if options.cutoff_len is None:
            options = _with_auto_cutoff(inputs, setup, options, progress)
        partial = target.with_name(f"{target.name}.partial-{key[:16]}")
        for stale in target.parent.glob(f"{target.name}.partial-*"):
            if stale != partial:  # another key's leftovers: never resumed, never used
                shutil.rmtree(stale, ignore_errors=True)
        partial.mkdir(exist_ok=True)
        from dataprep.templates import compile_check

        compile_check(setup.template)
        loaded = pack.load()
        counts = _write_shards(inputs, partial, setup, loaded, options, progress)
        for scratch in [*partial.glob("shard-*.json"), *partial.glob("rejects-*.jsonl")]:
            scratch.unlink()  # resume markers: the finished build does not need them
        rules = sorted(n for n, s in loaded.settings.items() if s.enabled)
        manifest = _manifest(key, described, tokenizer_hash, setup, options, counts, partial, rules)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
        _publish(partial, target)
        return Result(target, key, False, counts, time.perf_counter() - started, manifest)


def _with_auto_cutoff(
    inputs: list[Input], setup: LengthSetup, options: Options, progress=None
) -> Options:
    """cutoff_len auto: a measuring pass (its own progress stage), then the recommended value."""
    from dataprep.formats import normalise

    meter = Meter(setup.tokenizer, setup.template, setup.image_tokens)
    for n, (item, record) in enumerate(_records(inputs, options), 1):
        sample, _ = normalise(record, item.spec)
        if sample is not None:
            meter.add(record.line, record.index, sample)
        if progress and n % 1000 == 0:
            progress(n, "measuring lengths")
    lengths = meter.finish()
    return Options(
        **{**asdict(options), "cutoff_len": lengths.recommended(setup.coverage, setup.round)}
    )


def _kl_answers(batch: list) -> list[str | None]:
    """Per record of a shard, its KTO KL completion as LLaMA-Factory pairs them: the answer
    of the record before it, the first of each block of KL_BLOCK records taking the block's
    last (blocks start with the shard, whose default size is a multiple of KL_BLOCK). A record
    without a KTO answer lends the nearest earlier one in its block; None where the block has
    none (no KTO record)."""
    from dataprep.formats import normalise
    from dataprep.records import UNPARSED

    answers: list[str | None] = []
    for item, record in batch:
        sample = normalise(record, item.spec)[0] if record.value is not UNPARSED else None
        last = sample.messages[-1] if sample is not None and sample.messages else None
        kto = sample is not None and sample.kind == "kto" and last.role == "assistant"
        answers.append((last.content or "") if kto else None)
    found: list[str | None] = []
    for j in range(len(answers)):
        start = j - j % KL_BLOCK
        size = min(KL_BLOCK, len(answers) - start)
        for back in range(1, size + 1):  # the previous record, wrapping round the block
            answer = answers[start + (j - start - back) % size]
            if answer is not None:
                break
        found.append(answer)
    return found


def _kto_pair(sample: Sample, kl: str | None) -> Sample | None:
    """A KTO record as the two sequences LLaMA-Factory trains it on: its prompt with its own
    answer (`chosen`) and with the KL completion (`rejected`), rendered as a pair by the
    encoder; `_row` writes them as input_ids and kl_input_ids, `label` as kto_tags. None when
    the record does not end with an answer."""
    from dataclasses import replace

    from dataprep.sample import ASSISTANT, Turn

    if not sample.messages or sample.messages[-1].role != ASSISTANT:
        return None
    answer = sample.messages[-1]
    completion = Turn(ASSISTANT, answer.content if kl is None else kl, "kl_completion")
    return replace(
        sample, kind="dpo", messages=sample.messages[:-1], chosen=(answer,), rejected=(completion,)
    )


def _publish(partial: Path, target: Path) -> None:
    """Swap the finished build in: `target` is always a whole build, old or new."""
    old = None
    if target.exists():
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        target.rename(old)
    partial.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class _Run:
    """The state one build carries from shard to shard."""

    partial: Path
    plan: Plan
    fixers: clean.Fixers | None  # None: --fix none
    encoder: Encoder
    options: Options
    progress: object
    done: set[int]
    counts: Counts = field(default_factory=Counts)
    seen: dict = field(default_factory=dict)
    caches: dict = field(default_factory=dict)
    layout: Layout | None = None
    pool: object = field(default_factory=lambda: _pool())


def _pool():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1)


def _write_shards(inputs, partial: Path, setup, pack, options: Options, progress) -> Counts:
    from dataprep import clean
    from dataprep.engine import Plan

    plan = Plan(pack)
    done = {int(p.stem.split("-")[1]) for p in partial.glob("shard-*.json")}
    fixers = clean.Fixers.from_pack(pack) if options.fix == "safe" else None
    run = _Run(partial, plan, fixers, Encoder(setup, options), options, progress, done)
    shard, batch = 0, []
    for item, record in _records(inputs, options):
        batch.append((item, record))
        if len(batch) >= options.shard_size:
            _shard(run, batch, shard)
            shard, batch = shard + 1, []
    if batch or shard == 0:
        _shard(run, batch, shard)
    _finish_layout(partial, run.layout, shard + 1)
    counts = run.counts
    if counts.read != counts.kept + counts.rejected_records:
        raise DataprepError(
            f"records lost: read {counts.read:,} != kept {counts.kept:,} + rejected "
            f"{counts.rejected_records:,}",
            fix="this is a dataprep bug: please report it with the input",
        )
    return counts


def _shard(run: _Run, batch, number: int) -> None:
    """Clean, gate, encode and write one shard's records (or count a finished one)."""
    partial, options, counts = run.partial, run.options, run.counts
    marker = partial / f"shard-{number:05d}.json"
    if number in run.done:  # resumed: this shard was finished before; replay the seen keys
        state = json.loads(marker.read_text())
        counts.add(state["counts"])
        for key, where in state["seen"]:
            run.seen[int(key, 16)] = tuple(where)
        if state["kind"]:
            run.layout = Layout(state["kind"], state["images"])
        if run.progress:
            run.progress(counts.read, "building")
        return
    local = Counts()
    rejects: list[bytes] = []
    new_seen: list = []
    roots: dict[str, Path] = {}
    seen = run.seen
    from dataprep import clean

    # KTO's KL completions come from other records of the shard (up to a block ahead): read
    # once the shard's first KTO record is met.
    kl_answers = functools.cache(lambda: _kl_answers(batch))

    def gate(items, start: int) -> list[tuple[Record, Sample, bool]]:
        """Clean each record and keep those with no error finding (the rest are rejected);
        `items` start at position `start` of the shard."""
        keep = []
        batch = []
        for item, record in items:
            cache = _cache(run.caches, item, run.plan)
            media = (cache, cache.root_for(record.source)) if cache is not None else None
            if record.source not in roots:
                roots[record.source] = image_root(item.image_root, record.source).resolve()
            batch.append((record, item.spec, media))
        before = len(seen)
        results = clean.clean_records(batch, run.plan, run.fixers, seen)
        new_seen.extend(reversed(list(islice(reversed(seen.items()), len(seen) - before))))
        for offset, ((record, _, _), (kept, reasons, fixes, sample, fixed)) in enumerate(
            zip(batch, results, strict=True)
        ):
            local.read += 1
            local.fixed.update(fixes)
            if kept is None or sample is None:
                reasons = reasons or [_finding(record, "unknown-format", "no record to train on")]
                _reject(local, rejects, record, reasons, fixed, fixes)
                continue
            if sample.kind not in KINDS:
                reason = f"{sample.kind} records are not built (sft, dpo and kto are)"
                _reject(local, rejects, record, [_finding(record, "unknown-format", reason)],
                        fixed, fixes)  # fmt: skip
                continue
            if run.layout is None:
                run.layout = Layout(sample.kind, bool(sample.images))
            elif sample.kind != run.layout.kind:
                reason = f"a {sample.kind} record in a {run.layout.kind} build: build separately"
                _reject(local, rejects, record, [_finding(record, "mixed-format", reason)],
                        fixed, fixes)  # fmt: skip
                continue
            val = _validation(sample, options)
            if sample.kind == "kto":
                sample = _kto_pair(sample, kl_answers()[start + offset])
                if sample is None:
                    reason = "a KTO record ends with its answer; this one does not"
                    _reject(local, rejects, record, [_finding(record, "unknown-format", reason)],
                            fixed, fixes)  # fmt: skip
                    continue
            keep.append((record, sample, val, fixed, fixes))
        return keep

    encoder = run.encoder
    cutoff = options.cutoff_len
    writers: dict[str, ShardWriter | Packer] = {}

    def emit(chunk, plans, encodings) -> None:
        placed = encoder.place(plans, encodings)
        for (record, sample, val, fixed, fixes), sequences in zip(chunk, placed, strict=True):
            if isinstance(sequences, str):
                why = [_finding(record, "template-mismatch", sequences)]
                _reject(local, rejects, record, why, fixed, fixes)
                continue
            root = roots[record.source]
            row = _row(sample, sequences, encoder, cutoff, options, local, root, run.layout.kind)
            if isinstance(row, tuple):  # (rule, why): the cutoff policy rejects it
                _reject(local, rejects, record, [_finding(record, *row)], fixed, fixes)
                continue
            local.kept += 1
            split = "validation" if val else "train"
            if split not in writers:
                writers[split] = _writer(partial, split, number, run.layout, options)
            writers[split].add(row)

    # A pipeline: while the tokenizer (Rust, GIL released) encodes one slice, Python cleans
    # and renders the next one and turns the previous one into rows. Encodings are large: a
    # slice at a time.
    pending = None
    for at in range(0, len(batch), ENCODE_BATCH):
        chunk = gate(batch[at : at + ENCODE_BATCH], at)
        texts, plans = encoder.prepare([kept[1] for kept in chunk])
        future = run.pool.submit(encoder.tokenize, texts)
        if pending is not None:
            emit(pending[0], pending[1], pending[2].result())
        pending = (chunk, plans, future)
    if pending is not None:
        emit(pending[0], pending[1], pending[2].result())
    for split, writer in writers.items():
        if isinstance(writer, Packer):
            writer.flush()
            writer = writer.writer
        writer.close()
        local.splits[split] += writer.count
    layout = run.layout
    (partial / f"rejects-{number:05d}.jsonl").write_bytes(b"".join(rejects))
    state = {
        "counts": _raw(local),
        "seen": [[format(k, "x"), list(v)] for k, v in new_seen],
        "kind": layout.kind if layout else None,
        "images": layout.images if layout else False,
    }
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(marker)  # the shard is finished only once its marker exists
    counts.add(_raw(local))
    if run.progress:
        run.progress(counts.read, "building")


def _raw(c: Counts) -> dict:
    return {
        "read": c.read,
        "kept": c.kept,
        "rejected": dict(c.rejected),
        "rejected_records": c.rejected_records,
        "fixed": dict(c.fixed),
        "truncated": dict(c.truncated),
        "splits": dict(c.splits),
        "tokens": c.tokens,
        "label_tokens": c.label_tokens,
    }


def _row(
    sample: Sample,
    sequences,
    encoder: Encoder,
    cutoff: int,
    options: Options,
    counts,
    root: Path,
    kind: str = "sft",
):
    """The row to write, or (rule, why) the record is rejected. `kind`: the build's; a KTO
    record comes as the pair `_kto_pair` makes, whose sides are cut each on its own (as
    LLaMA-Factory's feedback processor cuts them)."""
    if options.layout == "trl" and sample.images:
        return "unknown-format", (
            "a record with images in a --layout trl build: TRL's pre-tokenized layout is text "
            "only (build multimodal data with --layout llamafactory)"
        )
    if options.layout == "trl" and kind == "kto":
        return "unknown-format", (
            "a KTO record in a --layout trl build: TRL's KTOTrainer takes prompt, completion "
            "and label as text and tokenizes them itself (build KTO data with --layout "
            "llamafactory)"
        )
    setup = encoder.setup
    out: dict = {}
    kto = kind == "kto"
    pair = sample.kind == "dpo" and not kto  # the sides share a cut
    sides = ("chosen", "rejected") if pair else ("", "kl_") if kto else ("",)
    sequences = [expand_images(seq, setup.image_tokens, encoder.image_id) for seq in sequences]
    longest = max(len(seq.ids) for seq in sequences)
    labelled = [(seq, labels_for(seq, options, pair or kto)) for seq in sequences]
    shortened = False
    if pair and options.truncation == "truncate-answer" and longest > cutoff:
        fitted = fit_pair_prompt(labelled, cutoff)
        if isinstance(fitted, tuple):
            return fitted
        shortened, labelled = fitted is not labelled, fitted
        longest = max(len(seq.ids) for seq, _ in labelled)
    results = []
    for side, (seq, labels) in zip(sides, labelled, strict=True):
        limit = cutoff
        if pair and options.truncation == "truncate-prompt" and longest > cutoff:
            # A pair shares its prompt: both sides lose the same prompt tokens.
            limit = len(seq.ids) - (longest - cutoff)
        result = truncate(seq, labels, limit, options.truncation, encoder.eos_id)
        if isinstance(result[0], str):
            return result
        ids, labels, _ = result
        if all(label == -100 for label in labels) and side != "kl_":  # KL: a reference only
            which = f"the {side} side" if side else "the record"
            return NO_LABELS, (
                f"{which} has no label token left after masking and truncation at cutoff_len "
                f"{cutoff:,}: it would train on nothing"
            )
        results.append((side, result))
    if pair and results[0][1][0] == results[1][1][0]:
        return "identical-pair", (
            f"chosen and rejected are the same {len(results[0][1][0]):,} tokens within cutoff_len "
            f"{cutoff:,}: they differ only after the cut"
        )
    for _, (ids, labels, case) in results:
        counts.tokens += len(ids)
        counts.label_tokens += len(labels) - labels.count(-100)
        if case != "fits":
            counts.truncated[case] += 1
    if shortened:
        counts.truncated["pair prompt shortened"] += 1
    if options.layout == "trl":
        return _trl_row(results)
    for side, (ids, labels, _) in results:
        prefix = f"{side}_" if pair else side
        out[f"{prefix}input_ids"] = ids
        out[f"{prefix}attention_mask"] = [1] * len(ids)
        out[f"{prefix}labels"] = labels
    if kto:
        out["kto_tags"] = bool(sample.label)
    out["images"] = [str(root / ref) for ref in sample.images] if sample.images else None
    out["videos"] = out["audios"] = None  # video and audio records are not built yet
    return out


def _trl_row(results) -> dict:
    """A row as TRL's trainers take it pre-tokenized: SFT as input_ids, attention_mask and
    labels; a pair as prompt_ids, chosen_ids and rejected_ids, the completions apart from the
    shared prompt (everything after it, as TRL's own tokenization splits them)."""
    if len(results) == 1:
        ids, labels, _ = results[0][1]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
    (_, (chosen, chosen_labels, _)), (_, (rejected, rejected_labels, _)) = results
    # The prompt ends where the final answers begin: the start of each side's last labelled
    # run, and never past where the two sides first differ.
    start = min(_last_run_start(chosen_labels), _last_run_start(rejected_labels))
    pairs = enumerate(zip(chosen, rejected, strict=False))
    prefix = next((k for k, (a, b) in pairs if a != b), min(len(chosen), len(rejected)))
    cut = min(start, prefix)
    return {"prompt_ids": chosen[:cut], "chosen_ids": chosen[cut:], "rejected_ids": rejected[cut:]}


def _last_run_start(labels: list[int]) -> int:
    end = max(k for k, label in enumerate(labels) if label != -100)
    start = end
    while start > 0 and labels[start - 1] != -100:
        start -= 1
    return start


def _writer(partial: Path, split: str, number: int, layout: Layout, options: Options):
    packing = options.packing and layout.kind == "sft"
    folder = partial / split
    folder.mkdir(exist_ok=True)
    schema = _schema(layout.kind, packing, options.layout)
    writer = ShardWriter(folder / f"data-{number:05d}.arrow", schema)
    return Packer(writer, options.cutoff_len) if packing else writer


def _cache(caches: dict, item: Input, plan: Plan) -> ImageCache | None:
    from dataprep.images import ImageCache
    from dataprep.linter import image_cache

    if item.image_root not in caches:
        caches[item.image_root] = image_cache(plan, ImageCache(root=item.image_root))
    return caches[item.image_root]


# What to do about a record the build itself rejects (the linter's rules carry their own fix).
FIXES = {
    "unknown-format": "make it an SFT or preference record, or build it with its own kind",
    "mixed-format": "build SFT and preference data into separate folders",
    "template-mismatch": "use a template that keeps message text as written (--template)",
    "exceeds-cutoff": "raise --cutoff-len, use --truncation truncate-answer, or shorten it",
    NO_LABELS: "raise --cutoff-len, use --truncation truncate-prompt, or shorten the prompt",
    "identical-pair": "raise --cutoff-len so the answers' difference fits, or drop the pair",
}


def _finding(record: Record, name: str, message: str):
    from dataprep.checks import get
    from dataprep.findings import Finding

    code = get(name).CODE
    return Finding(record.source, record.line, record.index, code, name, "error", None, message,
                   FIXES[name])  # fmt: skip


def _reject(counts: Counts, rejects: list, record: Record, reasons, fixed=None, fixes=None):
    counts.rejected_records += 1
    counts.rejected.update({f.name for f in reasons})
    rejects.append(reject_rows.row(record, reasons, fixed, fixes))


def _finish_layout(partial: Path, layout: Layout | None, shards: int) -> None:
    """datasets' metadata: dataset_dict.json, and per split state.json and dataset_info.json;
    rejects.jsonl gathered from the shards."""
    with open(partial / "rejects.jsonl", "wb") as out:
        for path in sorted(partial.glob("rejects-*.jsonl")):
            out.write(path.read_bytes())
    if layout is None:
        return
    import pyarrow as pa

    splits = []
    for split in ("train", "validation"):
        folder = partial / split
        files = sorted(folder.glob("data-*.arrow")) if folder.is_dir() else []
        rows = 0
        for path in files:
            with pa.memory_map(str(path)) as source:
                rows += pa.ipc.open_stream(source).read_all().num_rows
        if not files or (split == "validation" and not rows):
            if folder.is_dir():
                shutil.rmtree(folder)
            continue
        with pa.memory_map(str(files[0])) as source:
            schema = pa.ipc.open_stream(source).schema
        state = {
            "_data_files": [{"filename": p.name} for p in files],
            "_fingerprint": hashlib.sha256(b"".join(p.name.encode() for p in files)).hexdigest()[
                :16
            ],
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": split,
        }
        (folder / "state.json").write_text(json.dumps(state, indent=2))
        info = {
            "citation": "",
            "description": "",
            "features": _features(schema),
            "homepage": "",
            "license": "",
        }
        (folder / "dataset_info.json").write_text(json.dumps(info, indent=2))
        splits.append(split)
    (partial / "dataset_dict.json").write_text(json.dumps({"splits": splits}))


def _manifest(
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
                "sha256": _file_hash(path),
            }
    raw = _raw(counts)
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
        "counts_raw": raw,
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
        elif path.stat().st_size != expect["size"] or _file_hash(path) != expect["sha256"]:
            problems.append(f"{name}: changed since the build (size or sha256 differ)")
    extra = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    extra -= set(manifest.get("files", {})) | {"manifest.json"}
    problems.extend(f"{name}: not part of the build" for name in sorted(extra))
    counts = manifest.get("counts", {})
    if counts.get("read") != counts.get("kept", 0) + counts.get("rejected_records", 0):
        problems.append("counts: read != kept + rejected")
    return problems
