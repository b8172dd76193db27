r"""Records that carry video, audio or remote (URL) media, which are not checked yet (dataset-level).

Why it hurts training:
    Nothing is known about these files: missing, unreadable or oversized videos crash
    preprocessing just as images do. This finding says so once per file instead of passing
    over them in silence.

Bad:
    {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A goal."}], "videos": ["clip.mp4"]}

Good:
    {"messages": [{"role": "user", "content": "What happens in a football match?"}, {"role": "assistant", "content": "Two teams try to score."}]}

Options:
    None.

Fix:
    Check these files with the tools of their kind (ffprobe for video and audio) before
    training; download remote media and reference the local copies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where
from dataprep.images import REMOTE_PATH

CODE = "IM07"
NAME = "unchecked-media"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False
KINDS_OF_MEDIA = ("videos", "audios")


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> Counter:
    return Counter()  # "<kind> records" and "<kind> files" counts, first line per kind


def observe(state: Counter, record, sample) -> None:
    raw = record.value
    if type(raw) is not dict:
        return
    for key in KINDS_OF_MEDIA:
        value = raw.get(key)
        if value:
            n = len(value) if type(value) is list else 1
            state[f"{key} records"] += 1
            state[f"{key} files"] += n
            if not state[f"{key} first"]:
                state[f"{key} first"] = record.line
    if sample is not None and sample.images:
        remote = sum(1 for path in sample.images if REMOTE_PATH.match(path))
        if remote:
            state["remote images records"] += 1
            state["remote images files"] += remote
            if not state["remote images first"]:
                state["remote images first"] = record.line


def merge(a: Counter, b: Counter, offset: tuple[int, int]) -> Counter:
    for key, value in b.items():
        if key.endswith(" first"):
            if not a[key]:
                a[key] = value + offset[0]
        else:
            a[key] += value
    return a


def finish(state: Counter, opts: Options, ctx) -> Iterator[Hit]:
    for kind in (*KINDS_OF_MEDIA, "remote images"):
        records = state[f"{kind} records"]
        if records:
            name = kind.rstrip("s") if kind != "remote images" else "remote image"
            yield Hit(
                kind if kind in KINDS_OF_MEDIA else "images",
                f"{records:,} record{'s reference' if records != 1 else ' references'} "
                f"{state[f'{kind} files']:,} "
                f"{name} file{'s' * (state[f'{kind} files'] != 1)} (first on line "
                f"{state[f'{kind} first']}): not checked",
                "check them with the tools of their kind (ffprobe), or download remote media",
                Where(ctx.path),
            )
