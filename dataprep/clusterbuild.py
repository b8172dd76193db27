"""`dataprep build --executor ray`: each shard built by a Ray task, the same rows as a local build.

The driver reads and mixes the datasets (`stages.read`) and deals the records into shards of
`shard_size`, as a local build does; each shard goes into Ray's object store once. A shard
depends on the ones before it in two ways only, and both are settled before it is built:

- **Exact duplicates.** A record is a copy when an earlier record that passed the gate has
  its content key. A first task per shard runs the gate (fixers, error rules, image files)
  and returns the keys of the records it passes, in order; the driver walks the shards in
  order and hands each shard's build task the earlier shards' first occurrences of its own
  keys. Copies within a shard are the shard's own gate's, as locally. (The gate runs twice
  per record: the price of building the shards in parallel.)
- **The layout** (sft, dpo or kto, images or not) is the first admitted record's; the driver
  passes each shard the layout of the shards before it.

A build task writes its shard into a scratch folder of its own and moves the files into the
partial build, its marker last: a task killed half-way leaves nothing in the result, and Ray
runs it again (a task has no other effects). A shard whose marker exists is replayed, not
rebuilt, so a rerun resumes from the finished tasks, as a local build resumes from its
finished shards. With `--cutoff-len auto` the shards are encoded and spilled by tasks, the
cutoff is chosen from their lengths, and further tasks cut and write them. Workers need the
inputs, the tokenizer and the output folder at the same paths as the driver.
"""

from __future__ import annotations

import os
import pickle
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataprep import buildcache, builder, cluster, stages
from dataprep.builder import ENCODE_BATCH, Input, Options, Run
from dataprep.lengths import LengthSetup
from dataprep.rulepack import PackArgs
from dataprep.stages import Layout, Ledger, Timings

SCRATCH = ".tasks"  # in the partial build: each task's folder while it writes


@dataclass(frozen=True)
class Work:
    """What every task of one build needs to set itself up on a worker."""

    partial: str
    setup: LengthSetup
    pack: PackArgs
    options: Options


def write_shards(run: Run, inputs: list[Input], *, ray: cluster.Ray, pack: PackArgs) -> int:
    """Every shard built by Ray tasks (or replayed from its marker); returns the cutoff_len
    used. `run` is the driver's: it collects the counts, keys and layout of every shard."""
    api = cluster.connect(ray.address)
    work = Work(str(run.partial), run.setup, pack, run.options)
    tasks = _Tasks(api, work)
    try:
        cutoff = _built(run, inputs, tasks)
    except BaseException:
        tasks.cancel()  # none of this run's tasks may write into a partial build retried
        raise
    shutil.rmtree(run.partial / SCRATCH, ignore_errors=True)
    builder.closed(run)
    return cutoff


def _built(run: Run, inputs: list[Input], tasks: _Tasks) -> int:
    from dataprep.lengths import recommended_cutoff

    options, partial = run.options, run.partial
    shards = stages.shards(run.timings.stage("read", stages.read(inputs, options)),
                           options.shard_size)  # fmt: skip
    auto = options.cutoff_len is None
    first = "encoded" if auto else "shard"
    done = buildcache.markers(partial, first)
    building: list[tuple[int, Any]] = []
    lengths: dict[int, list[int]] = {}  # by shard: the cutoff sees them in shard order
    count = 0
    for number, records, keys in tasks.keyed(shards, done):
        count += 1
        state = builder.replay(run, first, number, done)
        if state is not None:
            lengths[number] = state.get("lengths", [])
            continue
        passing = tasks.result(keys)
        prior = _prior(run, passing)
        layout = (run.layout.kind, run.layout.images)
        _advance(run, passing)
        if auto:
            ref = tasks.encoded(number, records, prior, layout)
        else:
            ref = tasks.shard(number, records, prior, layout, options.cutoff_len)
        building.append((number, ref))
    for number, ref in building:  # in order: counts, keys and layout as a local build adds them
        tasks.timings(run, ref)
        state = builder.replay(run, first, number, {number})
        lengths[number] = state.get("lengths", []) if state else []
    if not auto:
        return options.cutoff_len
    in_order = [n for number in sorted(lengths) for n in lengths[number]]
    cutoff = recommended_cutoff(in_order, run.setup.coverage, run.setup.round)
    written = buildcache.markers(partial, "shard")
    layout = (run.layout.kind, run.layout.images)
    pending = [(n, tasks.spilled(n, layout, cutoff)) for n in range(count) if n not in written]
    for number in sorted(written):
        builder.replay(run, "shard", number, written)
    for number, ref in pending:
        tasks.timings(run, ref)
        builder.replay(run, "shard", number, {number})
    return cutoff


def _prior(run: Run, passing: list[tuple]) -> dict:
    """The first occurrences, in earlier shards, of the keys this shard's gate passes."""
    return {key: run.seen[key] for key, _, _, _ in passing if key in run.seen}


def _advance(run: Run, passing: list[tuple]) -> None:
    """This shard's passing keys and first admitted kind, as seen by the shards after it."""
    for key, where, kind, images in passing:
        if key not in run.seen:
            run.seen[key] = where
        if run.layout.kind is None and kind in stages.KINDS:
            run.layout.kind, run.layout.images = kind, images


class _Tasks:
    """The build's Ray tasks, submitted as the driver deals the shards."""

    def __init__(self, api: Any, work: Work):
        self.api, self.work = api, work
        options = {"max_retries": cluster.RETRIES, "retry_exceptions": False}
        self._keys = api.remote(**options)(_keys_task)
        self._shard = api.remote(**options)(_shard_task)
        self._encoded = api.remote(**options)(_encoded_task)
        self._spilled = api.remote(**options)(_spilled_task)
        self._out: list = []

    def keyed(self, shards: Iterator[list], done: set[int]) -> Iterator[tuple[int, Any, Any]]:
        """(number, records' ref, keys task's ref) of each shard, every keys task submitted
        before the first is waited for (None for shards already built)."""
        submitted = []
        for number, records in enumerate(shards):
            if number in done:
                submitted.append((number, None, None))
                continue
            ref = self.api.put(records)
            submitted.append((number, ref, self._submit(self._keys, ref)))
        yield from submitted

    def shard(self, number: int, records: Any, prior: dict, layout: tuple, cutoff: int):
        return self._submit(self._shard, number, records, prior, layout, cutoff)

    def encoded(self, number: int, records: Any, prior: dict, layout: tuple):
        return self._submit(self._encoded, number, records, prior, layout)

    def spilled(self, number: int, layout: tuple, cutoff: int):
        return self._submit(self._spilled, number, layout, cutoff)

    def _submit(self, task: Any, *args: Any) -> Any:
        ref = task.remote(self.work, *args)
        self._out.append(ref)
        return ref

    def result(self, ref: Any) -> Any:
        try:
            return pickle.loads(self.api.get(ref))
        except self.api.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None  # FastPathMismatch, a DataprepError, ...
        except self.api.exceptions.RayError as exc:
            from dataprep.errors import DataprepError

            first = str(exc).splitlines()[0] if str(exc) else ""
            raise DataprepError(
                f"a Ray build task failed ({type(exc).__name__}: {first}); a task whose "
                f"worker died was retried {cluster.RETRIES} times first",
                path=self.work.partial,
                fix="check the workers' logs (ray logs) and memory; rerun to resume from the "
                "shards already built",
            ) from None

    def timings(self, run: Run, ref: Any) -> None:
        """Wait for a build task; its stages' seconds added to the driver's."""
        run.timings.seconds.update(self.result(ref))

    def cancel(self) -> None:
        for ref in self._out:
            self.api.cancel(ref, force=True)
        if self._out:
            self.api.wait(self._out, num_returns=len(self._out), timeout=60)


# --- on the workers ---------------------------------------------------------------------------

_STARTED: dict[tuple, Run] = {}  # per worker process: encoder, plan and fixers load once a build


def _run(work: Work, scratch: Path | None) -> Run:
    """A fresh run for one task (its own counts, keys and timings) on the worker's encoder."""
    key = (work.partial, work.options, work.pack, work.setup.tokenizer.name)
    base = _STARTED.get(key)
    if base is None:
        for old in _STARTED.values():  # another build's: its vocabulary process ends with it
            old.encoder.close()
        _STARTED.clear()
        base = builder.start(Path(work.partial), work.setup, work.pack.load(), work.options, None)
        _STARTED[key] = base
    return Run(scratch or Path(work.partial), base.setup, base.plan, base.fixers, base.encoder,
                base.options, None, Layout(), Timings(), base.pool, caches=base.caches)  # fmt: skip


class _Passing(dict):
    """What the gate passes, in order, as (key, (source, line)); it never says a key was seen,
    so every record is judged on its own (the driver decides the copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[tuple[int, tuple]] = []

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: int, where: tuple) -> None:
        self.order.append((key, where))


def _keys_task(work: Work, records: list) -> bytes:
    """The shard's records that pass the gate: (key, (source, line), kind, has images)."""
    run = _run(work, None)
    passing = _Passing()
    kept = []
    batches = stages.slices(records, ENCODE_BATCH)
    for batch in stages.gate(batches, run.plan, run.fixers, passing, [], run.media, Ledger()):
        kept.extend(batch)
    rows = [(key, where, item.sample.kind, bool(item.sample.images))
            for (key, where), item in zip(passing.order, kept, strict=True)]  # fmt: skip
    return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _shard_task(work: Work, number: int, records: list, prior: dict, layout: tuple,
                cutoff: int) -> bytes:  # fmt: skip
    with _scratch(work, "shard", number) as scratch:
        run = _prepared(work, scratch, prior, layout)
        builder.whole_shard(run, number, records, cutoff)
        _fault_and_publish(scratch, Path(work.partial), "shard", number)
    return _timings(run)


def _encoded_task(work: Work, number: int, records: list, prior: dict, layout: tuple) -> bytes:
    with _scratch(work, "encoded", number) as scratch:
        run = _prepared(work, scratch, prior, layout)
        builder.encoded_shard(run, number, records)
        _fault_and_publish(scratch, Path(work.partial), "encoded", number)
    return _timings(run)


def _spilled_task(work: Work, number: int, layout: tuple, cutoff: int) -> bytes:
    spill = Path(work.partial) / f"spill-{number:05d}.pickle"
    with _scratch(work, "spilled", number) as scratch:
        os.link(spill, scratch / spill.name)  # consumed there; the original stays for a retry
        run = _prepared(work, scratch, {}, layout)
        builder.spilled_shard(run, number, cutoff)
        _fault_and_publish(scratch, Path(work.partial), "shard", number)
    spill.unlink(missing_ok=True)
    return _timings(run)


def _prepared(work: Work, scratch: Path, prior: dict, layout: tuple) -> Run:
    run = _run(work, scratch)
    run.seen.update(prior)
    run.layout.kind, run.layout.images = layout
    return run


@contextmanager
def _scratch(work: Work, stage: str, number: int) -> Iterator[Path]:
    """A task attempt's own folder inside the partial build, removed afterwards."""
    path = Path(work.partial) / SCRATCH / f"{stage}-{number:05d}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fault_and_publish(scratch: Path, partial: Path, stage: str, number: int) -> None:
    """The attempt's files moved into the partial build, its marker last."""
    cluster.fault()
    marker = scratch / f"{stage}-{number:05d}.json"
    for path in sorted(scratch.rglob("*")):
        if path.is_file() and path != marker:
            target = partial / path.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    os.replace(marker, partial / marker.name)


def _timings(run: Run) -> bytes:
    return pickle.dumps(dict(run.timings.seconds), protocol=pickle.HIGHEST_PROTOCOL)
