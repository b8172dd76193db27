"""The shapes a check module takes, named once: the engine, the linter and `--jobs` ask these
instead of probing for functions one by one.

Every check module is a `Check` (code, name, docstring, formats, kinds, Options) and takes one
of three roles: a `ProblemCheck` documents and reports the problems of its name that readers
and normalisers meet (its `FIX` is their default fix); a `RecordCheck` looks at one normalised
Sample at a time, optionally behind a compiled `Prefiltered` condition; a `DatasetCheck` keeps
a state per file and reports when the file is read. A dataset check that looks at records is
an `ObservingCheck`, whose states merge across `--jobs` chunks, and may also be a
`BatchObservingCheck` fed a batch's columns, or a `PartitionedCheck` reduced by key on a
cluster. An observing check may set `OBSERVES_PLAIN = False` when plain alpaca SFT records
teach it nothing beyond `ctx.stats` (the linter's fast path stays open). tests/checks/test_shape.py holds every module in `checks.ALL` to these.

Modules satisfy these protocols structurally (PEP 544: a module's functions are the methods,
without `self`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Check(Protocol):
    CODE: str  # stable, never reused
    NAME: str  # kebab-case: the contract users select and ignore by
    FORMATS: tuple[str, ...]  # the formats it applies to, or ("*",)
    KINDS: tuple[str, ...]  # the kinds (sft, preference, ...) it applies to, or ("*",)
    Options: type  # a frozen dataclass; values come from the rule pack


@runtime_checkable
class ProblemCheck(Check, Protocol):
    FIX: str  # the fix of the problems of this name, unless the problem carries its own


@runtime_checkable
class RecordCheck(Check, Protocol):
    def check(self, sample: Any, opts: Any) -> Iterable[Any]:
        """The Hits of one normalised Sample."""


@runtime_checkable
class Prefiltered(RecordCheck, Protocol):
    def prefilter(self, opts: Any) -> Any:
        """A necessary condition of `check` over a batch's text rows: a polars boolean
        expression, or a function of the text frame giving one boolean per row."""


@runtime_checkable
class DatasetCheck(Check, Protocol):
    def new_state(self, ctx: Any) -> Any:
        """The state for one file (None: not active for it)."""

    def finish(self, state: Any, opts: Any, ctx: Any) -> Iterable[Any]:
        """The Hits (and Notes) once the file is read."""


@runtime_checkable
class ObservingCheck(DatasetCheck, Protocol):
    def observe(self, state: Any, record: Any, sample: Any) -> None:
        """Feed one record (and its Sample, None when it did not normalise) to the state."""

    def merge(self, a: Any, b: Any, offset: tuple[int, int]) -> Any:
        """Fold the state of a later chunk into `a`; `offset`: lines and records before it."""


@runtime_checkable
class BatchObservingCheck(ObservingCheck, Protocol):
    def observe_batch(self, state: Any, batch: Any, records: Any) -> None:
        """Feed a batch's columns to the state; the same state `observe` would build."""


@runtime_checkable
class PartitionedCheck(ObservingCheck, Protocol):
    """A dataset check whose findings come from groups of records with equal keys (copies,
    one prompt's answers, LSH buckets), so that on a cluster its state is shuffled by key and
    reduced per partition, never gathered in one place (`dataprep.cluster`)."""

    def partition(self, state: Any, parts: int) -> list[Any]:
        """A chunk's state cut into `parts` pieces by key: records that can meet in a
        finding go to the same piece."""

    def reduce(self, pieces: list[tuple[Any, tuple[int, int]]], opts: Any, ctx: Any) -> Any:
        """One partition's result from the pieces of every chunk, in file order, each with
        its chunk's offset (lines and records before it)."""

    def combine(self, results: list[Any], opts: Any, ctx: Any, fetch: Any) -> Iterable[Any]:
        """The Hits `finish` gives for the whole file, from every partition's result. A
        `LookupCheck` gets `fetch(indexes)`: its chunks' `lookup` of those file-wide record
        indexes, as (piece, offset) in file order (None for other checks)."""


@runtime_checkable
class LookupCheck(PartitionedCheck, Protocol):
    """A partitioned check whose pieces hold keys only: the rows its results need are looked
    up afterwards in the states the chunks keep (near-duplicate's signatures)."""

    def lookup(self, state: Any, indexes: Any) -> Any:
        """A chunk state's rows of these chunk-relative record indexes."""


def observes_plain(module: object) -> bool:
    """Whether a dataset check must see plain alpaca SFT records one by one (most do)."""
    return isinstance(module, ObservingCheck) and getattr(module, "OBSERVES_PLAIN", True)
