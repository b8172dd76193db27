"""LLaMA-Factory's `dataset_info.json`, read with exactly its semantics.

LLaMA-Factory's DatasetAttr starts from defaults (alpaca columns instruction/input/output,
sharegpt `conversations` with from/value and human/gpt tags). When an entry has a `columns` block,
*every* known column is set from it, so a column the block omits becomes None rather than its
default; the same holds for `tags`. That is how `"columns": {"prompt": "instruction",
"response": "output"}` silently drops every `input`. We mirror it so users lint the setup they
run, and report those traps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from dataprep.errors import DataprepError, closest
from dataprep.records import Problem
from dataprep.sample import ASSISTANT, FUNCTION_CALL, OBSERVATION, SYSTEM, USER
from dataprep.spec import Spec

COLUMNS = (
    "prompt",
    "query",
    "response",
    "history",
    "messages",
    "system",
    "tools",
    "images",
    "videos",
    "audios",
    "chosen",
    "rejected",
    "kto_tag",
)
DEFAULT_COLUMNS: dict[str, str | None] = {
    "prompt": "instruction",
    "query": "input",
    "response": "output",
    "messages": "conversations",
}
TAGS = (
    "role_tag",
    "content_tag",
    "user_tag",
    "assistant_tag",
    "observation_tag",
    "function_tag",
    "system_tag",
)
DEFAULT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
TAG_ROLES = {
    "user_tag": USER,
    "assistant_tag": ASSISTANT,
    "observation_tag": OBSERVATION,
    "function_tag": FUNCTION_CALL,
    "system_tag": SYSTEM,
}
ENTRY_KEYS = (
    "hf_hub_url",
    "ms_hub_url",
    "om_hub_url",
    "script_url",
    "cloud_file_name",
    "file_name",
    "file_sha1",
    "subset",
    "split",
    "folder",
    "revision",
    "ranking",
    "formatting",
    "columns",
    "tags",
    "num_samples",
    "media_dir",
)
FORMATTINGS = ("alpaca", "sharegpt", "openai")


@dataclass
class Entry:
    """One dataset of a dataset_info.json: its files, its Spec and its configuration findings."""

    name: str
    info_path: str
    line: int  # line of the entry in dataset_info.json
    files: list[Path]
    spec: Spec
    columns_given: bool
    tags_given: bool
    columns_block: dict[str, str]  # the columns the entry names, as written
    notes: list[tuple[int, Problem]] = field(default_factory=list)  # (line in info file, problem)


def load(info_path: str, names: list[str] | None) -> tuple[list[Entry], list[str]]:
    """The entries to lint (all local ones when `names` is None) and the names skipped."""
    path = Path(info_path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DataprepError(f"cannot read: {exc.strerror}", path=info_path) from None
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DataprepError(
            f"not valid JSON: {exc.msg}",
            path=info_path,
            line=getattr(exc, "lineno", None),
            fix="fix the JSON syntax of dataset_info.json",
        ) from None
    if type(info) is not dict:
        raise DataprepError(
            "dataset_info.json must be an object of dataset entries", path=info_path
        )
    skipped: list[str] = []
    if names is None:
        names = []
        for name, attrs in info.items():
            if type(attrs) is dict and "file_name" in attrs:
                names.append(name)
            else:
                skipped.append(name)
        if not names:
            raise DataprepError(
                "no entry has a local file_name to lint",
                path=info_path,
                fix="hub datasets (hf_hub_url/ms_hub_url) must be downloaded first",
            )
    entries = []
    for name in names:
        if name not in info:
            close = closest(name, info)
            raise DataprepError(
                f"no dataset named {name!r}",
                path=info_path,
                fix=f"did you mean {close!r}?" if close else "check the --dataset name",
            )
        entries.append(_entry(name, info[name], path, text))
    return entries, skipped


def _entry(name: str, attrs: object, path: Path, text: bytes) -> Entry:
    """One dataset's entry read as LLaMA-Factory reads it: its Spec, its files, and the
    problems LLaMA-Factory would hit (each at the line of the key it concerns)."""
    display = str(path)
    line = _line_of(text, f'"{name}"', 0, anchored=True)
    formatting = _formatting(name, attrs, display, line)
    assert type(attrs) is dict
    found: list[tuple[str | None, Problem]] = [
        (None, _unknown(f"{name}.{key}", key, ENTRY_KEYS, "entry key"))
        for key in attrs
        if key not in ENTRY_KEYS
    ]
    columns, columns_given, problems = _columns(name, attrs)
    found += problems
    tags, tags_given, problems = _tags(name, attrs, formatting)
    found += problems
    ranking = bool(attrs.get("ranking", False))
    if ranking and (not columns.get("chosen") or not columns.get("rejected")):
        found.append(
            ("ranking", Problem(
                "column-reset",
                f"{name}.columns",
                "ranking is true but columns name no chosen/rejected fields: LLaMA-Factory "
                "reads the pair from a None column and fails",
                'add "chosen": "chosen", "rejected": "rejected" to columns',
            ))
        )  # fmt: skip
    spec = _spec(f"{path.name}:{name}", formatting, ranking, columns, tags)
    if formatting != "alpaca" and not spec.messages:
        found.append(
            ("columns", Problem(
                "column-reset",
                f"{name}.columns.messages",
                "the columns block omits messages, so LLaMA-Factory reads no conversation",
                'add "messages": "conversations" (or your field name) to columns',
            ))
        )  # fmt: skip
    start = _offset_of(text, f'"{name}"')
    notes = [
        (line if key is None else (_line_of(text, f'"{key}"', start) or line), problem)
        for key, problem in found
    ]
    block = {k: v for k, v in attrs.get("columns", {}).items() if k in COLUMNS and type(v) is str}
    files = _files(path.parent / attrs["file_name"])
    return Entry(name, display, line or 1, files, spec, columns_given, tags_given, block, notes)


def _formatting(name: str, attrs: object, display: str, line: int | None) -> str:
    """The entry's formatting; an entry that cannot be linted at all raises."""
    if type(attrs) is not dict:
        raise DataprepError(f"entry {name!r} is not an object", path=display, line=line)
    if "file_name" not in attrs:
        where = attrs.get("hf_hub_url") or attrs.get("ms_hub_url") or attrs.get("script_url")
        raise DataprepError(
            f"dataset {name!r} loads from {where!r}, not from a local file",
            path=display,
            line=line,
            fix="download it to a local file, or lint a dataset with file_name",
        )
    formatting = attrs.get("formatting", "alpaca")
    if formatting not in FORMATTINGS:
        close = closest(str(formatting), FORMATTINGS)
        raise DataprepError(
            f"dataset {name!r} has formatting {formatting!r}, which LLaMA-Factory does not know",
            path=display,
            line=line,
            fix=f"use {close!r}" if close else f"use one of {', '.join(FORMATTINGS)}",
        )
    return formatting


def _columns(name: str, attrs: dict) -> tuple[dict, bool, list[tuple[str | None, Problem]]]:
    """The columns LLaMA-Factory reads, whether a columns block is given, its unknown keys."""
    if type(attrs.get("columns")) is not dict:
        return dict(DEFAULT_COLUMNS), False, []
    given = attrs["columns"]
    problems = [
        (key, _unknown(f"{name}.columns.{key}", key, COLUMNS, "column"))
        for key in given
        if key not in COLUMNS
    ]
    # LLaMA-Factory's set_attr(column, columns) with default None: omitted means unread.
    return {c: given.get(c) for c in COLUMNS}, True, problems


def _tags(
    name: str, attrs: dict, formatting: str
) -> tuple[dict, bool, list[tuple[str | None, Problem]]]:
    """The role tags LLaMA-Factory reads, whether a tags block is given, and its problems."""
    if type(attrs.get("tags")) is not dict:
        return dict(DEFAULT_TAGS), False, []
    given = attrs["tags"]
    problems: list[tuple[str | None, Problem]] = [
        (key, _unknown(f"{name}.tags.{key}", key, TAGS, "tag")) for key in given if key not in TAGS
    ]
    tags = {t: given.get(t) for t in TAGS}
    if formatting != "alpaca":
        for t in ("role_tag", "content_tag"):
            if tags[t] is None:
                problems.append(
                    ("tags", Problem(
                        "column-reset",
                        f"{name}.tags.{t}",
                        f"the tags block omits {t}, so LLaMA-Factory sets it to None, not "
                        f"{DEFAULT_TAGS[t]!r}: every message lookup fails",
                        f'add "{t}": "{DEFAULT_TAGS[t]}" (or your field name) to tags',
                    ))
                )  # fmt: skip
    return tags, True, problems


def _spec(origin: str, formatting: str, ranking: bool, columns: dict, tags: dict) -> Spec:
    """How to read the records: every column from the (possibly reset) columns, as
    LLaMA-Factory does."""
    shared = {c: columns.get(c) for c in COLUMNS if c != "messages"}
    if formatting == "alpaca":
        return Spec(formatting="alpaca", ranking=ranking, strict=True, origin=origin, **shared)
    return Spec(
        formatting="sharegpt" if formatting == "sharegpt" else "openai",
        ranking=ranking,
        strict=True,
        origin=origin,
        messages=columns.get("messages"),
        role_tag=tags.get("role_tag") or "from",
        content_tag=tags.get("content_tag") or "value",
        role_map={tags[t]: role for t, role in TAG_ROLES.items() if tags.get(t)},
        fields={tags[t]: t for t in TAG_ROLES if tags.get(t)},
        **{k: v for k, v in shared.items() if k not in ("prompt", "query", "response", "history")},
    )


def _files(file_path: Path) -> list[Path]:
    """The data files of a file_name: the file, or every file under a folder."""
    if file_path.is_dir():
        return sorted(f for f in file_path.rglob("*") if f.is_file() and not f.name.startswith("."))
    return [file_path]


def _unknown(where: str, key: str, known: tuple[str, ...], what: str) -> Problem:
    close = closest(key, known)
    hint = f"did you mean {close!r}?" if close else f"known: {', '.join(known)}"
    return Problem(
        "unknown-column",
        where,
        f"LLaMA-Factory knows no {what} {key!r} and ignores it",
        hint,
    )


def _offset_of(text: bytes, needle: str) -> int:
    m = re.search(rb"^[ \t]*" + re.escape(needle.encode()) + rb"\s*:", text, re.MULTILINE)
    return m.start() if m else 0


def _line_of(text: bytes, needle: str, start: int, anchored: bool = False) -> int | None:
    if anchored:
        m = re.search(rb"^[ \t]*" + re.escape(needle.encode()) + rb"\s*:", text, re.MULTILINE)
        pos = m.start() if m else -1
    else:
        pos = text.find(needle.encode(), start)
    if pos < 0:
        return None
    return text.count(b"\n", 0, pos) + 1
