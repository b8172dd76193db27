r"""Media that could not be checked: remote (URL) images, videos and audios, and clips read by header only (dataset-level).

Why it hurts training:
    Nothing is known about a file behind a URL: missing, unreadable or oversized, it crashes
    preprocessing just as a local one does, and only when the trainer fetches it. Local videos
    and audios are checked by missing-media and unreadable-media; without PyAV installed only
    their headers are read, and this finding says so once per file instead of passing over
    the streams in silence.

Bad:
    {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A goal."}], "videos": ["https://example.com/clip.mp4"]}

Good:
    {"messages": [{"role": "user", "content": "What happens in a football match?"}, {"role": "assistant", "content": "Two teams try to score."}]}

Options:
    None.

Fix:
    Download remote media and reference the local copies; `pip install 'llm-dataprep[media]'`
    (PyAV) to open each video and audio container as well.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where
from dataprep.images import REMOTE_PATH
from dataprep.media import streams_checked

CODE = "IM07"
NAME = "unchecked-media"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False
KINDS_OF_MEDIA = ("images", "videos", "audios")


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> Counter:
    return Counter()  # "<kind> records" and "<kind> files" counts, first line per kind


def observe(state: Counter, record, sample) -> None:
    if sample is None:
        return
    for kind, refs in (("images", sample.images), ("videos", sample.videos),
                       ("audios", sample.audios)):  # fmt: skip
        if not refs:
            continue
        remote = sum(1 for path in refs if REMOTE_PATH.match(path))
        if remote:
            state[f"remote {kind} records"] += 1
            state[f"remote {kind} files"] += remote
            if not state[f"remote {kind} first"]:
                state[f"remote {kind} first"] = record.line
        if kind != "images" and len(refs) > remote:
            state["local clips"] += len(refs) - remote


def merge(a: Counter, b: Counter, offset: tuple[int, int]) -> Counter:
    for key, value in b.items():
        if key.endswith(" first"):
            if not a[key]:
                a[key] = value + offset[0]
        else:
            a[key] += value
    return a


def finish(state: Counter, opts: Options, ctx) -> Iterator[Hit]:
    for kind in KINDS_OF_MEDIA:
        records = state[f"remote {kind} records"]
        if records:
            files = state[f"remote {kind} files"]
            name = kind.rstrip("s")
            yield Hit(
                kind,
                f"{records:,} record{'s reference' if records != 1 else ' references'} "
                f"{files:,} remote {name} file{'s' * (files != 1)} (first on line "
                f"{state[f'remote {kind} first']}): not checked",
                "download them and reference the local copies",
                Where(ctx.path),
            )
    clips = state["local clips"]
    if clips and ctx.images is not None and not streams_checked():
        yield Hit(
            "videos",
            f"{clips:,} video/audio file reference{'s were' if clips != 1 else ' was'} checked "
            "by container header only: PyAV is not installed, so streams were not opened",
            "pip install 'llm-dataprep[media]' to open each container and list its streams",
            Where(ctx.path),
        )
