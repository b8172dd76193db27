"""The linter's fast path for plain alpaca records gives exactly what the general path gives."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from dataprep import checks
from dataprep.jsonrecords import parse_line as _parse
from dataprep.linter import (
    FileContext,
    FileStats,
    Plan,
    finish,
    lint_records,
    new_states,
    plain_check,
)
from dataprep.records import Plain
from dataprep.rulepack import load

# The fast path is open when only structural rules run (content rules read every record).
STRUCTURAL = [m.NAME for m in checks.ALL if m.CODE.startswith(("PA", "ST", "LF"))]
PLAN = Plan(load(select=STRUCTURAL))
TEXT = st.text(alphabet=st.sampled_from(list('ab "\\\n中:{}[],')), max_size=12)
FIELD = st.sampled_from(["instruction", "input", "output", "system", "history", "x"])
VALUE = TEXT | st.none() | st.integers() | st.lists(TEXT, max_size=2)


def _lines():
    record = st.dictionaries(FIELD, VALUE, max_size=4)
    plain = st.fixed_dictionaries({"instruction": TEXT, "output": TEXT}, optional={"input": TEXT})
    return st.lists(
        st.one_of(record, plain).map(lambda r: json.dumps(r, ensure_ascii=False))
        | st.sampled_from(
            [
                '{"instruction": "a", "output": "b", "output": "c"}',
                '{"instruction": "a", "input": "", "output": "b"}',
                '{"instruction":"a","output":"b"}',
                '{"instruction": "a", "output": "b\\"q\\""}',
            ]
        ),
        max_size=8,
    )


def _run(lines: list[str], fast: bool):
    stats = FileStats("p")
    ctx = FileContext("p", stats)
    states = new_states(PLAN, ctx)  # schema-drift's included: it adds the plain records
    plain = plain_check(PLAN, ctx, states) if fast else None
    assert (plain is not None) == fast

    def records():  # lazy, like the reader
        for index, line in enumerate(lines):
            raw = line.encode() + b"\n"
            value = json.loads(line)
            fields = plain(value, raw) if plain is not None and type(value) is dict else 0
            yield Plain(index + 1, index, fields) if fields else _parse("p", index + 1, index, raw)

    findings = list(lint_records(records(), ctx, PLAN, states))
    findings += finish(PLAN, states, ctx)
    return findings, stats.records, dict(stats.formats), stats.first


@settings(max_examples=300, deadline=None)
@given(_lines())
def test_fast_and_general_paths_agree(lines):
    assert _run(lines, fast=True) == _run(lines, fast=False)


def test_duplicate_keys_are_never_claimed():
    findings, *_ = _run(['{"instruction": "a", "output": "b", "output": "c"}'], fast=True)
    assert [f.name for f in findings] == ["duplicate-key"]


def test_schema_drift_counts_the_claimed_records():
    lines = ['{"instruction": "a", "output": "b"}', '{"instruction": "c", "output": ["d"]}',
             '{"instruction": "e", "input": "", "output": "f"}']  # fmt: skip
    fast, general = _run(lines, fast=True), _run(lines, fast=False)
    assert fast == general
    (drift,) = [f for f in fast[0] if f.name == "schema-drift"]
    assert drift.line == 2 and "a string in 2 records (first at line 1)" in drift.message
