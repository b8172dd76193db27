"""Stream data files into Records: JSONL, JSON arrays, .gz, plain text, directories and stdin.

Lines stay bytes until orjson parses them (`dataprep.jsonrecords`), so a bad byte or a broken
line becomes a problem on that record and reading goes on. Whole files that are not data at all
(an image, a Git LFS pointer, a CSV) raise one DataprepError that says what the file is and
what to do.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dataprep.errors import DataprepError
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

DATA_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")
TEXT_SUFFIXES = (".txt", ".txt.gz")
SNIFF_BYTES = 64 * 1024
BUFFER = 1 << 20

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
    from dataprep import jsonrecords

    raw, stream = open_stream(source)
    try:
        head = sniff(source, stream)
        if source.kind == "text":
            yield from _text_lines(source.display, stream, raw, progress)
        elif _looks_like_array(head):
            yield from jsonrecords.json_document(source.display, _read_all(source, stream), True)
        elif _looks_like_object_document(head):
            yield from jsonrecords.json_document(source.display, _read_all(source, stream), False)
        else:
            yield from jsonrecords.jsonl_records(source.display, stream, raw, progress, plain)
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
    from dataprep import jsonrecords

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

        yield from jsonrecords.jsonl_records(display, chunk_lines(), None, None, plain)


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
        first = head.lstrip(BOM).splitlines()[0][:80].decode("utf-8", "replace")
        raise DataprepError(
            f"does not look like JSON or JSONL (it starts with {first!r})",
            path=source.display,
            fix="dataprep reads JSONL, JSON arrays and .gz of them; convert CSV/TSV to JSONL first",
        )
    return head


def _has_json_line(head: bytes) -> bool:
    """Whether any line in the sniffed head starts like a JSON value a data file would hold."""
    return any(line.lstrip()[:1] in (b"{", b"[") for line in head.lstrip(BOM).splitlines())


def _looks_like_array(head: bytes) -> bool:
    return head.lstrip(BOM).lstrip()[:1] == b"["


def _looks_like_object_document(head: bytes) -> bool:
    """A pretty-printed single object: its first line is a lone `{`."""
    for line in head.lstrip(BOM).splitlines():
        if line.strip():
            return line.strip() == b"{"
    return False


def _read_all(source: Source, stream: io.BufferedReader) -> bytes:
    data = stream.read()
    return data[3:] if data.startswith(BOM) else data


def _text_lines(
    display: str, stream: io.BufferedReader, raw: BinaryIO, progress: Progress | None
) -> Iterator[Record]:
    """Plain-text pre-training data: one record `{"text": line}` per non-blank line."""
    from dataprep import jsonrecords

    index = 0
    for line_no, line in enumerate(stream, 1):
        body = line.rstrip(b"\r\n")
        if line_no == 1 and body.startswith(BOM):
            body = body[3:]
        if not body.strip():
            continue
        try:
            value = {"text": body.decode("utf-8")}
            problems: tuple[Problem, ...] = ()
        except UnicodeDecodeError as exc:
            value, problems = UNPARSED, (jsonrecords.utf8_problem(exc),)
        yield Record(display, line_no, index, value, line, problems)
        index += 1
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(jsonrecords.position(raw))


def file_size(source: Source) -> int | None:
    if source.path is None:
        return None
    try:
        return os.path.getsize(source.path)
    except OSError:
        return None
