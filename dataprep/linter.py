"""Run the checks of a rule pack over data files: records in, Findings out.

Per record: reader problems, then normalisation problems, then the sample checks that apply to
the record's format and kind. Per file: dataset-level checks see every record and report at the
end. With `jobs > 1`, a large JSONL file is cut into byte ranges linted by worker processes
(`dataprep.chunks`), stitched back so the output is the same as a serial run.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dataprep import dataset_info, readers
from dataprep.baseline import record_hash
from dataprep.checks.shape import ProblemCheck, observes_plain
from dataprep.engine import BATCH, Costs, Plan, batch_of, observe_batch, sample_hits
from dataprep.errors import DataprepError
from dataprep.findings import Finding, Hit, Note
from dataprep.formats import Spec, normalise
from dataprep.images import ImageCache, cache_for
from dataprep.lengths import Lengths, LengthSetup, Meter, summary_lines
from dataprep.records import UNPARSED, Plain, Problem, Record
from dataprep.rulepack import Pack, PackArgs, Setting
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


@dataclass(frozen=True)
class FileContext:
    """What dataset-level checks may know about the file they look at. `stats` and `meter`
    fill as the file is read; by the time `finish` runs they are complete, and so is `lengths`."""

    path: str
    stats: FileStats
    spec: Spec | None = None
    entry: dataset_info.Entry | None = None
    images: ImageCache | None = None  # set when an image file rule is active
    sft: tuple[str, ...] = ()  # --sft files: the answers a DPO dataset's chosen are compared with
    setup: LengthSetup | None = None  # token lengths asked for (--tokenizer, --lengths, stats)
    meter: Meter | None = None  # measuring this file's records, when `setup` is set

    @functools.cached_property
    def lengths(self) -> Lengths | None:
        """The measured lengths (once the file is read)."""
        return self.meter.finish() if self.meter is not None else None


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


Observe = Callable[[FileContext, Record, Sample | None], None]


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
    observe: Observe | None = None,
    reference: bool | None = None,
    ray: Any = None,
) -> Iterator[Finding]:
    """Findings for data files (or the entries of a dataset_info.json), file by file.

    What was read goes to `summary` (files, notes, lengths, record hashes when its `hashes` is
    a dict); files that cannot be read are recorded in `summary.errors` and linting goes on.
    `progress(path, size)` may return a callback that receives bytes read so far. `images`
    holds the image root and thread count (defaults: each data file's folder, one per core).
    `sft` names the SFT data a DPO dataset's chosen answers are compared with (off-policy-chosen).
    `lengths` measures token lengths (files are then read in one process: the tokenizer
    encodes in batches on every core). `observe(ctx, record, sample)` sees every record (the
    report's profile); it too reads each file in one process. `reference=True` runs every check
    on every record one at a time, without prefilters or batch keys: the engine's definition,
    which tests compare it with; `False` runs the engine; None (the default) the engine unless
    the input is under a megabyte, where starting it costs more than it saves. `ray` (a
    `dataprep.cluster.Ray`) runs the files as tasks on a Ray cluster instead of `jobs`
    processes here.
    """
    # Workers rebuild the pack from how it was loaded; a Pack object given as such stays here.
    pack_args = pack if isinstance(pack, PackArgs) else (PackArgs() if pack is None else None)
    pack = pack_args.load() if pack_args else pack
    if reference is None:
        reference = _small(paths, info)
    plan = Plan(pack, batched=not reference)
    images = cache_for(plan, images)
    summary = summary if summary is not None else Summary()
    units: list[tuple[readers.Source, Spec | None, dataset_info.Entry | None]] = []
    if info:
        entries, summary.skipped = dataset_info.load(info, datasets)
        for entry in entries:
            yield from _entry_notes(entry, plan)
            units.extend(_entry_sources(entry, summary.errors))
    units.extend((source, spec, None) for source in readers.expand(paths or []))
    files = [(source, _context(source, file_spec, entry, images, sft, lengths))
             for source, file_spec, entry in units]  # fmt: skip
    local = summary.hashes is None and lengths is None and observe is None
    remote = None
    if ray is not None:
        remote = _cluster().start(ray, pack_args, plan, files, _wants(summary, observe, pack_args))
    for source, ctx in files:
        summary.files.append(ctx.stats)
        size = readers.file_size(source)
        tick = progress(source.display, size) if progress else None
        try:
            if remote is not None and remote.handles(ctx):
                found = remote.lint(ctx, plan, tick, summary.hashes, observe)
            elif jobs > 1 and local and pack_args and _parallel(source, size):
                found = _chunks().lint_parallel(source, ctx, plan, pack_args, jobs, tick)
            else:
                found = lint_file(source, ctx, plan, tick, summary.hashes, observe)
            for item in found:
                if type(item) is Note:
                    summary.notes.append(item.text)
                else:
                    yield item
            if ctx.lengths is not None:
                summary.lengths[ctx.path] = ctx.lengths
        except DataprepError as exc:
            summary.errors.append(exc)
            if not ctx.stats.records:
                summary.files.remove(ctx.stats)  # never read: the error says all there is


def _context(
    source: readers.Source,
    spec: Spec | None,
    entry: dataset_info.Entry | None,
    images: ImageCache | None,
    sft: list[str] | None,
    lengths: LengthSetup | None,
) -> FileContext:
    """A file's context, with a meter of its own when token lengths are measured."""
    meter = lengths.meter() if lengths is not None else None
    stats = FileStats(source.display)
    return FileContext(source.display, stats, spec, entry, images, tuple(sft or ()), lengths, meter)


def _wants(summary: Summary, observe: Any, pack_args: PackArgs | None):
    """What Ray tasks collect beside findings: record hashes (baselines), and a fork of the
    observer (the report's profile), which must know how to run elsewhere."""
    fork = getattr(observe, "fork", None)
    if observe is not None and (fork is None or pack_args is None):
        raise DataprepError(
            "this observer cannot run on Ray workers (it has no fork and absorb)",
            fix="lint in this process, or observe with a dataprep.profile.Profile",
        )
    profile = fork(pack_args) if fork is not None else None
    return _chunks().Wants(hashes=summary.hashes is not None, profile=profile)


def _parallel(source: readers.Source, size: int | None) -> bool:
    """Whether `--jobs` splits this file across worker processes."""
    return _chunks().splittable(source, size) and _chunks().spawnable()


def _entry_sources(
    entry: dataset_info.Entry, errors: list[DataprepError]
) -> Iterator[tuple[readers.Source, Spec | None, dataset_info.Entry]]:
    """The files of a dataset_info entry to read; a missing one is an error, not a source."""
    for path in entry.files:
        display = str(path)
        if not path.exists():
            errors.append(
                DataprepError(
                    f"dataset {entry.name!r}: file_name points to a missing file",
                    path=display,
                    fix=f"check file_name of {entry.name!r} in {entry.info_path}",
                )
            )
            continue
        kind = "text" if path.name.endswith(readers.TEXT_SUFFIXES) else "json"
        yield readers.Source(display, path, kind), entry.spec, entry


def _chunks():
    """`dataprep.chunks`, which builds on this module (hence imported when first used)."""
    from dataprep import chunks

    return chunks


def _cluster():
    """`dataprep.cluster` (`--executor ray`), which builds on this module."""
    from dataprep import cluster

    return cluster


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


def lint_file(
    source: readers.Source,
    ctx: FileContext,
    plan: Plan,
    tick: Callable[[int], None] | None = None,
    hashes: dict | None = None,
    observe: Observe | None = None,
) -> Iterator[Finding | Note]:
    """One file's findings and notes, read in this process."""
    states = new_states(plan, ctx)
    fast = hashes is None and observe is None
    items = readers.read_items(source, tick, plain_check(plan, ctx, states) if fast else None)
    yield from lint_records(items, ctx, plan, states, hashes=hashes, observe=observe)
    yield from finish(plan, states, ctx)


def lint_records(
    records: Iterable[Record | Problem | Plain],
    ctx: FileContext,
    plan: Plan,
    states: list[tuple[Setting, Any]],
    costs: Costs | None = None,
    *,
    hashes: dict | None = None,
    observe: Observe | None = None,
) -> Iterator[Finding]:
    """The per-record part of linting: parse and schema problems, then the record checks,
    a batch at a time (`dataprep.engine`); findings come out in record order, then those of
    the file-level problems the reader ends with. Plain records are only counted into
    `ctx.stats`; `hashes` collects each record's content hash, `observe` sees each parsed
    record."""
    spec = ctx.spec
    stats = ctx.stats
    formats = stats.formats
    observing = [(s, state) for s, state in states if plan.per_record(s.module)]
    meter = ctx.meter
    count = 0
    pending: list[tuple[Record, Sample | None, list[Finding]]] = []
    try:
        for record in records:
            kind = type(record)
            if kind is Plain:
                count += 1
                _count_plain(stats, record)
                continue
            if kind is Problem:  # the file's own, after its records
                if pending:
                    yield from _check_batch(pending, plan, states, costs)
                    pending = []
                yield from problem_findings(plan, record, ctx.path, None, None)
                continue
            count += 1
            if hashes is not None:
                hashes[record.source, record.index] = record_hash(record.raw)
            before = _problems(plan, record, record.problems) if record.problems else []
            if record.value is UNPARSED:
                if pending:
                    pending.append((record, None, before))
                else:
                    yield from before
                continue
            sample, problems = normalise(record, spec)
            if problems:
                before += _problems(plan, record, problems)
            for setting, state in observing:
                setting.module.observe(state, record, sample)
            if observe is not None:
                observe(ctx, record, sample)
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
        stats.records += count
        raise
    if pending:
        yield from _check_batch(pending, plan, states, costs)
    stats.records += count


def _problems(plan: Plan, record: Record, problems: Iterable[Problem]) -> list[Finding]:
    """The findings of a record's reader or normaliser problems that the pack reports."""
    return [
        f
        for problem in problems
        if problem.rule in plan.by_problem
        for f in problem_findings(plan, problem, record.source, record.line, record.index)
    ]


_PLAIN_KEY = ("alpaca", "sft")


def _count_plain(stats: FileStats, plain: Plain) -> None:
    """A plain alpaca SFT record in the file's stats, as the general path would count it."""
    if _PLAIN_KEY not in stats.formats:
        stats.first[_PLAIN_KEY] = (plain.line, plain.index)
    stats.formats[_PLAIN_KEY] += 1
    shape = stats.plain.get(plain.fields)
    if shape is None:
        stats.plain[plain.fields] = [1, plain.line, plain.index, plain.index]
    else:
        shape[0] += 1
        shape[3] = plain.index


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


def plain_check(
    plan: Plan, ctx: FileContext, states: list[tuple[Setting, Any]]
) -> readers.PlainCheck | None:
    """The fast path: plain alpaca SFT records that no active check can flag are only counted.

    Open when formats are detected (no Spec), no sample check applies to alpaca SFT, no token
    lengths are measured and no dataset check observes plain records one by one. A record is
    plain only when normalising it could raise no problem: exactly instruction/output (and
    input), all strings, and no quote beyond the 4 per key/value pair, which also rules out
    duplicate keys. Everything else takes the general path; tests/test_fast_path.py checks that
    both paths agree.
    """
    if ctx.spec is not None or ctx.meter is not None or plan.for_format("alpaca", "sft"):
        return None
    if any(observes_plain(s.module) for s, _ in states):
        return None
    return plain_fields


def plain_fields(value: dict, raw: bytes) -> int:
    """2 or 3 when `value` is a plain alpaca SFT record (instruction, output, maybe input, all
    strings, written without escaped quotes), else 0."""
    n = len(value)
    if n == 3:
        if type(value.get("input")) is not str:
            return 0
    elif n != 2:
        return 0
    if type(value.get("instruction")) is not str or type(value.get("output")) is not str:
        return 0
    if raw.count(b'"') != 4 * n:
        return 0
    return n


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
    module = setting.module
    fix = problem.fix or (module.FIX if isinstance(module, ProblemCheck) else "")
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


def finish(
    plan: Plan,
    states: list[tuple[Setting, Any]],
    ctx: FileContext,
    reduced: dict[int, Iterable[Hit]] | None = None,
) -> Iterator[Finding | Note]:
    """The dataset checks' findings once the file is read, with the notes for the summary
    (the file's token lengths first). `reduced`: the hits of the checks (by position in
    `states`) already found elsewhere (partitioned on a cluster)."""
    if ctx.setup is not None and ctx.lengths is not None:
        for text in summary_lines(ctx.path, ctx.setup, ctx.lengths):
            yield Note(text)
    for i, (setting, state) in enumerate(states):
        if reduced is not None and i in reduced:
            hits = reduced[i]
        else:
            hits = setting.module.finish(state, setting.options, ctx)
        for hit in hits:
            if type(hit) is Note:
                yield hit
            else:
                yield finding(setting, hit, ctx.path, None, None)
