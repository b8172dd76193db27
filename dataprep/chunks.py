"""`--jobs`: byte ranges of one JSONL file linted by worker processes, stitched back in order.

The line numbers, record indexes and dataset-level states of the chunks are shifted and merged
in file order, so the output is the same as a serial run. Workers are spawned, not forked: a
forked child deadlocks on polars' thread pool once this process has used it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from dataprep import linter, readers
from dataprep.checks.shape import ObservingCheck
from dataprep.engine import Plan
from dataprep.errors import DataprepError
from dataprep.findings import Finding, Hit, Note
from dataprep.lengths import Lengths
from dataprep.linter import FileContext, FileStats
from dataprep.rulepack import PackArgs, Setting

CHUNK_BYTES = 32 << 20  # a work unit; small enough to balance, large enough to amortise
MIN_PARALLEL_BYTES = 8 << 20  # below this, starting workers costs more than it saves


def splittable(source: readers.Source, size: int | None, minimum: int = MIN_PARALLEL_BYTES) -> bool:
    """Plain (uncompressed) JSONL files of at least `minimum` bytes."""
    if source.path is None or size is None or size < minimum or source.kind != "json":
        return False
    with open(source.path, "rb") as f:
        head = f.read(readers.SNIFF_BYTES)
    if head[:2] == b"\x1f\x8b":
        return False
    body = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return body[:1] == b"{" and not body.startswith(b"{\n") and not body.startswith(b"{\r\n")


def spawnable() -> bool:
    """Whether spawned workers can start: each re-imports the main module from its file, so a
    program read from stdin (`python - < script.py`, whose main file is "<stdin>") cannot."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


def bounds(source: readers.Source, parts: int, chunk_bytes: int = CHUNK_BYTES) -> list[int]:
    """Byte offsets cutting a splittable file into at least `parts` ranges of at most about
    `chunk_bytes`, each starting a line. Sniffing refuses non-data files first."""
    raw, stream = readers.open_stream(source)
    try:
        readers.sniff(source, stream)
    finally:
        raw.close()
    size = os.path.getsize(source.path)  # type: ignore[arg-type]
    count = max(parts, -(-size // chunk_bytes), 1)
    starts = readers.line_starts(source.path, [size * i // count for i in range(count + 1)])
    return sorted(set(starts))  # a line longer than a range leaves that range empty


def lint_parallel(
    source: readers.Source,
    ctx: FileContext,
    plan: Plan,
    pack_args: PackArgs,
    jobs: int,
    tick: Callable[[int], None] | None,
) -> Iterator[Finding | Note]:
    ends = bounds(source, jobs)
    tasks = [(source, ctx, ends[i], ends[i + 1]) for i in range(len(ends) - 1)]
    context = multiprocessing.get_context("spawn")
    # An executor, not a Pool: a worker that dies (killed for memory) breaks it with an error,
    # where a Pool starts another worker and waits forever for the lost chunk.
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init_worker, initargs=(pack_args, plan.batched)
    )
    try:
        yield from stitch(_results(pool, tasks, source.display), ends, ctx, plan, tick)
    finally:
        pool.shutdown(cancel_futures=True)


Reduce = Callable[[list[tuple[Setting, Any]], list[tuple[int, int]]], dict[int, Iterable[Hit]]]


class Chunk(NamedTuple):
    """What linting a chunk gives: its findings (lines and records counted from its start),
    its line count, its dataset checks' states, its stats, and what the run collects beside
    findings when asked (`Wants`)."""

    findings: list[Finding]
    lines: int
    states: list
    stats: FileStats
    lengths: Lengths | None = None  # token lengths, when the run measures them
    examples: tuple = ()  # the meter's first samples (the template checks read them)
    hashes: dict | None = None  # (path, record) -> content hash, for baselines
    profile: Any = None  # the report's profile of the chunk's records


@dataclass(frozen=True)
class Wants:
    """What a chunk collects beside findings: record hashes, and an empty profile to fill
    (`Profile.fork`). Token lengths are measured when the file's context has a setup."""

    hashes: bool = False
    profile: Any = None


def stitch(
    results: Iterable[Chunk],
    ends: list[int],
    ctx: FileContext,
    plan: Plan,
    tick: Callable[[int], None] | None,
    reduce: Reduce | None = None,
    hashes: dict | None = None,
    observe: Any = None,
) -> Iterator[Finding | Note]:
    """The findings of a file's chunks (in file order) shifted to file lines and records,
    their dataset states, stats, lengths, hashes (into `hashes`) and profiles (into
    `observe`) merged, then the dataset checks' own findings. A chunk's state may be None
    for a check that `reduce(states, offsets)` finds elsewhere, given every chunk's offset."""
    lines = records = 0
    states = linter.new_states(plan, ctx)
    offsets = []
    for i, chunk in enumerate(results):
        offsets.append((lines, records))
        collected(chunk, ctx, hashes, observe, lines, records)  # before its findings use them
        for f in chunk.findings:
            yield f.shifted(lines, records)
        for (setting, state), other in zip(states, chunk.states, strict=True):
            if isinstance(setting.module, ObservingCheck) and other is not None:
                setting.module.merge(state, other, (lines, records))
        ctx.stats.add(chunk.stats, lines, records)
        lines += chunk.lines
        records += chunk.stats.records
        if tick:
            tick(ends[i + 1])
    reduced = reduce(states, offsets) if reduce is not None else None
    yield from linter.finish(plan, states, ctx, reduced)


def fetcher(
    offsets: list[tuple[int, int]], records: int, lookup: Callable[[list], list]
) -> Callable[[Any], list]:
    """`fetch(indexes)` for a lookup check's combine: file-wide record indexes split by the
    chunk they fall in (`offsets`: each chunk's lines and records before it; `records`: the
    file's), looked up by `lookup([(chunk, chunk-relative indexes), ...])`, each result with
    its chunk's offset."""
    import numpy as np

    starts = np.array([r for _, r in offsets] + [records])

    def fetch(indexes: Any) -> list:
        wanted = []
        for c in range(len(offsets)):
            inside = (indexes >= starts[c]) & (indexes < starts[c + 1])
            if inside.any():
                wanted.append((c, indexes[inside] - starts[c]))
        found = lookup(wanted)
        return [(piece, offsets[c]) for (c, _), piece in zip(wanted, found, strict=True)]

    return fetch


def collected(
    chunk: Chunk, ctx: FileContext, hashes: dict | None, observe: Any, lines: int, records: int
) -> None:
    """A chunk's lengths, hashes and profile into the file's meter, the run's hashes and the
    run's profile, shifted by the lines and records before the chunk."""
    if chunk.lengths is not None and ctx.meter is not None:
        ctx.meter.absorb(chunk.lengths, list(chunk.examples), lines, records)
    if chunk.hashes and hashes is not None:
        for (path, index), digest in chunk.hashes.items():
            hashes[path, index + records] = digest
    if chunk.profile is not None and observe is not None:
        observe.absorb(chunk.profile, lines, records)


def _results(pool: ProcessPoolExecutor, tasks: list, path: str) -> Iterator[tuple]:
    """The chunks' results in file order, or a clear error when a worker died."""
    try:
        yield from pool.map(_lint_chunk, tasks)
    except BrokenProcessPool as exc:
        raise DataprepError(
            f"a --jobs worker process died while linting this file ({exc}); the system may "
            "have run out of memory",
            path=path,
            fix="rerun with --jobs 1, or with fewer jobs",
        ) from None


_WORKER_PLAN: Plan | None = None


def _init_worker(pack_args: PackArgs, batched: bool) -> None:
    global _WORKER_PLAN
    gc.set_threshold(50_000, 20, 20)  # as in the CLI (dataprep.cli.main): no cycles to chase
    _WORKER_PLAN = Plan(pack_args.load(), batched=batched)


def _lint_chunk(task: tuple) -> tuple:
    assert _WORKER_PLAN is not None
    return lint_chunk(_WORKER_PLAN, *task)


def lint_chunk(plan: Plan, source: readers.Source, ctx: FileContext, start: int, end: int) -> Chunk:
    """One chunk linted (`lint_range`), its states without their checks (to pickle)."""
    chunk = lint_range(plan, source, ctx, start, end)
    return chunk._replace(states=[s for _, s in chunk.states])


def lint_range(
    plan: Plan,
    source: readers.Source,
    ctx: FileContext,
    start: int,
    end: int,
    wants: Wants = Wants(),
) -> Chunk:
    """The lines [start, end) of a JSONL file linted as a chunk, its states beside their
    checks; token lengths measured when `ctx.setup` asks, hashes and a profile when `wants`."""
    path = Path(source.path)
    meter = ctx.setup.meter() if ctx.setup is not None else None
    ctx = replace(ctx, stats=FileStats(source.display), meter=meter)
    states = linter.new_states(plan, ctx)
    hashes = {} if wants.hashes else None
    fast = hashes is None and wants.profile is None
    plain = linter.plain_check(plan, ctx, states) if fast else None
    records = readers.read_range(path, source.display, start, end, plain)
    findings = list(linter.lint_records(records, ctx, plan, states, hashes=hashes,
                                        observe=wants.profile))  # fmt: skip
    lines = readers.count_lines(path, start, end)
    if meter is None:
        return Chunk(findings, lines, states, ctx.stats, hashes=hashes, profile=wants.profile)
    lengths, examples = meter.finish(), tuple(meter.examples)
    return Chunk(findings, lines, states, ctx.stats, lengths, examples, hashes, wants.profile)
