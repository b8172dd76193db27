"""Every check module takes one of the shapes `dataprep.checks.shape` names, with the
signatures the engine calls."""

from __future__ import annotations

import inspect
from dataclasses import is_dataclass

import pytest

from dataprep import checks
from dataprep.checks import shape

ROLES = (shape.ProblemCheck, shape.RecordCheck, shape.DatasetCheck)
ARITY = {"check": 2, "prefilter": 1, "new_state": 1, "finish": 3, "observe": 3, "merge": 3,
         "observe_batch": 3, "partition": 2, "reduce": 3, "combine": 4, "lookup": 2}  # fmt: skip


@pytest.mark.parametrize("module", checks.ALL, ids=lambda m: m.NAME)
def test_a_check_has_one_role_and_the_signatures_the_engine_calls(module):
    assert isinstance(module, shape.Check)
    assert is_dataclass(module.Options) and module.Options.__dataclass_params__.frozen
    roles = [r.__name__ for r in (shape.RecordCheck, shape.DatasetCheck) if isinstance(module, r)]
    assert len(roles) <= 1, f"{module.NAME} is both {roles}"
    assert roles or isinstance(module, shape.ProblemCheck), f"{module.NAME} has no role"
    for name, arity in ARITY.items():
        function = getattr(module, name, None)
        if function is not None:
            assert len(inspect.signature(function).parameters) == arity, (module.NAME, name)
    # The partial shapes the engine would silently skip: observing without merging (wrong
    # under --jobs), a prefilter without a check, batches without the one-record definition.
    observes = hasattr(module, "observe")
    assert observes == isinstance(module, shape.ObservingCheck), module.NAME
    assert not hasattr(module, "prefilter") or isinstance(module, shape.Prefiltered)
    assert not hasattr(module, "observe_batch") or isinstance(module, shape.BatchObservingCheck)
    assert not hasattr(module, "partition") or isinstance(module, shape.PartitionedCheck)
    assert not hasattr(module, "lookup") or isinstance(module, shape.LookupCheck)
    if hasattr(module, "OBSERVES_PLAIN"):
        assert observes and module.OBSERVES_PLAIN is False, module.NAME


def test_the_roles_split_the_catalogue():
    counts = {r.__name__: sum(isinstance(m, r) for m in checks.ALL) for r in ROLES}
    assert sum(counts.values()) >= len(checks.ALL)
    assert all(counts.values()), counts


def test_a_half_written_check_is_no_role():
    class Half:  # a dataset check that forgot finish: the engine would never call it
        CODE, NAME, FORMATS, KINDS = "XX01", "half", ("*",), ("*",)
        Options = object

        @staticmethod
        def new_state(ctx):
            return {}

    assert isinstance(Half, shape.Check)
    assert not isinstance(Half, shape.DatasetCheck)
