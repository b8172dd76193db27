"""Every input ends as a Sample or a finding, never an exception (hypothesis)."""

from __future__ import annotations

import html
import re

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataprep import fixers
from dataprep.checks.content import html_markup
from dataprep.formats import FORMATS, Spec, normalise
from dataprep.jsonrecords import parse_line as _parse
from dataprep.linter import FileContext, FileStats, Plan, lint_records
from dataprep.records import UNPARSED, Record
from dataprep.rulepack import load
from dataprep.text import CODE_SPAN, without_code

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
    return list(lint_records([record], ctx, PLAN, []))


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


# --- the HTML fixer and the html-markup rule agree ---------------------------------------------


FIXERS = fixers.Fixers.from_pack(load())
TAG_NAMES = ["b", "i", "p", "a", "u", "q", "br", "div", "span", "li", "ul", "td", "tr", "table",
             "strong", "em", "h1", "h3", "img", "font", "pre", "code", "hr", "body", "html"]  # fmt: skip
CLOSING = re.compile(rf"</(?:{'|'.join(TAG_NAMES)})\s*>", re.I)
TAGS = st.builds(
    lambda name, close, attrs, upper: (
        f"<{'/' if close else ''}{name.upper() if upper else name}{attrs}>"
    ),
    st.sampled_from(TAG_NAMES),
    st.booleans(),
    st.sampled_from(["", ' class="x"', " id=main", " /", ' href="https://e.org/?a=1&amp;b=2"']),
    st.booleans(),
)
ENTITIES = st.sampled_from(["&nbsp;", "&lt;", "&gt;", "&amp;", "&quot;", "&#39;", "&#x4e2d;",
                            "&mdash;", "&hellip;", "&lt;p&gt;", "&amp;lt;br&amp;gt;"])  # fmt: skip
WORDS = st.sampled_from(["Use", "bold", "here.", "a", "sunset", "List<a>", "x < y", "中文",
                         "  ", "\n", "\n\n", "\t", "a > b", "AT&T", "5 < 6 > 4", "\u00a0"])  # fmt: skip
PROSE = st.lists(TAGS | ENTITIES | WORDS, min_size=1, max_size=14).map("".join)
CODE = st.builds(
    lambda body, fenced: f"```html\n{body}\n```" if fenced else f"`{body.replace(chr(10), ' ')}`",
    st.lists(TAGS | ENTITIES | st.sampled_from(["x", " ", "  \n", "if a<b:"]), min_size=1,
             max_size=6).map("".join).filter(lambda t: "`" not in t and t.strip()),
    st.booleans(),
)  # fmt: skip
TEXTS = st.lists(PROSE | CODE, min_size=1, max_size=5).map(lambda parts: " ".join(parts))


def _sample(prompt: str, answer: str):
    record = Record("p", 1, 0, {"instruction": prompt, "input": "", "output": answer}, b"")
    return normalise(record, None)[0]


def _flagged(prompt: str, answer: str) -> bool:
    opts = html_markup.Options()
    return any(True for _ in html_markup.check(_sample(prompt, answer), opts))


def _unescapings(text: str) -> list[str]:
    """`text` and each step of unescaping its markup-escaping entities (`&amp;lt;` takes two)."""
    steps = [text]
    while (nxt := html_markup.ESCAPED.sub(lambda m: html.unescape(m.group(0)), steps[-1])) != steps[
        -1
    ]:
        steps.append(nxt)
    return steps


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_text_the_rule_flags_is_clean_after_the_fixer_and_code_keeps_its_bytes(text):
    prompt = "Describe the weather."
    fixed, _ = fixers.fix_text(text, markup=True, tokens=FIXERS.tokens)
    if _flagged(prompt, text):
        assert not _flagged(prompt, fixed), (text, fixed)
        plain = without_code(fixed)
        assert html_markup.TAG.search(plain) is None, (text, fixed)
        # Whatever stands before it, a closing tag is never a generic: none may remain.
        assert CLOSING.search(plain) is None, (text, fixed)
    # Code spans and fences come through byte for byte, in order, but for code written as
    # entities (`&lt;p&gt;` with no raw markup in the text), which is unescaped.
    before = [m.group(0) for m in CODE_SPAN.finditer(text)]
    after = [m.group(0) for m in CODE_SPAN.finditer(fixed)]
    assert len(before) == len(after), (text, fixed)
    for old, new in zip(before, after, strict=True):
        assert new in _unescapings(old), (text, fixed)
    assert fixers.fix_text(fixed, markup=True, tokens=FIXERS.tokens)[0] == fixed  # final


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_markup_a_task_asks_for_is_never_stripped(text):
    prompt = "Write an HTML page for my shop."
    record = Record("p", 1, 0, {"instruction": prompt, "input": "", "output": text}, b"")
    sample = normalise(record, None)[0]
    value, fixes = fixers.fixed_value(record, sample, PLAN, FIXERS)
    assert record.value["output"] == text  # the record itself is never changed
    assert "script-content" not in fixes
    if html_markup.escaped_text(text) is None:
        assert "html-markup" not in fixes
        if fixes:
            assert value["output"] == fixers.normalise_text(text)
    else:  # written as entities: unescaped, and every tag that makes is kept
        assert "html-markup" in fixes
        assert value["output"] in {fixers.normalise_text(t) for t in _unescapings(text)}
