"""Run the checks of a rule pack over data files: records in, Findings out.

Per record: reader problems, then normalisation problems, then the sample checks that apply to
the record's format and kind. Per file: dataset-level checks see every record and report at the
end. With `jobs > 1`, a large JSONL file is cut into byte ranges linted by worker processes
(`dataprep.chunks`), stitched back so the output is the same as a serial run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dataprep import dataset_info, readers
from dataprep.baseline import record_hash
from dataprep.engine import BATCH, Costs, Plan, batch_of, observe_batch, sample_hits
from dataprep.errors import DataprepError
from dataprep.findings import Finding, Hit
from dataprep.formats import Spec, normalise
from dataprep.images import ImageCache
from dataprep.lengths import Lengths, LengthSetup, Meter
from dataprep.records import UNPARSED, Problem, Record
from dataprep.rulepack import Pack, PackArgs, Setting
from dataprep.rulepack import load as load_pack
from dataprep.sample import Sample


@dataclass
class FileStats:
    path: str
    records: int = 0
    formats: Counter = field(default_factory=Counter)  # (format, kind) -> records
    first: dict = field(default_factory=dict)  # (format, kind) -> (line, index) of its first record
    # The fast path's records by their number of fields (2: instruction and output, 3: and
    # input, all strings): [records, first line, first index, last index].
    plain: dict = field(default_factory=dict)

    def add(self, other: FileStats, lines: int, records: int) -> None:
        """Fold in the stats of a later chunk of the same file."""
        self.records += other.records
        self.formats.update(other.formats)
        for key, (line, index) in other.first.items():
            self.first.setdefault(key, (line + lines, index + records))
        for n, (count, line, index, last) in other.plain.items():
            mine = self.plain.get(n)
            if mine is None:
                self.plain[n] = [count, line + lines, index + records, last + records]
            else:
                mine[0] += count
                mine[3] = last + records


@dataclass
class FileContext:
    """What dataset-level checks may know about the file they look at; `stats` is complete by
    the time `finish` runs."""

    path: str
    stats: FileStats
    spec: Spec | None = None
    entry: dataset_info.Entry | None = None
    hashes: dict | None = None  # (path, record index) -> content hash, for baselines
    images: ImageCache | None = None  # set when an image file rule is active
    sft: tuple[str, ...] = ()  # --sft files: the answers a DPO dataset's chosen are compared with
    notes: list[str] = field(default_factory=list)  # measurements for the summary (the run's)
    setup: LengthSetup | None = None  # token lengths asked for (--tokenizer, --lengths, stats)
    meter: Meter | None = None  # measuring this file's records, when `setup` is set
    lengths: Lengths | None = None  # the measured lengths, once the file is read
    observe: Callable[[FileContext, Record, Sample | None], None] | None = None  # e.g. a report


@dataclass
class Summary:
    """Filled in while findings stream out: what was read, and what could not be."""

    files: list[FileStats] = field(default_factory=list)
    errors: list[DataprepError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # dataset_info entries not linted
    notes: list[str] = field(default_factory=list)  # dataset measurements, e.g. length ratios
    lengths: dict[str, Lengths] = field(default_factory=dict)  # per file, when measured
    hashes: dict | None = None  # set to {} to collect record content hashes (baselines)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)


IMAGE_FILE_RULES = ("missing-image", "image-outside-root", "unreadable-image", "image-too-large",
                    "missing-media", "media-outside-root", "unreadable-media")  # fmt: skip


def image_cache(plan: Plan, given: ImageCache | None) -> ImageCache | None:
    """The run's image cache, set up from the active image rules' options (None: none active)."""
    active = {s.module.NAME: s for s in plan.dataset_rules if s.module.NAME in IMAGE_FILE_RULES}
    if not active:
        return None
    cache = given if given is not None else ImageCache()
    unreadable = active.get("unreadable-image")
    cache.decode = bool(unreadable and unreadable.options.decode)
    too_large = active.get("image-too-large")
    if too_large is not None:
        cache.max_pixels = too_large.options.max_pixels
    return cache


def lint_paths(
    paths: list[str],
    pack: Pack | PackArgs | None = None,
    summary: Summary | None = None,
    *,
    spec: Spec | None = None,
    info: str | None = None,
    datasets: list[str] | None = None,
    jobs: int = 1,
    progress: Callable[[str, int | None], Callable[[int], None] | None] | None = None,
    images: ImageCache | None = None,
    sft: list[str] | None = None,
    lengths: LengthSetup | None = None,
    observe: Callable[[FileContext, Record, Sample | None], None] | None = None,
    reference: bool | None = None,
) -> Iterator[Finding]:
    """Findings for data files (or the entries of a dataset_info.json), file by file.

    Files that cannot be read are recorded in `summary.errors` and linting goes on.
    `progress(path, size)` may return a callback that receives bytes read so far. `images`
    holds the image root and thread count (defaults: each data file's folder, one per core).
    `sft` names the SFT data a DPO dataset's chosen answers are compared with (off-policy-chosen).
    `lengths` measures token lengths (files are then read in one process: the tokenizer
    encodes in batches on every core). `observe(ctx, record, sample)` sees every record (the
    report's profile); it too reads each file in one process. `reference=True` runs every check
    on every record one at a time, without prefilters or batch keys: the engine's definition,
    which tests compare it with; `False` runs the engine; None (the default) the engine unless
    the input is under a megabyte, where starting it costs more than it saves.
    """
    pack_args = pack if isinstance(pack, PackArgs) else None
    pack = pack_args.load() if pack_args else (pack or load_pack())
    if reference is None:
        reference = _small(paths, info)
    plan = Plan(pack, batched=not reference)
    images = image_cache(plan, images)
    sft = tuple(sft or ())
    summary = summary if summary is not None else Summary()
    units: list[tuple[FileContext, readers.Source]] = []
    if info:
        entries, summary.skipped = dataset_info.load(info, datasets)
        for entry in entries:
            yield from _entry_notes(entry, plan)
            for path in entry.files:
                display = str(path)
                if not path.exists():
                    summary.errors.append(
                        DataprepError(
                            f"dataset {entry.name!r}: file_name points to a missing file",
                            path=display,
                            fix=f"check file_name of {entry.name!r} in {entry.info_path}",
                        )
                    )
                    continue
                kind = "text" if path.name.endswith(readers.TEXT_SUFFIXES) else "json"
                source = readers.Source(display, path, kind)
                stats = FileStats(display)
                ctx = FileContext(
                    display, stats, entry.spec, entry, summary.hashes, images, sft, summary.notes,
                    lengths,
                )  # fmt: skip
                units.append((ctx, source))
    if paths:
        for source in readers.expand(paths):
            stats = FileStats(source.display)
            ctx = FileContext(
                source.display, stats, spec, None, summary.hashes, images, sft, summary.notes,
                lengths,
            )  # fmt: skip
            units.append((ctx, source))
    for ctx, source in units:
        stats = ctx.stats
        summary.files.append(stats)
        size = readers.file_size(source)
        tick = progress(source.display, size) if progress else None
        try:
            if ctx.setup is not None:
                ctx.meter = Meter(ctx.setup.tokenizer, ctx.setup.template, ctx.setup.image_tokens)
            ctx.observe = observe
            parallel = summary.hashes is None and ctx.meter is None and observe is None
            if jobs > 1 and parallel and _chunks().splittable(source, size):
                yield from _chunks().lint_parallel(
                    source, ctx, plan, pack_args or PackArgs(), jobs, stats, tick
                )
            else:
                yield from _lint_serial(source, ctx, plan, stats, tick)
            if ctx.lengths is not None:
                summary.lengths[ctx.path] = ctx.lengths
        except DataprepError as exc:
            summary.errors.append(exc)
            if not stats.records:
                summary.files.remove(stats)  # never read: the error says all there is


def _chunks():
    """`dataprep.chunks`, which builds on this module (hence imported when first used)."""
    from dataprep import chunks

    return chunks


SMALL_BYTES = 1 << 20  # below this, checking one record at a time beats starting the engine


def _small(paths: list[str], info: str | None) -> bool:
    """Inputs small enough to check one record at a time: plain files of under a megabyte in
    all (the findings are the same either way; polars is then never imported)."""
    if info or not paths:
        return False
    total = 0
    for path in paths:
        if not os.path.isfile(path):
            return False
        total += os.path.getsize(path)
    return total < SMALL_BYTES


def _lint_serial(
    source: readers.Source,
    ctx: FileContext,
    plan: Plan,
    stats: FileStats,
    tick: Callable[[int], None] | None,
) -> Iterator[Finding]:
    states = new_states(plan, ctx)
    notes: list[Problem] = []
    claim = claimer(plan, ctx, states, stats)
    records = readers.read_source(source, tick, notes, claim)
    yield from lint_records(records, ctx, plan, states, stats)
    for problem in notes:
        yield from problem_findings(plan, problem, source.display, None, None)
    yield from finish(plan, states, ctx)


def lint_records(
    records: Iterable[Record],
    ctx: FileContext,
    plan: Plan,
    states: list[tuple[Setting, Any]],
    stats: FileStats,
    costs: Costs | None = None,
) -> Iterator[Finding]:
    """The per-record part of linting: parse and schema problems, then the record checks,
    a batch at a time (`dataprep.engine`); findings come out in record order."""
    spec = ctx.spec
    formats = stats.formats
    by_problem = plan.by_problem
    observing = [(s, state) for s, state in states if plan.per_record(s.module)]
    hashes = ctx.hashes
    meter = ctx.meter
    watch = ctx.observe
    count = 0
    pending: list[tuple[Record, Sample | None, list[Finding]]] = []
    try:
        for record in records:
            count += 1
            if hashes is not None:
                hashes[record.source, record.index] = record_hash(record.raw)
            before: list[Finding] = []
            if record.problems:
                for problem in record.problems:
                    if problem.rule in by_problem:
                        before.extend(
                            problem_findings(
                                plan, problem, record.source, record.line, record.index
                            )
                        )
            if record.value is UNPARSED:
                if pending:
                    pending.append((record, None, before))
                else:
                    yield from before
                continue
            sample, problems = normalise(record, spec)
            for problem in problems:
                before.extend(
                    problem_findings(plan, problem, record.source, record.line, record.index)
                )
            for setting, state in observing:
                setting.module.observe(state, record, sample)
            if watch is not None:
                watch(ctx, record, sample)
            if sample is not None:
                key = (sample.format, sample.kind)
                if key not in formats:
                    stats.first[key] = (record.line, record.index)
                formats[key] += 1
                if meter is not None:
                    meter.add(record.line, record.index, sample)
            pending.append((record, sample, before))
            if len(pending) >= BATCH:
                yield from _check_batch(pending, plan, states, costs)
                pending = []
    except DataprepError:  # a damaged file: what was read before the damage is still reported
        if pending:
            yield from _check_batch(pending, plan, states, costs)
        raise
    if pending:
        yield from _check_batch(pending, plan, states, costs)
    stats.records += count


def _check_batch(
    pending: list[tuple[Record, Sample | None, list[Finding]]],
    plan: Plan,
    states: list[tuple[Setting, Any]],
    costs: Costs | None,
) -> Iterator[Finding]:
    batch = batch_of(plan, [sample for _, sample, _ in pending])
    observe_batch(plan, states, batch, [record for record, _, _ in pending], costs)
    for (record, _, before), hits in zip(
        pending, sample_hits(plan, batch, costs=costs), strict=True
    ):
        yield from before
        for setting, hit in hits:
            yield finding(setting, hit, record.source, record.line, record.index)


def claimer(
    plan: Plan, ctx: FileContext, states: list[tuple[Setting, Any]], stats: FileStats
) -> readers.Claim | None:
    """The fast path: plain alpaca SFT records that no active check can flag are only counted.

    Eligible when formats are detected (no Spec), no sample check applies to alpaca SFT and no
    dataset check observes plain records one by one. A record is claimed only when normalising it
    could raise no problem: exactly instruction/output (and input), all strings, and no quote
    beyond the 4 per key/value pair, which also rules out duplicate keys. Everything else takes
    the general path; tests/test_fast_path.py checks that both paths agree.
    """
    if ctx.spec is not None or ctx.hashes is not None or plan.for_format("alpaca", "sft"):
        return None
    if ctx.meter is not None or ctx.observe is not None:  # every record is measured or watched
        return None
    if any(_observes_plain(s.module) for s, _ in states):
        return None
    key = ("alpaca", "sft")
    formats = stats.formats
    first = stats.first
    plain = stats.plain

    def claim(value: dict, raw: bytes, line: int, index: int) -> bool:
        n = len(value)
        if n == 3:
            if type(value.get("input")) is not str:
                return False
        elif n != 2:
            return False
        if type(value.get("instruction")) is not str or type(value.get("output")) is not str:
            return False
        if raw.count(b'"') != 4 * n:
            return False
        if key not in formats:
            first[key] = (line, index)
        formats[key] += 1
        stats.records += 1
        shape = plain.get(n)
        if shape is None:
            plain[n] = [1, line, index, index]
        else:
            shape[0] += 1
            shape[3] = index
        return True

    return claim


def _observes_plain(module) -> bool:
    """Whether a dataset check needs to see plain alpaca SFT records (most do)."""
    return hasattr(module, "observe") and getattr(module, "OBSERVES_PLAIN", True)


def finding(setting: Setting, hit: Hit, path: str, line: int | None, index: int | None) -> Finding:
    module = setting.module
    if hit.where is not None:
        path, line, index = hit.where.path, hit.where.line, hit.where.record
    return Finding(
        path,
        line,
        index,
        module.CODE,
        module.NAME,
        setting.severity,
        hit.field,
        hit.message,
        hit.fix,
    )


def problem_errors(record: Record, plan: Plan) -> list[Finding]:
    """The reader's problems with a record that are errors under the pack (it is rejected as
    read)."""
    return [
        f
        for p in record.problems
        for f in problem_findings(plan, p, record.source, record.line, record.index)
        if f.severity == "error"
    ]


def problem_findings(
    plan: Plan, problem: Problem, path: str, line: int | None, index: int | None
) -> Iterator[Finding]:
    setting = plan.by_problem.get(problem.rule)
    if setting is None:
        return
    fix = problem.fix or getattr(setting.module, "FIX", "")
    yield finding(setting, Hit(problem.field, problem.message, fix), path, line, index)


def _entry_notes(entry: dataset_info.Entry, plan: Plan) -> Iterator[Finding]:
    for line, problem in entry.notes:
        yield from problem_findings(plan, problem, entry.info_path, line, None)


def new_states(plan: Plan, ctx: FileContext) -> list[tuple[Setting, Any]]:
    states = []
    for setting in plan.dataset_rules:
        state = setting.module.new_state(ctx)
        if state is not None:
            states.append((setting, state))
    return states


def finish(plan: Plan, states: list[tuple[Setting, Any]], ctx: FileContext) -> Iterator[Finding]:
    if ctx.meter is not None:
        ctx.lengths = ctx.meter.finish()
        ctx.notes.extend(length_notes(ctx))
    for setting, state in states:
        for hit in setting.module.finish(state, setting.options, ctx):
            yield finding(setting, hit, ctx.path, None, None)


def length_notes(ctx: FileContext) -> list[str]:
    """The length summary of one file, for the text output."""
    setup, lengths = ctx.setup, ctx.lengths
    if setup is None or lengths is None or not len(lengths):
        return []
    full, label = lengths.percentiles("full"), lengths.percentiles("label")
    row = "  ".join(f"{k} {v:,}" for k, v in full.items())
    label_row = "  ".join(f"{k} {v:,}" for k, v in label.items())
    who = setup.tokenizer.name + (
        " - an estimate for other models: pass --tokenizer for yours"
        if setup.tokenizer.estimate
        else ""
    )
    cutoff = lengths.recommended(setup.coverage, setup.round)
    notes = [
        f"{ctx.path}: token lengths with {who}, template {setup.template.name}",
        f"  full   {row}",
        f"  labels {label_row}",
        f"  recommended cutoff_len {cutoff:,} (smallest multiple of {setup.round} keeping "
        f"{setup.coverage:.0%} of {len(lengths):,} records whole)",
    ]
    if setup.cutoff_len:
        for policy, lost in lengths.losses(setup.cutoff_len).items():
            parts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in lost.items())
            notes.append(f"  cutoff_len {setup.cutoff_len:,}, {policy}: loses {parts}")
    if lengths.images and not setup.image_tokens:
        notes.append(
            f"  {lengths.images:,} <image> placeholders counted as their text: pass "
            "--image-tokens N (576 for LLaVA-1.5)"
        )
    if lengths.failed:
        line, why = lengths.failed[0]
        notes.append(f"  {len(lengths.failed):,} records the template refused (line {line}: {why})")
    return notes
