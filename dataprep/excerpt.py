"""The text of the records the report shows findings for, with what each finding quotes.

The lint pass keeps no record text; the few examples shown per rule are read again from their
files (streaming up to the last wanted record) and cut around the part the message quotes.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable

from dataprep import readers
from dataprep.errors import DataprepError
from dataprep.findings import Finding

_QUOTED = re.compile(r"'([^'\n]{2,80})'|\"([^\"\n]{2,80})\"")


def of(examples: Iterable[Finding]) -> dict:
    """(path, record, field) -> (before, match, after) for findings shown with their text."""
    wanted: dict[str, dict[int, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for f in examples:
        if f.record is not None and f.field:
            wanted[f.path][f.record].append(f)
    out: dict = {}
    for path, by_record in wanted.items():
        try:
            out.update(_read(path, by_record))
        except DataprepError:  # gone or unreadable since linting: the examples go without text
            continue
    return out


def _read(path: str, by_record: dict[int, list[Finding]]) -> dict:
    out: dict = {}
    last = max(by_record)
    for source in readers.expand([path]):
        for record in readers.read_source(source):
            if record.index in by_record and isinstance(record.value, dict):
                for f in by_record[record.index]:
                    value = field_value(record.value, f.field)
                    if isinstance(value, str):
                        out[(f.path, f.record, f.field)] = highlight(value, f.message)
            if record.index >= last:
                break
    return out


def field_value(value, path: str):
    """The value at a finding's field path (`conversations[1].value`, `chosen`), if simple."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.split(" ")[0]):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(value, list) or index >= len(value):
                return None
            value = value[index]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def highlight(text: str, message: str, context: int = 120) -> tuple[str, str, str]:
    """The part of `text` a message quotes, with some context either side."""
    for match in _QUOTED.finditer(message):
        quoted = (match.group(1) or match.group(2)).strip("…")
        for candidate in (quoted, html.unescape(quoted), quoted.replace("\\n", "\n")):
            at = text.find(candidate) if candidate else -1
            if at >= 0:
                start, end = at, at + len(candidate)
                left = max(0, start - context)
                return (
                    ("…" if left else "") + text[left:start],
                    text[start:end],
                    text[end : end + context] + ("…" if end + context < len(text) else ""),
                )
    return (text[: context * 2] + ("…" if len(text) > context * 2 else ""), "", "")
