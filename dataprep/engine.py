"""The check engine lint, clean and build share: a rule pack over batches of Samples.

A record check may declare `prefilter(opts) -> pl.Expr`, a boolean expression over a batch's
text rows (`dataprep.columns`) that is True on some row of every record its `check` can flag:
a necessary condition, run in compiled code over the whole batch. `check` (the confirm) then
runs only on the records the prefilter selects and says exactly what it said before; a check
without a prefilter runs on every record it applies to. Dataset checks may declare
`observe_batch(state, batch)`, fed the batch's shared columns instead of one record at a time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dataprep.checks.shape import (
    BatchObservingCheck,
    DatasetCheck,
    ObservingCheck,
    Prefiltered,
    RecordCheck,
)
from dataprep.findings import Hit
from dataprep.rulepack import Pack, Setting
from dataprep.sample import Sample

if TYPE_CHECKING:  # polars is imported when a batch is first checked: lint starts fast
    import polars as pl

    from dataprep.columns import Batch

BATCH = 2048  # records per batch: large enough to amortise a kernel call, small for memory


def _applies(allowed: tuple[str, ...], value: str) -> bool:
    return "*" in allowed or value in allowed


class Plan:
    """A pack turned into dispatch tables, so a clean record costs no check call it cannot fail."""

    def __init__(self, pack: Pack, *, batched: bool = True):
        """`batched=False` is the reference path: every check on every record, dataset checks
        fed one record at a time (what the differential tests compare the engine with)."""
        self.pack = pack
        self.batched = batched
        enabled = pack.enabled()
        self.by_problem = {s.module.NAME: s for s in enabled}
        self.sample_rules = [s for s in enabled if isinstance(s.module, RecordCheck)]
        self.dataset_rules = [s for s in enabled if isinstance(s.module, DatasetCheck)]
        self.prefilters = _prefilters(self.sample_rules) if batched else {}
        self._for: dict[tuple[str, str], list[Setting]] = {}

    def per_record(self, module) -> bool:
        """Whether a dataset check observes records one by one (else a batch at a time)."""
        return isinstance(module, ObservingCheck) and not (
            self.batched and isinstance(module, BatchObservingCheck)
        )

    def for_sample(self, sample: Sample) -> list[Setting]:
        found = self._for.get((sample.format, sample.kind))
        return found if found is not None else self.for_format(sample.format, sample.kind)

    def for_format(self, fmt: str, kind: str) -> list[Setting]:
        found = self._for.get((fmt, kind))
        if found is None:
            found = self._for[fmt, kind] = [
                s
                for s in self.sample_rules
                if _applies(s.module.FORMATS, fmt) and _applies(s.module.KINDS, kind)
            ]
        return found


def _prefilters(rules: list[Setting]) -> dict[str, pl.Expr | Callable[[pl.DataFrame], np.ndarray]]:
    """Rule name -> its compiled prefilter: a boolean expression over text rows (nulls False),
    or a function of the text frame giving one boolean per text row."""
    import polars as pl

    found = {}
    for s in rules:
        if isinstance(s.module, Prefiltered):
            select = s.module.prefilter(s.options)
            if isinstance(select, pl.Expr):
                select = select.fill_null(False).alias(s.module.NAME)
            found[s.module.NAME] = select
    return found


@dataclass
class Costs:
    """Where checking time goes, per rule (for the benchmark's cost table)."""

    records: int = 0
    prefilter: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    confirm: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    candidates: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    observe: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def candidates(plan: Plan, batch: Batch, costs: Costs | None = None) -> dict[str, np.ndarray]:
    """Per prefiltered rule, a boolean per record of the batch: whether its check must run
    (always for a record without texts, whose check a text prefilter cannot speak for)."""
    import polars as pl

    frame = batch.frame
    if not len(frame):  # no texts: nothing a prefilter can rule out
        return {name: batch.textless for name in plan.prefilters}
    exprs = {n: f for n, f in plan.prefilters.items() if isinstance(f, pl.Expr)}
    found = {}
    if costs is None and exprs:  # one select: polars evaluates the expressions in parallel
        selected = frame.select(list(exprs.values()))
        found = {
            name: batch.any_per_record(selected[name].to_numpy()) | batch.textless for name in exprs
        }
    for name, select in plan.prefilters.items():
        if name in found:
            continue
        start = time.perf_counter()
        if isinstance(select, pl.Expr):
            per_text = frame.select(select).to_series().to_numpy()
        else:
            per_text = select(frame)
        found[name] = batch.any_per_record(per_text) | batch.textless
        if costs is not None:
            costs.prefilter[name] += time.perf_counter() - start
            costs.candidates[name] += int(found[name].sum())
    return found


def sample_hits(
    plan: Plan,
    batch: Batch,
    *,
    errors_only: bool = False,
    costs: Costs | None = None,
) -> list[list[tuple[Setting, Hit]]]:
    """Per record of the batch, the record checks' hits in the pack's order (what running every
    check on every record gives, at the cost of the candidates only)."""
    selected = candidates(plan, batch, costs) if plan.prefilters else {}
    samples = batch.samples
    found: list[list[tuple[Setting, Hit]]] = [[] for _ in samples]
    # The records each check applies to (by format and kind), then its candidates among them.
    groups: dict[tuple[str, str], list[int]] = {}
    for i, sample in enumerate(samples):
        if sample is not None:
            groups.setdefault((sample.format, sample.kind), []).append(i)
    applies: dict[str, np.ndarray] = {}
    for (fmt, kind), members in groups.items():
        for setting in plan.for_format(fmt, kind):
            mask = applies.get(setting.module.NAME)
            if mask is None:
                mask = applies[setting.module.NAME] = np.zeros(len(samples), dtype=bool)
            mask[members] = True
    clock = time.perf_counter
    # Check by check in pack order: each record's hits still come in the pack's order.
    for setting in plan.sample_rules:
        name = setting.module.NAME
        mask = applies.get(name)
        if mask is None or (errors_only and setting.severity != "error"):
            continue
        if name in selected:
            mask = mask & selected[name]
        check, options = setting.module.check, setting.options
        start = clock()
        for i in np.flatnonzero(mask).tolist():
            hits = list(check(samples[i], options))
            if hits:
                found[i].extend((setting, hit) for hit in hits)
        if costs is not None:
            costs.confirm[name] += clock() - start
    if costs is not None:
        costs.records += len(batch)
    return found


def observe_batch(
    plan: Plan,
    states: list[tuple[Setting, object]],
    batch: Batch,
    records: list,
    costs: Costs | None = None,
) -> None:
    """Feed one batch to the dataset checks that take batches."""
    if not plan.batched:
        return
    for setting, state in states:
        module = setting.module
        if not isinstance(module, BatchObservingCheck):
            continue
        start = time.perf_counter()
        module.observe_batch(state, batch, records)
        if costs is not None:
            costs.observe[setting.module.NAME] += time.perf_counter() - start


@dataclass
class Records:
    """A batch as the reference path sees it: its Samples and nothing else (no columns)."""

    samples: list

    def __len__(self) -> int:
        return len(self.samples)


def batch_of(plan: Plan, samples: list) -> Batch | Records:
    """The batch to check `samples` as: columns for the engine, plain records for the
    reference path (which then never imports polars)."""
    if not plan.batched:
        return Records(samples)
    from dataprep.columns import Batch

    return Batch(samples)


def batches(items: Iterator, size: int = BATCH) -> Iterator[list]:
    """Lists of up to `size` consecutive items."""
    pending: list = []
    for item in items:
        pending.append(item)
        if len(pending) >= size:
            yield pending
            pending = []
    if pending:
        yield pending
