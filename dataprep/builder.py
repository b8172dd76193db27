"""`dataprep build`: raw files to tokenized, label-masked Arrow shards, in a cache never stale.

A build reads its datasets into shards of `shard_size` records and runs each through the stages
of `dataprep.stages`:

    read -> gate -> admit -> split -> pair_kto -> render -> tokenize -> cut -> write

(gate: the safe fixers, then the batched engine rejects records with error findings under
those rule names; admit: the kinds a build writes; cut: labels and the cutoff policy). With
`--cutoff-len auto` the shards stop after tokenize, spilled to disk, the cutoff is chosen
from the lengths just encoded, and the spilled shards are cut and written: one pass over the
data. Output follows DESIGN.md's build contract: a folder `datasets.load_from_disk` opens
(LLaMA-Factory's column names, so it also works as its `tokenized_path`), `manifest.json`
and `rejects.jsonl`, with read == kept + rejected. `dataprep.buildcache` keys, resumes and
publishes it.
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dataprep import buildcache, buildlock
from dataprep.buildcache import cache_key, input_files  # noqa: F401  (the public API)
from dataprep.errors import DataprepError
from dataprep.manifest import Counts, check, manifest  # noqa: F401
from dataprep.truncation import POLICIES

# The cache-hit path imports only the above: the stages, numpy, the tokenizer's vocabulary
# and the rule registry load once a build has work to do.
if TYPE_CHECKING:
    from dataprep.encode import Encoder
    from dataprep.engine import Plan
    from dataprep.fixers import Fixers
    from dataprep.images import ImageCache
    from dataprep.lengths import LengthSetup
    from dataprep.rulepack import PackArgs
    from dataprep.spec import Spec
    from dataprep.stages import Item, Layout, Ledger, Timings

ENCODE_BATCH = 1024  # records a batch: the tokenizer's cores busy, memory bounded
TRUNCATION = POLICIES
FIX = ("safe", "none")
LAYOUTS = ("llamafactory", "trl")
ENGINES = ("auto", "tokenizers")


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
    tokenizer_engine: str = "auto"  # auto: tiktoken where it is exact (dataprep.fastbpe)


@dataclass
class Result:
    out: Path
    key: str
    reused: bool
    counts: Counts
    seconds: float
    manifest: dict
    timings: dict = field(default_factory=dict)  # seconds per stage (none when reused)


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
    ray=None,
) -> Result:
    """Build (or reuse) the shards for `inputs` in `out`. The cache is checked before the
    tokenizer's vocabulary or the rules are even loaded. A builder of the same `out` that is
    already running is waited for (`notify` says so once), at most `lock_timeout` seconds.
    `ray` (a `dataprep.cluster.Ray`) builds the shards as tasks on a Ray cluster
    (`dataprep.clusterbuild`): the same rows, rejects and manifest."""
    started = time.perf_counter()
    _validate(options)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    with buildlock.held(lock_path, lock_timeout, notify):
        manifest_path = target / "manifest.json"
        old = _old_manifest(manifest_path)
        hashes = buildcache.Hashes(old.get("hashes", {}))
        # The key is of the options as asked (cutoff_len auto stays auto): a build that is
        # in the cache is found without measuring every record again.
        key, described, tokenizer_hash = cache_key(inputs, setup, options, pack, hashes)
        if old.get("key") == key:
            if hashes.changed:  # e.g. an input touched but not changed: remember its times
                old = {**old, "hashes": hashes.seen}
                _save_manifest(manifest_path, old)
            counts = Counts()
            counts.add(old["counts_raw"])
            return Result(target, key, True, counts, time.perf_counter() - started, old)
        partial = target.with_name(f"{target.name}.partial-{key[:16]}")
        for stale in target.parent.glob(f"{target.name}.partial-*"):
            if stale != partial:  # another key's leftovers: never resumed, never used
                shutil.rmtree(stale, ignore_errors=True)
        partial.mkdir(exist_ok=True)
        from dataprep.templates import compile_check

        compile_check(setup.template)
        loaded = pack.load()
        from dataprep.encode import FastPathMismatch

        shards = _write_shards
        if ray is not None:
            from dataprep import clusterbuild

            shards = functools.partial(clusterbuild.write_shards, ray=ray, pack=pack)
        run = start(partial, setup, loaded, options, progress)
        try:
            cutoff = shards(run, inputs)
        except FastPathMismatch:  # tiktoken is not exact on this data: all of it again, exactly
            run.pool.shutdown()
            run.encoder.close()
            shutil.rmtree(partial)
            partial.mkdir()
            options = Options(**{**asdict(options), "tokenizer_engine": "tokenizers"})
            run = start(partial, setup, loaded, options, progress)
            cutoff = shards(run, inputs)
        finally:
            run.pool.shutdown()
            run.encoder.close()
        for scratch in [*partial.glob("*-[0-9]*.json"), *partial.glob("rejects-*.jsonl")]:
            scratch.unlink()  # resume markers: the finished build does not need them
        options = Options(**{**asdict(options), "cutoff_len": cutoff})
        rules = sorted(n for n, s in loaded.settings.items() if s.enabled)
        made = manifest(key, described, tokenizer_hash, setup, options, run.counts, partial, rules)
        made["tokenizer"]["engine"] = run.encoder.engine
        made["hashes"] = hashes.seen
        (partial / "manifest.json").write_text(json.dumps(made, indent=2))
        buildcache.publish(partial, target)
        seconds = time.perf_counter() - started
        return Result(target, key, False, run.counts, seconds, made, dict(run.timings.seconds))


def _old_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or not ours: the build is made again
        return {}


def _save_manifest(path: Path, made: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(made, indent=2))
        tmp.replace(path)
    except OSError:  # a read-only build folder: it is still current, only slower to confirm
        tmp.unlink(missing_ok=True)


def _validate(options: Options) -> None:
    if options.truncation not in TRUNCATION:
        raise DataprepError(
            f"unknown truncation {options.truncation!r}", fix=f"use one of {', '.join(TRUNCATION)}"
        )
    if options.fix not in FIX:
        raise DataprepError(f"unknown --fix {options.fix!r}", fix=f"use one of {', '.join(FIX)}")
    if options.tokenizer_engine not in ENGINES:
        raise DataprepError(
            f"unknown --tokenizer-engine {options.tokenizer_engine!r}",
            fix=f"use one of {', '.join(ENGINES)}",
        )
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


# --- the shards ------------------------------------------------------------------------------


@dataclass
class Run:
    """What one build carries from shard to shard."""

    partial: Path
    setup: LengthSetup
    plan: Plan
    fixers: Fixers | None  # None: --fix none
    encoder: Encoder
    options: Options
    progress: object
    layout: Layout  # decided by the first record kept
    timings: Timings
    pool: object  # the tokenizer's thread
    counts: Counts = field(default_factory=Counts)
    seen: dict = field(default_factory=dict)  # content keys kept so far: exact duplicates
    caches: dict = field(default_factory=dict)  # image checks, per image root

    def media(self, item: Input) -> ImageCache | None:
        """The image checks of a dataset's image root (asked once a record)."""
        if item.image_root not in self.caches:
            from dataprep.images import ImageCache, cache_for

            cache = cache_for(self.plan, ImageCache(root=item.image_root))
            self.caches[item.image_root] = cache
        return self.caches[item.image_root]


def start(partial: Path, setup: LengthSetup, pack, options: Options, progress) -> Run:
    """A run writing into `partial`: the tokenizer's encoder (its vocabulary loading in its
    thread), the plan and fixers of the loaded `pack`."""
    from concurrent.futures import ThreadPoolExecutor

    from dataprep.encode import Encoder
    from dataprep.engine import Plan
    from dataprep.fixers import Fixers
    from dataprep.stages import Layout, Timings

    pool = ThreadPoolExecutor(1)
    encoder = Encoder(setup, options, pool)  # its vocabulary loads beside the rules
    fixers = Fixers.from_pack(pack) if options.fix == "safe" else None
    return Run(partial, setup, Plan(pack), fixers, encoder, options, progress, Layout(),
                Timings(), pool)  # fmt: skip


def _write_shards(run: Run, inputs: list[Input]) -> int:
    """Every shard built (or replayed from its marker); returns the cutoff_len used."""
    from dataprep.lengths import recommended_cutoff

    partial, options = run.partial, run.options
    from dataprep import stages

    shards = enumerate(stages.shards(run.timings.stage("read", stages.read(inputs, options)),
                                     options.shard_size))  # fmt: skip
    written = buildcache.markers(partial, "shard")
    if options.cutoff_len is not None:
        for number, records in shards:
            if not replay(run, "shard", number, written):
                whole_shard(run, number, records, options.cutoff_len)
        cutoff = options.cutoff_len
    else:  # auto: every shard encoded and spilled first, then the cutoff, then cut and written
        lengths: list[int] = []
        encoded = buildcache.markers(partial, "encoded")
        count = 0
        for number, records in shards:
            state = replay(run, "encoded", number, encoded)
            lengths.extend(state["lengths"] if state else encoded_shard(run, number, records))
            count += 1
        cutoff = recommended_cutoff(lengths, run.setup.coverage, run.setup.round)
        for number in range(count):
            if not replay(run, "shard", number, written):
                spilled_shard(run, number, cutoff)
    closed(run)
    return cutoff


def closed(run: Run) -> None:
    """Every shard is written: datasets' metadata, and read == kept + rejected checked."""
    from dataprep.shards import write_metadata

    write_metadata(run.partial, run.layout.kind is not None)
    counts = run.counts
    if counts.read != counts.kept + counts.rejected_records:
        raise DataprepError(
            f"records lost: read {counts.read:,} != kept {counts.kept:,} + rejected "
            f"{counts.rejected_records:,}",
            fix="this is a dataprep bug: please report it with the input",
        )


def _encoded(run: Run, records: list, ledger: Ledger, new_seen: list) -> Iterator[list[Item]]:
    """A shard's records through every stage up to tokenize."""
    from dataprep import stages
    from dataprep.kto import kl_answers

    t = run.timings.stage
    # KTO's KL completions come from other records of the shard (up to a block ahead): read
    # once the shard's first KTO record is met.
    kl = functools.cache(lambda: kl_answers(records))
    batches = stages.slices(records, ENCODE_BATCH)
    batches = t("gate", stages.gate(batches, run.plan, run.fixers, run.seen, new_seen,
                                    run.media, ledger))  # fmt: skip
    batches = t("admit", stages.admit(batches, run.layout, ledger))
    batches = t("split", stages.split(batches, run.options))
    batches = t("pair_kto", stages.pair_kto(batches, kl, ledger))
    batches = t("render", stages.render(batches, run.encoder, ledger))
    return t("tokenize", stages.tokenize(batches, run.encoder, run.pool))


def _written(run: Run, batches: Iterator[list[Item]], number: int, cutoff: int, ledger: Ledger):
    """Encoded batches through cut and write, into shard `number`'s files."""
    from dataprep import stages
    from dataprep.shards import open_writer

    options, layout = run.options, run.layout

    def writer(split: str):  # opened at the first row: the layout is known by then
        folder = run.partial / split
        return open_writer(folder, number, layout.kind, options.packing, options.layout, cutoff)

    rows = run.timings.stage("cut", stages.cut(batches, run.encoder, options, cutoff, layout,
                                               ledger))  # fmt: skip
    run.timings.consume("write", lambda: stages.write(rows, writer, ledger))


def whole_shard(run: Run, number: int, records: list, cutoff: int) -> None:
    """Shard `number` through every stage and written, its marker last."""
    from dataprep.stages import Ledger

    ledger, new_seen = Ledger(), []
    _written(run, _encoded(run, records, ledger, new_seen), number, cutoff, ledger)
    _finish(run, number, "shard", ledger, {"seen": _seen(new_seen), **_layout(run)})


def encoded_shard(run: Run, number: int, records: list) -> list[int]:
    """Encode a shard and spill it to disk; returns each kept record's longest sequence."""
    import pickle

    from dataprep.encode import expand_images
    from dataprep.stages import Ledger

    ledger, new_seen, lengths = Ledger(), [], []
    setup, image_id = run.setup, run.encoder.image_id

    def spill() -> None:
        with open(run.partial / f"spill-{number:05d}.pickle", "wb") as out:
            for batch in _encoded(run, records, ledger, new_seen):
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                for item in batch:
                    lengths.append(max(len(expand_images(seq, setup.image_tokens, image_id).ids)
                                       for seq in item.sequences))  # fmt: skip

    run.timings.consume("spill", spill)
    state = {"seen": _seen(new_seen), **_layout(run), "lengths": lengths}
    _finish(run, number, "encoded", ledger, state)
    return lengths


def spilled_shard(run: Run, number: int, cutoff: int) -> None:
    import pickle

    from dataprep.stages import Ledger

    path = run.partial / f"spill-{number:05d}.pickle"
    ledger = Ledger()

    def batches() -> Iterator[list[Item]]:
        with open(path, "rb") as spill:
            while True:
                try:
                    yield pickle.load(spill)
                except EOFError:
                    return

    _written(run, run.timings.stage("spill", batches()), number, cutoff, ledger)
    _finish(run, number, "shard", ledger, {})
    path.unlink()


def _finish(run: Run, number: int, stage: str, ledger: Ledger, state: dict) -> None:
    """A shard's stage is done: its rejects and its marker on disk, its counts added."""
    run.encoder.confirm()  # a shard is final only once the fast path's checks on it agree
    # rejects-N-encoded sorts before rejects-N-shard: a shard's rejects stay together, in order
    (run.partial / f"rejects-{number:05d}-{stage}.jsonl").write_bytes(b"".join(ledger.rejects))
    marker = run.partial / f"{stage}-{number:05d}.json"
    buildcache.save_marker(marker, {"counts": ledger.counts.as_dict(), **state})
    run.counts.add(ledger.counts.as_dict())
    if run.progress:
        run.progress(run.counts.read, "building")


def replay(run: Run, stage: str, number: int, done: set[int]) -> dict | None:
    """A shard's stage finished before (resumed): its counts, kept keys and layout replayed."""
    if number not in done:
        return None
    state = json.loads((run.partial / f"{stage}-{number:05d}.json").read_text())
    run.counts.add(state["counts"])
    for key, where in state.get("seen", ()):
        run.seen[int(key, 16)] = tuple(where)
    if state.get("kind"):
        run.layout.kind, run.layout.images = state["kind"], state["images"]
    if run.progress:
        run.progress(run.counts.read, "building")
    return state


def _seen(new_seen: list) -> list:
    return [[format(k, "x"), list(v)] for k, v in new_seen]


def _layout(run: Run) -> dict:
    return {"kind": run.layout.kind, "images": run.layout.images}
