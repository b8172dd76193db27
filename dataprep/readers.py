"""Stream data files into Records: JSONL, JSON arrays, .gz, plain text, directories and stdin.

Lines stay bytes until orjson parses them, so a bad byte or a broken line becomes a problem on
that record and reading goes on. Whole files that are not data at all (an image, a Git LFS
pointer, a CSV) raise one DataprepError that says what the file is and what to do.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from dataprep.errors import DataprepError
from dataprep.records import UNPARSED, Plain, Problem, Record

DATA_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")
TEXT_SUFFIXES = (".txt", ".txt.gz")
SNIFF_BYTES = 64 * 1024
BUFFER = 1 << 20
PROGRESS_EVERY = 4096  # records between progress callbacks

Progress = Callable[[int], None]
PlainCheck = Callable[[dict, bytes], int]
"""`plain(value, raw)`: the number of fields of a parsed object the caller only needs counted
(the linter's fast path for records no active rule can flag), else 0. Such an object is yielded
as a `Plain`, not a Record."""

_BOM = b"\xef\xbb\xbf"
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a ZIP archive (or .xlsx/.docx)",
    b"%PDF": "a PDF document",
    b"PAR1": "a Parquet file",
    b"ARROW1": "an Arrow IPC file",
    b"\x28\xb5\x2f\xfd": "a zstd archive",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ": "an xz archive",
    b"SQLite format 3": "an SQLite database",
}
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')


@dataclass(frozen=True, slots=True)
class Source:
    """One file to read: the path shown to users and how to read it."""

    display: str
    path: Path | None  # None for stdin
    kind: str  # "json" (JSONL or JSON array, sniffed) or "text" (one record per line)


def expand(paths: list[str]) -> list[Source]:
    """Resolve CLI arguments into the files to read, in a stable order."""
    sources: list[Source] = []
    for arg in paths:
        if arg == "-":
            sources.append(Source("<stdin>", None, "json"))
            continue
        p = Path(arg)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.name.endswith(DATA_SUFFIXES)
                and f.name != "dataset_info.json"
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise DataprepError(
                    "directory holds no data files",
                    path=arg,
                    fix=f"put {', '.join(DATA_SUFFIXES)} files in it, or name the files directly",
                )
            sources.extend(Source(str(f), f, "json") for f in found)
        elif p.is_file():
            if p.name == "dataset_info.json":
                raise DataprepError(
                    "this is a LLaMA-Factory dataset registry, not data",
                    path=arg,
                    fix=f"lint the datasets it describes: dataprep lint --dataset-info {arg}",
                )
            kind = "text" if p.name.endswith(TEXT_SUFFIXES) else "json"
            sources.append(Source(arg, p, kind))
        elif p.exists():
            raise DataprepError("not a regular file", path=arg, fix="pass a data file or folder")
        else:
            raise DataprepError("no such file or directory", path=arg, fix="check the path")
    return sources


def read_source(source: Source, progress: Progress | None = None) -> Iterator[Record]:
    """Every record of one source, in file order. Raises DataprepError for non-data files."""
    for item in read_items(source, progress):
        if type(item) is Record:
            yield item


def read_items(
    source: Source, progress: Progress | None = None, plain: PlainCheck | None = None
) -> Iterator[Record | Problem | Plain]:
    """Every record of one source, in file order, then the file-level problems (a JSON array
    rather than JSONL, an unclosed array), which the checks of the same name report. With
    `plain`, the objects it counts come as `Plain`s. Raises DataprepError for non-data files."""
    raw, stream = open_stream(source)
    try:
        head = sniff(source, stream)
        if source.kind == "text":
            yield from _text_lines(source.display, stream, raw, progress)
        elif _looks_like_array(head):
            yield from _json_document(source.display, _read_all(source, stream), True)
        elif _looks_like_object_document(head):
            yield from _json_document(source.display, _read_all(source, stream), False)
        else:
            yield from _records(source.display, stream, raw, progress, plain)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataprepError(
            f"compressed stream is damaged or truncated ({exc})",
            path=source.display,
            fix="re-download or re-compress the file; records before the damage were checked",
        ) from None
    finally:
        if source.path is not None:
            raw.close()


def line_starts(path: Path, bounds: list[int]) -> list[int]:
    """Each byte offset moved forward to the start of the line it falls in (or stays, if it
    starts one): the bounds of `--jobs` chunks, so that no line is split between two."""
    out = []
    with open(path, "rb") as f:
        for bound in bounds:
            if bound > 0:
                f.seek(bound - 1)
                if f.read(1) != b"\n":
                    f.readline()
                bound = f.tell()
            out.append(max(bound, out[-1]) if out else bound)
    return out


def read_range(
    path: Path, display: str, start: int, end: int, plain: PlainCheck | None = None
) -> Iterator[Record | Plain]:
    """The JSONL records of the lines in [start, end), both line starts (`line_starts`), for
    `--jobs` chunks. Lines and record indexes are relative to the chunk: the caller adds the
    offsets of the chunks before it (`count_lines`)."""
    with open(path, "rb", buffering=BUFFER) as f:
        f.seek(start)

        def chunk_lines() -> Iterator[bytes]:
            pos = start
            while pos < end:
                raw = f.readline()
                if not raw:
                    break
                pos += len(raw)
                yield raw

        yield from _records(display, chunk_lines(), None, None, plain)


def count_lines(path: Path, start: int, end: int) -> int:
    """Lines in [start, end) of a file (both line starts), blank ones and an unterminated last
    line included: how far a chunk shifts the line numbers of those after it."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def open_stream(source: Source) -> tuple[BinaryIO, io.BufferedReader]:
    """The raw byte stream (for progress) and a buffered, decompressed stream to read."""
    if source.path is None:
        raw = sys.stdin.buffer
    else:
        try:
            raw = open(source.path, "rb", buffering=BUFFER)  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise DataprepError(f"cannot open: {exc.strerror}", path=source.display) from None
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, BUFFER)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        gz = gzip.GzipFile(fileobj=buffered, mode="rb")
        # A small buffer, so sniffing a truncated archive does not hit the damage before the
        # records in front of it are read.
        return raw, io.BufferedReader(gz, SNIFF_BYTES)  # type: ignore[arg-type]
    return raw, buffered


def sniff(source: Source, stream: io.BufferedReader) -> bytes:
    """The first bytes, after refusing files that are not text data, with a reason."""
    try:
        head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (EOFError, OSError, zlib.error) as exc:
        raise DataprepError(
            f"compressed stream is damaged or truncated ({exc})",
            path=source.display,
            fix="re-download or re-compress the file",
        ) from None
    if head.startswith(b"version https://git-lfs.github.com/spec/"):
        raise DataprepError(
            "this is a Git LFS pointer, not the data it points to",
            path=source.display,
            fix="run `git lfs pull` (or download the real file) and lint that",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataprepError(
            "file is UTF-16 encoded",
            path=source.display,
            fix="convert it: iconv -f UTF-16 -t UTF-8 in.json > out.jsonl",
        )
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise DataprepError(
                f"this is {what}, not JSON or JSONL",
                path=source.display,
                fix="pass the .jsonl/.json data file (export other formats to JSONL first)",
            )
    if b"\x00" in head[:8192]:
        raise DataprepError(
            "file is binary (it contains NUL bytes), not JSON or JSONL",
            path=source.display,
            fix="pass the .jsonl/.json data file",
        )
    if source.kind == "json" and head.strip() and not _has_json_line(head):
        first = head.lstrip(_BOM).splitlines()[0][:80].decode("utf-8", "replace")
        raise DataprepError(
            f"does not look like JSON or JSONL (it starts with {first!r})",
            path=source.display,
            fix="dataprep reads JSONL, JSON arrays and .gz of them; convert CSV/TSV to JSONL first",
        )
    return head


def _has_json_line(head: bytes) -> bool:
    """Whether any line in the sniffed head starts like a JSON value a data file would hold."""
    return any(line.lstrip()[:1] in (b"{", b"[") for line in head.lstrip(_BOM).splitlines())


def _looks_like_array(head: bytes) -> bool:
    return head.lstrip(_BOM).lstrip()[:1] == b"["


def _looks_like_object_document(head: bytes) -> bool:
    """A pretty-printed single object: its first line is a lone `{`."""
    for line in head.lstrip(_BOM).splitlines():
        if line.strip():
            return line.strip() == b"{"
    return False


def _read_all(source: Source, stream: io.BufferedReader) -> bytes:
    data = stream.read()
    return data[3:] if data.startswith(_BOM) else data


def _records(
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
        if line_no == 1 and line.startswith(_BOM):
            line = line[3:]
        try:
            value = loads(line)
        except decode_error as exc:
            if not line.strip():
                continue
            record = Record(display, line_no, index, UNPARSED, line, (_json_problem(line, exc),))
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
            progress(_position(raw))  # type: ignore[arg-type]
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


def _text_lines(
    display: str, stream: io.BufferedReader, raw: BinaryIO, progress: Progress | None
) -> Iterator[Record]:
    """Plain-text pre-training data: one record `{"text": line}` per non-blank line."""
    index = 0
    for line_no, line in enumerate(stream, 1):
        body = line.rstrip(b"\r\n")
        if line_no == 1 and body.startswith(_BOM):
            body = body[3:]
        if not body.strip():
            continue
        try:
            value = {"text": body.decode("utf-8")}
            problems: tuple[Problem, ...] = ()
        except UnicodeDecodeError as exc:
            value, problems = UNPARSED, (_utf8_problem(exc),)
        yield Record(display, line_no, index, value, line, problems)
        index += 1
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(_position(raw))


def _position(raw: BinaryIO) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def _parse(display: str, line_no: int, index: int, raw: bytes) -> Record | None:
    """One JSONL line as a Record; None for a blank line."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not raw.strip():
            return None
        return Record(display, line_no, index, UNPARSED, raw, (_json_problem(raw, exc),))
    return _record(display, line_no, index, raw, value)


def _record(display: str, line_no: int, index: int, raw: bytes, value: object) -> Record:
    """A parsed line as a Record, with its duplicate keys found (the value is not parsed again)."""
    if type(value) is dict and len(value) > 0 and raw.count(b'":') != _key_count(value):
        dup = _duplicate_keys(raw, value)
        if dup:
            return Record(display, line_no, index, value, raw, dup)
    return Record(display, line_no, index, value, raw)


_KEY_PATTERNS: dict[str, bytes] = {}


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


def _json_problem(raw: bytes, exc: orjson.JSONDecodeError) -> Problem:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return _utf8_problem(uexc)
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


def _utf8_problem(exc: UnicodeDecodeError) -> Problem:
    bad = exc.object[exc.start : max(exc.end, exc.start + 1)]
    return Problem(
        "invalid-utf8",
        None,
        f"bytes {bad.hex(' ')} at byte {exc.start + 1} are not valid UTF-8",
        "re-encode the file as UTF-8 (e.g. iconv -f GB18030 -t UTF-8), or drop the line",
    )


def _json_document(display: str, data: bytes, array: bool) -> Iterator[Record | Problem]:
    """A JSON array (one record per element) or a single-object document (one record)."""
    if not array:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            # Not one object after all: a JSONL file whose first line is a lone "{".
            yield from _records(display, io.BytesIO(data), None, None)
            return
        yield Record(display, 1, 0, value, data)
        return
    found = _array_spans(data)
    if found is None:  # e.g. JSONL whose lines are arrays
        yield from _records(display, io.BytesIO(data), None, None)
        return
    spans, broken_end = found
    line = 1
    prev = 0
    for index, (begin, end) in enumerate(spans):
        line += data.count(b"\n", prev, begin)
        prev = begin
        chunk = data[begin:end]
        record = _parse(display, line, index, chunk)
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


def _array_spans(data: bytes) -> tuple[list[tuple[int, int]], bool] | None:
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


def file_size(source: Source) -> int | None:
    if source.path is None:
        return None
    try:
        return os.path.getsize(source.path)
    except OSError:
        return None
