"""The safe fixers: pure, idempotent rewrites of a record's prose, shared by clean, build,
lint's report and the profile (they count fixes through `fixed_value`, so their counts agree).

Fixers work on the record's own text values (never on roles, types, paths or tool schemas),
so the output keeps the input's format and field order; the record itself never changes:
`fixed_value` works on a copy, made only when some fixer changes something.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from dataprep.checks.content import html_markup, placeholder_output, script_content
from dataprep.checks.content.template_tokens import pattern as token_pattern
from dataprep.engine import Plan
from dataprep.linter import problem_errors
from dataprep.records import Record
from dataprep.rulepack import Pack
from dataprep.sample import Sample
from dataprep.text import CODE_SPAN, ZERO_WIDTH

# Values under these keys are structure or data, not prose: never rewritten.
KEEP = frozenset(
    {"from", "role", "type", "images", "image", "videos", "audios", "tools", "id", "label",
     "loss_weight", "tool_calls", "name", "arguments", "url", "image_url", "path"}
)  # fmt: skip
_BLOCK_TAGS = re.compile(r"<br\s*/?>|</(?:p|div|li|tr|h[1-6]|table|ul|ol|blockquote|pre)>", re.I)
_SCRIPT_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.I | re.S)
_HANDLER = re.compile(r"\son[a-z]{3,20}\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.I)
_JS_URL = re.compile(r"\b(?:javascript|vbscript)\s*:", re.I)
_DOCUMENT = re.compile(r"<!doctype html|<html\b|<body\b", re.I)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f" + ZERO_WIDTH + "]")
_TRAILING = re.compile(r"[ \t]+(?=\n)")  # before a line break: `a `code`` keeps its space


# --- fixers: pure, idempotent str -> str ---------------------------------------------------


class Lazy:
    """A flag worked out the first time it is asked: the record-wide questions the markup
    fixers depend on (does the prompt ask for HTML? is the record about entities?) cost regex
    passes over every turn, and most texts hold no `<` or `&` that would ask them."""

    __slots__ = ("_compute", "_value")

    def __init__(self, compute):
        self._compute, self._value = compute, False

    def __bool__(self) -> bool:
        if self._compute is not None:
            self._value, self._compute = bool(self._compute()), None
        return self._value


def _outside_code(text: str, fix) -> str:
    """Apply `fix` to the text between code spans and fences, never inside them."""
    if "`" not in text:
        return fix(text)
    out, last = [], 0
    for m in CODE_SPAN.finditer(text):
        out.append(fix(text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(fix(text[last:]))
    return "".join(out)


def strip_scripts(text: str) -> str:
    text = _SCRIPT_BLOCK.sub("", text)
    text = _HANDLER.sub("", text)
    return _JS_URL.sub("", text)


def strip_markup(text: str) -> str:
    """HTML to text: a whole document goes through a real parser, fragments lose known tags."""
    if _DOCUMENT.search(text):
        from bs4 import BeautifulSoup

        return BeautifulSoup(text, "html.parser").get_text("\n")
    text = _BLOCK_TAGS.sub("\n", text)
    text = html_markup.TAG.sub("", text)
    if html_markup.ENTITY.search(text):
        text = html.unescape(text)
    return text


def unescape_escaped(text: str) -> str:
    """Text written as entities back to its characters (`&lt;p&gt;` to `<p>`), code included:
    only the entities that escape markup and quotes, and only in text holding no raw markup
    (`html_markup.escaped_text` decides, as the rule does)."""
    if html_markup.escaped_text(text) is None:
        return text
    return html_markup.ESCAPED.sub(lambda m: html.unescape(m.group(0)), text)


def normalise_text(text: str) -> str:
    """Line breaks, no-break spaces, control characters, NFC and trailing blanks, outside code
    (code keeps its bytes); then the text's own leading and trailing whitespace."""
    # Most text needs nothing: no CR, no no-break space, no trailing blanks, no control
    # characters, and ASCII or already NFC (a code span's backticks compose with nothing, so
    # NFC text is NFC between them too).
    if (
        "\r" not in text
        and " \n" not in text
        and "\t\n" not in text
        and text == text.strip()
        and (text.isascii() or ("\xa0" not in text and unicodedata.is_normalized("NFC", text)))
        and not _CONTROL.search(text)
    ):
        return text
    return _outside_code(text, _normalise_prose).strip()


def _normalise_prose(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    return _TRAILING.sub("", text)


def fix_text(
    text: str, *, markup: bool | Lazy, tokens: re.Pattern[str], entities: bool | Lazy = True
) -> tuple[str, list[str]]:
    """The text after every safe fixer, and the names of the rules whose problems were fixed.

    `markup`: strip tags and entities outside code (False where the task asks for markup);
    `entities`: unescape text written as entities, code included (False where the record is
    about entities). The fixers run until nothing changes (unescaping `&lt;p&gt;` makes a tag
    that the next round strips), so one clean is final: cleaning the output again changes
    nothing.
    """
    fixed: list[str] = []
    new = text
    for _ in range(4):
        new, round_fixed = _fix_once(new, markup=markup, tokens=tokens, entities=entities)
        if not round_fixed:
            break
        fixed.extend(f for f in round_fixed if f not in fixed)
    return new, fixed


def _fix_once(
    text: str, *, markup: bool | Lazy, tokens: re.Pattern[str], entities: bool | Lazy
) -> tuple[str, list[str]]:
    fixed: list[str] = []
    new = text
    # The text's own test first: `markup` and `entities` may be `Lazy`, asked only then.
    if ("<" in new or "script" in new.lower()) and markup:
        stripped = _outside_code(new, strip_scripts)
        if stripped != new:
            fixed.append(script_content.NAME)
            new = stripped
    if ("<" in new or "&" in new) and markup:
        stripped = _outside_code(new, strip_markup)
        if stripped != new:
            fixed.append(html_markup.NAME)
            new = stripped
    if "&" in new and entities:
        unescaped = unescape_escaped(new)
        if unescaped != new:
            if html_markup.NAME not in fixed:
                fixed.append(html_markup.NAME)
            new = unescaped
    if "<" in new or "[" in new or "｜" in new:
        stripped = _outside_code(new, lambda t: tokens.sub("", t))
        if stripped != new:
            fixed.append("template-tokens")
            new = stripped
    normal = normalise_text(new)
    if normal != new:
        fixed.append("whitespace-unicode")
        new = normal
    return new, fixed


# --- records -------------------------------------------------------------------------------


TOOL_ROLES = frozenset({"function_call", "observation", "tool", "function"})


def _text_slots(obj: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every prose string in a record, walked without recursion.

    Tool calls and tool results are data (JSON, a fetched page), not prose: left alone.
    """
    stack = [obj]
    while stack:
        node = stack.pop()
        if type(node) is dict and (
            node.get("from") in TOOL_ROLES or node.get("role") in TOOL_ROLES
        ):
            continue
        items = node.items() if type(node) is dict else enumerate(node)
        for k, value in items:
            if type(node) is dict and k in KEEP:
                continue
            if type(value) is str:
                yield node, k
            elif type(value) in (dict, list):
                stack.append(value)


@dataclass(frozen=True)
class Fixers:
    """What the pack says the fixers should treat as a problem."""

    tokens: re.Pattern[str]
    allow_markup_when_asked: bool
    placeholders: placeholder_output.Options

    @classmethod
    def from_pack(cls, pack: Pack) -> Fixers:
        return cls(
            token_pattern(pack.settings["template-tokens"].options.tokens),
            pack.settings[html_markup.NAME].options.allow_when_asked,
            pack.settings[placeholder_output.NAME].options,
        )


def _flags(sample, fixers: Fixers) -> tuple[Lazy, Lazy]:
    """(strip markup?, unescape entities?) for a record, each asked only if a text needs it."""
    markup = Lazy(
        lambda: not (fixers.allow_markup_when_asked and html_markup.asked_for_markup(sample))
    )
    return markup, Lazy(lambda: not html_markup.about_entities(sample))


def fix_record(obj: dict, sample, fixers: Fixers) -> list[str]:
    """Fix a parsed record in place (a copy: see `fixed_value`); returns the fixers that
    changed it."""
    markup, entities = _flags(sample, fixers)
    tokens = fixers.tokens
    changed: list[str] = []
    for node, k in _text_slots(obj):
        new, fixes = fix_text(node[k], markup=markup, tokens=tokens, entities=entities)
        if fixes:
            node[k] = new
            changed.extend(fixes)
    value = obj.get("input")
    if (
        sample.format == "alpaca"
        and type(value) is str
        and value.strip()
        and placeholder_output.is_input_placeholder(value, fixers.placeholders)
    ):
        obj["input"] = ""
        changed.append(placeholder_output.NAME)
    return sorted(set(changed))


def fixed_value(
    record: Record, sample: Sample | None, plan: Plan, fixers: Fixers | None
) -> tuple[Any, list[str]]:
    """What the safe fixers make of a record: (the fixed value, or the record's own value when
    nothing changed; the fixers that changed it, by name). The record itself never changes:
    fixers work on a copy. `fixers` None (`--fix none`) changes nothing. Lint's report, clean
    and build all count fixes through this one function, so their counts agree."""
    if fixers is None or sample is None or type(record.value) is not dict:
        return record.value, []
    if record.problems and problem_errors(record, plan):
        return record.value, []  # rejected as read: nothing is fixed
    obj, names = record.value, []
    if _fixes_anything(record.value, sample, fixers):  # most records do not: no copy made
        obj = orjson.loads(orjson.dumps(record.value))
        names = fix_record(obj, sample, fixers)
    # A duplicated key is written back as trainers read it: the last value wins.
    if any(p.rule == "duplicate-key" for p in record.problems):
        names = sorted({*names, "duplicate-key"})
    return (obj if names else record.value), names


def _fixes_anything(value: dict, sample, fixers: Fixers) -> bool:
    """Whether `fix_record` would change the record, asked of the record itself (no copy)."""
    markup, entities = _flags(sample, fixers)
    for node, k in _text_slots(value):
        if fix_text(node[k], markup=markup, tokens=fixers.tokens, entities=entities)[1]:
            return True
    text = value.get("input")
    return (
        sample.format == "alpaca"
        and type(text) is str
        and bool(text.strip())
        and placeholder_output.is_input_placeholder(text, fixers.placeholders)
    )
