"""Every input ends as a Sample or a finding, never an exception (hypothesis)."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataprep.formats import FORMATS, Spec, normalise
from dataprep.linter import FileContext, FileStats, Plan, lint_records
from dataprep.readers import _parse
from dataprep.records import UNPARSED, Record
from dataprep.rulepack import load

PLAN = Plan(load())
KEYS = st.sampled_from(
    [
        "instruction", "input", "output", "history", "system", "tools", "conversations",
        "messages", "from", "value", "role", "content", "chosen", "rejected", "prompt",
        "completion", "images", "image", "label", "text", "type", "tool_calls",
        "chosen_messages", "rejected_messages", "human", "gpt", "user", "assistant",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
ROLES = st.sampled_from(["human", "gpt", "user", "assistant", "system", "tool", "x", "Human"])
MESSAGE = st.fixed_dictionaries(
    {},
    optional={"from": ROLES | SCALARS, "value": SCALARS, "role": ROLES, "content": SCALARS},
)
VALUES = st.recursive(
    SCALARS | MESSAGE | st.lists(MESSAGE, max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(), inner, max_size=5)
    ),
    max_leaves=30,
)
RECORDS = st.dictionaries(KEYS, VALUES, max_size=6) | VALUES
SPECS = st.none() | st.sampled_from([Spec(formatting=f) for f in FORMATS])
STATS = FileStats("p")


def _lint_all(record: Record, spec: Spec | None) -> list:
    ctx = FileContext("p", FileStats("p"), spec)
    return list(lint_records([record], ctx, PLAN, [], ctx.stats))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS, SPECS)
def test_any_json_value_normalises_or_gives_findings(value, spec):
    record = Record("p", 1, 0, value, b"")
    sample, problems = normalise(record, spec)
    assert sample is not None or problems
    findings = _lint_all(record, spec)
    for f in findings:
        assert f.line == 1 and f.code and f.message and f.fix is not None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), SPECS)
def test_any_bytes_parse_to_a_record_or_nothing(raw, spec):
    record = _parse("p", 1, 0, raw)
    if record is None:
        assert not raw.strip()
        return
    if record.value is UNPARSED:
        assert record.problems and record.problems[0].rule in ("invalid-json", "invalid-utf8")
    _lint_all(record, spec)


@settings(max_examples=200, deadline=None)
@given(RECORDS)
def test_serialised_records_round_trip_through_the_reader(value):
    raw = orjson.dumps(value)
    record = _parse("p", 1, 0, raw + b"\n")
    assert record is not None and record.value == value
