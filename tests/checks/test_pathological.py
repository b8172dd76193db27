"""Every check finishes on texts built to make regexes backtrack (they hung once, on real data)."""

from __future__ import annotations

import pytest

from dataprep.linter import FileContext, FileStats, Plan, lint_records
from dataprep.records import Record
from dataprep.rulepack import load

PLAN = Plan(load())
NASTY = [
    " \n" * 4000 + "end.",
    "\t " * 3000,
    "ab " * 3000 + "abc",
    "a" * 20000 + "!",
    "<" * 5000 + "a" + ">" * 5000,
    "&" * 5000 + "#" * 5000 + ";",
    "As an AI " * 2000,
    "作为一个" * 3000 + "模型",
    "1. " * 4000,
    "x<y " * 3000,
    "```" + "<p>" * 3000,
    "\u200b" * 5000 + "\ufffd" * 5000,
    ("word " * 60 + ". ") * 60,
]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_checks_finish_on_pathological_text(text):
    obj = {"instruction": text[:3000], "input": text[-2000:], "output": text}
    records = [Record("p", i + 1, i, dict(obj), b"{}") for i in range(3)]
    ctx = FileContext("p", FileStats("p"))
    states = [(s, s.module.new_state(ctx)) for s in PLAN.dataset_rules]
    states = [(s, st) for s, st in states if st is not None]
    findings = list(lint_records(records, ctx, PLAN, states))
    for setting, state in states:
        findings.extend(setting.module.finish(state, setting.options, ctx))
    assert all(f.message for f in findings)
