"""JSON bytes into Records: the JSONL line loop (the hot loop of lint), the elements of a JSON
array found without parsing them, and the problem of a broken line said plainly: where a line
is cut short, which key is written twice, which bytes are not UTF-8.

`dataprep.readers` opens files and hands their bytes here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import orjson

from dataprep.records import (
    BOM,
    PROGRESS_EVERY,
    UNPARSED,
    Plain,
    PlainCheck,
    Problem,
    Progress,
    Record,
)

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
_KEY_PATTERNS: dict[str, bytes] = {}


def jsonl_records(
    display: str,
    stream: Iterable[bytes],
    raw: BinaryIO | None,
    progress: Progress | None,
    plain: PlainCheck | None = None,
) -> Iterator[Record | Plain]:
    """JSONL lines as Records (blank lines skipped, broken ones carrying their problem), or as
    Plains where `plain` counts them."""
    # The hot loop of lint: each line is parsed once, here.
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    index = 0
    line_no = 0
    for line in stream:
        line_no += 1
        if line_no == 1 and line.startswith(BOM):
            line = line[3:]
        try:
            value = loads(line)
        except decode_error as exc:
            if not line.strip():
                continue
            record = Record(display, line_no, index, UNPARSED, line, (json_problem(line, exc),))
        else:
            if type(value) is dict and plain is not None:
                fields = plain(value, line)
                if fields:
                    yield Plain(line_no, index, fields)
                    index += 1
                    continue
            record = _record(display, line_no, index, line, value)
        index += 1
        if progress is not None and not index % PROGRESS_EVERY:
            progress(position(raw))  # type: ignore[arg-type]
        yield record


def _key_count(value: dict) -> int:
    """Keys in an object and in the objects of its list values (the shapes of every format).

    When the raw line holds exactly this many `":` sequences, no key can be duplicated, and the
    line needs no closer look.
    """
    count = len(value)
    for v in value.values():
        if type(v) is list:
            for item in v:
                if type(item) is dict:
                    count += len(item)
        elif type(v) is dict:
            count += len(v)
    return count


def position(raw: BinaryIO) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def parse_line(display: str, line_no: int, index: int, raw: bytes) -> Record | None:
    """One JSONL line as a Record; None for a blank line."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not raw.strip():
            return None
        return Record(display, line_no, index, UNPARSED, raw, (json_problem(raw, exc),))
    return _record(display, line_no, index, raw, value)


def _record(display: str, line_no: int, index: int, raw: bytes, value: object) -> Record:
    """A parsed line as a Record, with its duplicate keys found (the value is not parsed again)."""
    if type(value) is dict and len(value) > 0 and raw.count(b'":') != _key_count(value):
        dup = _duplicate_keys(raw, value)
        if dup:
            return Record(display, line_no, index, value, raw, dup)
    return Record(display, line_no, index, value, raw)


def _duplicate_keys(raw: bytes, value: dict) -> tuple[Problem, ...]:
    """Top-level keys written twice (orjson keeps the last value silently)."""
    suspects = []
    for key in value:
        pattern = _KEY_PATTERNS.get(key)
        if pattern is None:
            pattern = orjson.dumps(key)
            if len(_KEY_PATTERNS) < 4096:
                _KEY_PATTERNS[key] = pattern
        if raw.count(pattern) > 1:
            suspects.append(key)
    if not suspects:
        return ()
    # The key text may also occur inside values: count real top-level keys with a slow parse
    # that keeps every pair (only records that passed the cheap count get here).
    import json

    try:
        pairs = json.loads(raw, object_pairs_hook=list)
    except (ValueError, RecursionError):
        return ()
    top = [k for k, _ in pairs]
    return tuple(
        Problem(
            "duplicate-key",
            key,
            f"key {key!r} appears {top.count(key)} times; only the last value is kept",
            f"keep one {key!r} in the record (merge or delete the others)",
        )
        for key in suspects
        if top.count(key) > 1
    )


def json_problem(raw: bytes, exc: orjson.JSONDecodeError) -> Problem:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return utf8_problem(uexc)
    text = exc.msg
    pos = getattr(exc, "pos", 0) or 0
    snippet = raw[max(0, pos - 20) : pos + 20].decode("utf-8", "replace").strip()
    if re.search(rb"(?<![\"\w])(NaN|-?Infinity)(?![\"\w])", raw):
        fix = "NaN and Infinity are not JSON: write null (or a string) instead"
    elif "recursion" in text.lower() or "depth" in text.lower():
        fix = "the record is nested deeper than 1024 levels; flatten it"
    elif (
        raw.rstrip().endswith((b",", b"[", b"{", b":"))
        or "EOF" in text
        or "end of" in text
        # cut inside a string: the parser meets the line's own newline as a control character
        or pos >= len(raw.rstrip(b"\r\n"))
    ):
        # orjson reports the position of a cut-short value as its start: show the end instead.
        tail = raw.rstrip()[-40:].decode("utf-8", "replace")
        return Problem(
            "invalid-json",
            None,
            f"not valid JSON: the line ends before the record does (it ends with {tail!r})",
            "the line is cut short: a record must be one complete JSON object on one line",
        )
    else:
        fix = "make the line one valid JSON object (check quotes, commas and escapes)"
    col = getattr(exc, "colno", None)
    where = f" at column {col}" if col else ""
    return Problem("invalid-json", None, f"not valid JSON{where}: {text} near {snippet!r}", fix)


def utf8_problem(exc: UnicodeDecodeError) -> Problem:
    bad = exc.object[exc.start : max(exc.end, exc.start + 1)]
    return Problem(
        "invalid-utf8",
        None,
        f"bytes {bad.hex(' ')} at byte {exc.start + 1} are not valid UTF-8",
        "re-encode the file as UTF-8 (e.g. iconv -f GB18030 -t UTF-8), or drop the line",
    )


def json_document(display: str, data: bytes, array: bool) -> Iterator[Record | Problem]:
    """A JSON array (one record per element) or a single-object document (one record)."""
    if not array:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            # Not one object after all: a JSONL file whose first line is a lone "{".
            yield from jsonl_records(display, io.BytesIO(data), None, None)
            return
        yield Record(display, 1, 0, value, data)
        return
    found = array_spans(data)
    if found is None:  # e.g. JSONL whose lines are arrays
        yield from jsonl_records(display, io.BytesIO(data), None, None)
        return
    spans, broken_end = found
    line = 1
    prev = 0
    for index, (begin, end) in enumerate(spans):
        line += data.count(b"\n", prev, begin)
        prev = begin
        chunk = data[begin:end]
        record = parse_line(display, line, index, chunk)
        if record is None:  # `[1,,2]` or `[1,2,]`: an empty element
            problem = Problem("invalid-json", None, "empty array element", "remove the extra comma")
            record = Record(display, line, index, UNPARSED, chunk, (problem,))
        yield record
    yield Problem("json-array-file", None, f"a JSON array of {len(spans)} records")
    if broken_end:
        yield Problem(
            "invalid-json",
            None,
            "the JSON array is never closed: the file is cut short",
            "restore the end of the file (a final `]`); loaders reject the whole file",
        )


def array_spans(data: bytes) -> tuple[list[tuple[int, int]], bool] | None:
    """Byte spans of the top-level array's elements, found without parsing them.

    Strings are matched whole, so brackets and commas inside them do not count. Returns the
    spans and whether the array is left unclosed, or None when the document is not one array
    (something follows its closing bracket).
    """
    spans: list[tuple[int, int]] = []
    depth = 0
    begin = -1
    close = -1
    commas = 0
    for m in _TOKEN.finditer(data):
        ch = data[m.start()]
        if ch == 0x22:  # a string
            continue
        if ch in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth == 1:
                begin = m.end()
        elif ch in (0x5D, 0x7D):  # ] }
            if depth == 1:
                _add_span(data, spans, begin, m.start(), force=commas > 0)
                close = m.end()
                break
            depth -= 1
        elif depth == 1:  # a top-level comma
            commas += 1
            _add_span(data, spans, begin, m.start(), force=True)
            begin = m.end()
    if close < 0:
        if begin >= 0:  # whatever started last is one broken element
            _add_span(data, spans, begin, len(data))
        return spans, True
    if data[close:].strip():
        return None
    return spans, False


def _add_span(
    data: bytes, spans: list[tuple[int, int]], begin: int, end: int, force: bool = False
) -> None:
    while begin < end and data[begin] in b" \t\r\n":
        begin += 1
    while end > begin and data[end - 1] in b" \t\r\n":
        end -= 1
    if begin < end or force:
        spans.append((begin, end))
