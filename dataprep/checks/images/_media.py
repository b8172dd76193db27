"""The collector the video and audio file rules share: which records name which clip.

Like the image rules' (dataprep/checks/images/__init__.py), each rule observes the references
and asks the run's ImageCache (`ctx.images`, present when media are checked at all) at the end
of the file; the cache reads each distinct file's header once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dataprep.findings import Hit, Where

KINDS = (("videos", "video"), ("audios", "audio"))


@dataclass
class Clips:
    """(path as written, line, record, field) of every video and audio a file's records name."""

    items: list[tuple[str, int, int, str]] = field(default_factory=list)


def new_state(ctx) -> Clips | None:
    return None if ctx.images is None else Clips()


def observe(state: Clips, record, sample) -> None:
    if sample is None or not (sample.videos or sample.audios):
        return
    for key, _ in KINDS:
        refs = getattr(sample, key)
        raw = record.value.get(key) if type(record.value) is dict else None
        listed = type(raw) is list
        for i, ref in enumerate(refs):
            state.items.append((ref, record.line, record.index, f"{key}[{i}]" if listed else key))


def merge(a: Clips, b: Clips, offset: tuple[int, int]) -> Clips:
    lines, records = offset
    a.items.extend((ref, line + lines, index + records, f) for ref, line, index, f in b.items)
    return a


def hits(state: Clips, ctx, status: str, fix: str) -> Iterator[Hit]:
    """One hit per referencing record whose clip has this status."""
    if not state.items:
        return
    cache = ctx.images
    root = cache.root_for(ctx.path, ctx.entry.info_path if ctx.entry is not None else None)
    found = cache.check_media((ref for ref, *_ in state.items), root)
    for reference, line, index, where in state.items:
        info = found[reference]
        if info.status == status:
            yield Hit(where, f"{reference!r}: {info.detail}", fix, Where(ctx.path, line, index))
