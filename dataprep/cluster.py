"""`--executor ray`: the linter's work units run as Ray tasks, on a local instance or a cluster.

A splittable JSONL file is cut into byte ranges (`chunks.bounds`) and each range is one task
running the same `chunks.lint_chunk` as `--jobs`; any other file (gzip, a JSON array) is one task
linting the whole file. Every file's tasks are submitted at once, so many small files keep the
cluster as busy as one large one; their results are stitched in file order by `chunks.stitch`,
so the findings are those of a local run. The duplicate checks (`PartitionedCheck`) are not
gathered: each chunk task cuts their states by key into one piece per partition, and one
reducer task per partition meets that partition's pieces of every chunk. Token lengths,
record hashes and the report's profile are collected by the tasks and merged in file order.
Ray retries a task whose worker died (killed, out of memory, its node lost) up to `RETRIES`
times; a task has no side effects, so a retry is just the same work again.

Workers read the input files by path: on a cluster, the data (and `--rules`, a local
`--tokenizer`) must be on storage every node mounts at the same path, and llm-dataprep
installed on every node, as for any Ray program.
"""

from __future__ import annotations

import gc
import itertools
import os
import pickle
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from dataprep import chunks, linter, readers
from dataprep.checks.shape import LookupCheck, PartitionedCheck
from dataprep.engine import Plan
from dataprep.errors import DataprepError
from dataprep.findings import Finding, Note
from dataprep.linter import FileContext, FileStats
from dataprep.rulepack import PackArgs

RETRIES = 3  # a task whose worker died runs again this many times before the run fails
FAULT = "DATAPREP_RAY_FAULT"  # tests: the first task to see PATH here creates it and dies

Progress = Callable[[int, int, int], None]  # (tasks done, tasks in all, records stitched)


def connect(address: str | None) -> Any:
    """The `ray` module, connected: to the cluster at `address` ("auto" finds one started with
    `ray start`; "ray://host:10001" goes through Ray Client), or to a new local instance with
    this machine's cores when None."""
    _token_auth(address)  # read when Ray is imported
    try:
        import ray
    except ImportError:
        raise DataprepError(
            "--executor ray needs Ray, which is not installed",
            fix="pip install 'llm-dataprep[ray]'",
        ) from None
    if not ray.is_initialized():
        _reachable(address)
        try:
            # "local", not None: None would join any cluster `ray start` left on this machine.
            ray.init(address=address or "local", logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise DataprepError(
                f"cannot connect to the Ray cluster at {address!r}: {exc}",
                fix="start one with `ray start --head`, or leave out --address for a local one",
            ) from None
    return ray


def _reachable(address: str | None) -> None:
    """Refuse an address nothing listens on at once (Ray itself retries for minutes)."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise DataprepError(
            f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT",
            fix="e.g. --address auto, --address 10.0.0.5:6379, --address ray://10.0.0.5:10001",
        )
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise DataprepError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc})",
            fix="check the head node's address and port (`ray status` on it), or leave out "
            "--address for a local instance",
        ) from None


def _token_auth(address: str | None) -> None:
    """Token authentication on when a token is at hand and the user said nothing: Ray (2.60)
    does this itself for a local instance and for "auto", but not for an explicit address,
    where a cluster that `ray start` secured then refuses the driver."""
    if address in (None, "auto") or "RAY_AUTH_MODE" in os.environ:
        return
    home = os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH", home)
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


@dataclass(frozen=True)
class Ray:
    """How to run on Ray: the cluster's address (None: a local instance), the size of a work
    unit, and a progress callback."""

    address: str | None = None
    chunk_bytes: int = chunks.CHUNK_BYTES
    progress: Progress | None = None


def start(
    ray: Ray,
    pack_args: PackArgs | None,
    plan: Plan,
    files: list[tuple[readers.Source, FileContext]],
    wants: chunks.Wants,
) -> RayLinter:
    """Every file's tasks submitted to the cluster, collecting what `wants` asks beside
    findings (token lengths: when the files' contexts have a setup)."""
    if pack_args is None:
        raise DataprepError(
            "a rule pack given as a Pack object cannot be shipped to Ray workers",
            fix="pass a PackArgs (rule file, select, ignore) instead",
        )
    linter_ = RayLinter(pack_args, plan.batched, wants, ray.address, ray.chunk_bytes,
                        ray.progress)  # fmt: skip
    for source, ctx in files:
        linter_.submit(source, ctx)
    return linter_


@dataclass
class _File:
    """A file's submitted tasks: chunk results to stitch, or one whole-file result."""

    refs: list  # each task's main result
    ends: list[int] | None  # the chunks' byte bounds; None for a whole-file task
    pieces: list = field(default_factory=list)  # per chunk: its partitions' refs
    kept: list = field(default_factory=list)  # per chunk: its lookup checks' states' ref


@dataclass
class RayLinter:
    """Submits every file's tasks up front (`submit`), then yields each file's findings in
    order (`lint`). `chunk_bytes`: the size of a work unit."""

    pack_args: PackArgs
    batched: bool
    wants: chunks.Wants
    address: str | None = None
    chunk_bytes: int = chunks.CHUNK_BYTES
    progress: Progress | None = None
    _files: dict[int, _File] = field(default_factory=dict)
    _waiting: list = field(default_factory=list)  # submitted tasks not yet seen done
    _done: int = 0
    _records: int = 0  # records of the results stitched so far
    _shown: float = 0.0

    def __post_init__(self) -> None:
        ray = connect(self.address)
        self._ray = ray
        options = {"max_retries": RETRIES, "retry_exceptions": False}
        self._chunk = ray.remote(**options)(_chunk_task)
        self._whole = ray.remote(**options)(_file_task)
        self._reducer = ray.remote(**options)(_reduce_task)
        self._lookup = ray.remote(**options)(_lookup_task)
        # One partition per core (at least 2, so the shuffle is always exercised).
        self._parts = max(2, int(ray.cluster_resources().get("CPU", 1)))

    def submit(self, source: readers.Source, ctx: FileContext) -> None:
        """Start linting one file on the cluster (stdin stays local: it cannot be shipped)."""
        if source.path is None:
            return
        key, wants = (self.pack_args, self.batched), self.wants
        size = readers.file_size(source)
        shipped = replace(ctx, meter=None)  # each task measures with a meter of its own
        if chunks.splittable(source, size, minimum=0):
            ends = chunks.bounds(source, self._parts, self.chunk_bytes)
            parts = self._parts
            task = self._chunk.options(num_returns=2 + parts)
            refs = [task.remote(key, wants, source, shipped, a, b, parts)
                    for a, b in itertools.pairwise(ends)]  # fmt: skip
            self._files[id(ctx)] = _File([r[0] for r in refs], ends,
                                         [r[1 : 1 + parts] for r in refs],
                                         [r[1 + parts] for r in refs])  # fmt: skip
        else:
            self._files[id(ctx)] = _File([self._whole.remote(key, wants, source, shipped)], None)
        self._waiting.extend(self._files[id(ctx)].refs)

    def handles(self, ctx: FileContext) -> bool:
        return id(ctx) in self._files

    def lint(
        self,
        ctx: FileContext,
        plan: Plan,
        tick: Callable[[int], None] | None,
        hashes: dict | None = None,
        observe: Any = None,
    ) -> Iterator[Finding | Note]:
        """A submitted file's findings, in the order a local run gives them; its lengths into
        its meter, its hashes into `hashes`, its profile into `observe`."""
        submitted = self._files[id(ctx)]
        if submitted.ends is not None:
            results = self._results(submitted.refs, ctx.path)

            def reduce(states: list, offsets: list[tuple[int, int]]) -> dict:
                return self._reduce(states, offsets, submitted, ctx)

            yield from chunks.stitch(results, submitted.ends, ctx, plan, tick, reduce, hashes,
                                     observe)  # fmt: skip
            return
        (result,) = self._results(submitted.refs, ctx.path)
        items, chunk, error = result
        ctx.stats.add(chunk.stats, 0, 0)
        chunks.collected(chunk, ctx, hashes, observe, 0, 0)
        yield from items
        if error is not None:
            raise error

    def _results(self, refs: list, ctx_path: str) -> Iterator[Any]:
        """Each task's result in order, reporting progress while waiting."""
        ray = self._ray
        for ref in refs:
            while not ray.wait([ref], timeout=0.25)[0]:
                self._report()
            result = pickle.loads(self._get([ref], ctx_path)[0])
            chunk = result if isinstance(result, chunks.Chunk) else result[1]
            self._records += chunk.stats.records
            self._report()
            yield result

    def _reduce(
        self, states: list, offsets: list[tuple[int, int]], submitted: _File, ctx: FileContext
    ) -> dict[int, list]:
        """The partitioned checks' hits: one reducer task per partition meets that partition's
        piece of every chunk (Ray moves them between workers, never through here), then
        each check combines its partitions' results; a lookup check's with the rows it asks
        for, looked up by a task per chunk in the states the chunk tasks kept."""
        key = (self.pack_args, self.batched)
        total = ctx.stats.records
        ctx = replace(ctx, stats=FileStats(ctx.path))
        refs = [
            self._reducer.remote(key, ctx, offsets, *(chunk[part] for chunk in submitted.pieces))
            for part in range(self._parts)
        ]
        results = [pickle.loads(r) for r in self._get(refs, ctx.path)]
        found = {}
        for i, (setting, _) in enumerate(states):
            if i not in results[0]:
                continue
            fetch = None
            if isinstance(setting.module, LookupCheck):

                def lookup(wanted: list, i: int = i) -> list:
                    refs = [self._lookup.remote(key, ctx, i, submitted.kept[c], local)
                            for c, local in wanted]  # fmt: skip
                    return [pickle.loads(r) for r in self._get(refs, ctx.path)]

                fetch = chunks.fetcher(offsets, total, lookup)
            combined = setting.module.combine([r[i] for r in results], setting.options, ctx, fetch)
            found[i] = list(combined)
        return found

    def _get(self, refs: list, path: str) -> list:
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayError as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise DataprepError(
                f"a Ray task failed ({type(exc).__name__}: {first}); a task whose worker "
                f"died was retried {RETRIES} times first",
                path=path,
                fix="check the workers' logs (ray logs) and memory, and that every node has "
                "llm-dataprep installed and reads the data at the same path",
            ) from None

    def _report(self) -> None:
        """Tasks done so far (counted at most every quarter second) and records stitched."""
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self._shown >= 0.25 and self._waiting:
            self._shown = now
            ready, self._waiting = self._ray.wait(
                self._waiting, num_returns=len(self._waiting), timeout=0, fetch_local=False
            )
            self._done += len(ready)
        total = self._done + len(self._waiting)
        self.progress(self._done, total, self._records)


def fault() -> None:
    """The fault-injection hook of the tests: a worker killed after doing its work, before
    returning it (what an out-of-memory kill or a lost node does to a task)."""
    marker = os.environ.get(FAULT)
    if marker and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)


_PLANS: dict[tuple[PackArgs, bool], Plan] = {}  # per worker process: packs load once
_TOKENIZERS: dict[str, Any] = {}  # per worker process: a vocabulary loads once

Key = tuple[PackArgs, bool]  # how to lint: the pack, and whether batched


def _plan(key: Key) -> Plan:
    plan = _PLANS.get(key)
    if plan is None:
        gc.set_threshold(50_000, 20, 20)  # as in the CLI (dataprep.cli.main): no cycles to chase
        plan = _PLANS[key] = Plan(key[0].load(), batched=key[1])
    return plan


def _here(ctx: FileContext) -> FileContext:
    """The shipped context on this worker: a fresh stats, the worker's copy of the tokenizer
    (each task would otherwise load the vocabulary again)."""
    setup = ctx.setup
    if setup is not None:
        tokenizer = _TOKENIZERS.setdefault(setup.tokenizer.name, setup.tokenizer)
        setup = replace(setup, tokenizer=tokenizer)
    return replace(ctx, stats=FileStats(ctx.path), setup=setup)


def _chunk_task(
    key: Key,
    wants: chunks.Wants,
    source: readers.Source,
    ctx: FileContext,
    start: int,
    end: int,
    parts: int,
) -> tuple[bytes, ...]:
    """A byte range linted: its main result (`chunks.lint_chunk`'s, with None for the states
    of partitioned checks), each partition's pieces of those states, and the states of the
    lookup checks (kept in Ray's object store for the rows their results ask for)."""
    chunk = chunks.lint_range(_plan(key), source, _here(ctx), start, end, wants)
    states, pieces, kept = split_states(chunk.states, parts)
    fault()
    return _packed(chunk._replace(states=states)), *map(_packed, pieces), _packed(kept)


def split_states(states: list, parts: int) -> tuple[list, list[dict[int, Any]], dict[int, Any]]:
    """A chunk's states as its task ships them: the unpartitioned ones (None for the others)
    to the driver, each partition's pieces of the partitioned ones (by position) to the
    reducers, and the lookup checks' states, kept in the object store for their lookups."""
    pieces: list[dict[int, Any]] = [{} for _ in range(parts)]
    shipped, kept = [], {}
    for i, (setting, state) in enumerate(states):
        if isinstance(setting.module, PartitionedCheck):
            for part, piece in enumerate(setting.module.partition(state, parts)):
                pieces[part][i] = piece
            if isinstance(setting.module, LookupCheck):
                kept[i] = state
            state = None
        shipped.append(state)
    return shipped, pieces, kept


def _reduce_task(
    key: Key, ctx: FileContext, offsets: list[tuple[int, int]], *pieces: bytes
) -> bytes:
    """One partition of a file's partitioned checks: each check's result from its piece of
    every chunk, in file order."""
    plan = _plan(key)
    chunks_ = [pickle.loads(p) for p in pieces]
    states = linter.new_states(plan, ctx)
    results = {}
    for i, (setting, _) in enumerate(states):
        if isinstance(setting.module, PartitionedCheck):
            given = [(chunk[i], offset) for chunk, offset in zip(chunks_, offsets, strict=True)]
            results[i] = setting.module.reduce(given, setting.options, ctx)
    fault()
    return _packed(results)


def _lookup_task(key: Key, ctx: FileContext, i: int, kept: bytes, indexes: Any) -> bytes:
    """Rows of one chunk's kept state of lookup check `i`, by chunk-relative record index."""
    setting, _ = linter.new_states(_plan(key), ctx)[i]
    return _packed(setting.module.lookup(pickle.loads(kept)[i], indexes))


def _file_task(key: Key, wants: chunks.Wants, source: readers.Source, ctx: FileContext) -> tuple:
    """A whole file linted on a worker: its findings and notes, a Chunk of its stats and what
    the run collects, and the error that stopped it (a damaged file: what was read before
    the damage is still reported)."""
    plan = _plan(key)
    ctx = _here(ctx)
    if ctx.setup is not None:
        ctx = replace(ctx, meter=ctx.setup.meter())
    hashes = {} if wants.hashes else None
    items: list = []
    error = None
    try:
        items.extend(linter.lint_file(source, ctx, plan, None, hashes, wants.profile))
    except DataprepError as exc:
        error = exc
    meter = ctx.meter
    collected = chunks.Chunk(
        [], 0, [], ctx.stats, meter.finish() if meter else None,
        tuple(meter.examples) if meter else (), hashes, wants.profile,
    )  # fmt: skip
    fault()
    return _packed((items, collected, error))


def _packed(result: tuple) -> bytes:
    # Pickled here rather than by Ray: Ray hands numpy arrays back read-only (zero-copy from
    # its object store), and the dataset checks' merges append to and remap theirs in place.
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def progress_line(bar: Any) -> Progress:
    """A driver progress line: tasks done and records/s, on the bar's stream."""
    start = time.monotonic()
    last = [0.0]

    def tick(done: int, total: int, records: int) -> None:
        now = time.monotonic()
        if now - start < 0.5 or (now - last[0] < 0.1 and done < total):
            return
        last[0] = now
        rate = records / max(now - start, 1e-9)
        bar.stream.write(
            f"\rray  {done:,}/{total:,} tasks  {records:,} records  {rate:,.0f} records/s\033[K"
        )
        bar.stream.flush()
        bar.shown = True

    return tick
