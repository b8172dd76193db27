"""Image checks: the files multimodal records reference, and their `<image>` placeholders.

The four file rules share one collector: each observes which records reference which image,
and at the end of the file asks the run's ImageCache (`ctx.images`), which opens every
distinct file once, in threads, and remembers the result for the other rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dataprep.findings import Hit, Where
from dataprep.images import MISSING, ImageInfo

PLACEHOLDER = "<image>"


def references(record, sample, images_key: str) -> list[tuple[str, str]]:
    """(path as written, field) for every image a record references."""
    if sample is None or not sample.images:
        return []
    fields: list[str] = []
    raw = record.value
    for key in (images_key, "image"):
        value = raw.get(key)
        if type(value) is list:
            fields.extend(f"{key}[{i}]" for i, v in enumerate(value) if _path(v))
        elif _path(value):
            fields.append(key)
    fields.extend(f"{sample.messages_field} (image part)" for _ in sample.images[len(fields) :])
    return list(zip(sample.images, fields, strict=False))


def _path(value) -> bool:
    return type(value) is str or (type(value) is dict and type(value.get("path")) is str)


@dataclass
class Refs:
    """Which records reference which image: (path as written, line, record, field)."""

    key: str
    items: list[tuple[str, int, int, str]] = field(default_factory=list)


def new_state(ctx) -> Refs | None:
    if ctx.images is None:
        return None
    return Refs(ctx.spec.images if ctx.spec is not None and ctx.spec.images else "images")


def observe(state: Refs, record, sample) -> None:
    if sample is not None and sample.images:
        for reference, where in references(record, sample, state.key):
            state.items.append((reference, record.line, record.index, where))


def merge(a: Refs, b: Refs, offset: tuple[int, int]) -> Refs:
    lines, records = offset
    a.items.extend((ref, line + lines, index + records, f) for ref, line, index, f in b.items)
    return a


def results(state: Refs, ctx) -> dict[str, ImageInfo]:
    cache = ctx.images
    info_path = ctx.entry.info_path if ctx.entry is not None else None
    return cache.check((ref for ref, *_ in state.items), cache.root_for(ctx.path, info_path))


def hits(state: Refs, ctx, status: str, fix: str | Callable[[str], str]) -> Iterator[Hit]:
    """One hit per referencing record whose image has this status (`fix` may depend on
    what was found)."""
    if not state.items:
        return
    found = results(state, ctx)
    for reference, line, index, where in state.items:
        info = found[reference]
        if info.status == status:
            detail = info.detail + _elsewhere(reference, ctx) if status == MISSING else info.detail
            advice = fix(detail) if callable(fix) else fix
            yield Hit(where, f"{reference!r}: {detail}", advice, Where(ctx.path, line, index))


def _elsewhere(reference: str, ctx) -> str:
    """A hint when the file exists under the root once leading folders are dropped: the paths
    are relative to another folder (LLaMA-Factory v1 demos name `data/...` from the repo)."""
    parts = Path(reference).parts
    root = ctx.images.root_for(ctx.path, ctx.entry.info_path if ctx.entry is not None else None)
    for cut in range(1, len(parts)):
        tail = Path(*parts[cut:])
        if (root / tail).is_file():
            return (
                f" under {str(root)!r}, but {str(tail)!r} is: the paths are relative to another "
                f"folder (--image-root)"
            )
    return ""
