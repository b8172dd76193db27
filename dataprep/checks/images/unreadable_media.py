r"""A video or audio file that is empty, not a container PyAV or librosa opens, or not a file.

Why it hurts training:
    A clip saved as an HTML error page, cut to zero bytes, or a folder named `.mp4` stops
    LLaMA-Factory's preprocessing as a missing one does. Each file's header is read (never the
    whole file) and matched against the containers the loaders take: MP4/MOV/M4A, Matroska/
    WebM, AVI, WAV, MP3/AAC, FLAC, Ogg, FLV, MPEG-TS/PS; with PyAV installed
    (`pip install 'llm-dataprep[media]'`) each container is then opened and must list a video
    or audio stream (nothing is decoded). Without PyAV, unchecked-media says once per file that
    only headers were read.

Bad:
    file clips/goal.mp4: text <html>404 Not Found</html>
    {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A goal."}], "videos": ["clips/goal.mp4"]}

Good:
    file clips/goal.mp4: mp4
    {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A goal."}], "videos": ["clips/goal.mp4"]}

Options:
    None.

Fix:
    Download or convert the file again (e.g. `ffmpeg -i in -c copy out.mp4`), or drop the
    record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images._media import (  # noqa: F401 (merge, new_state, observe: the state)
    hits,
    merge,
    new_state,
    observe,
)
from dataprep.findings import Hit
from dataprep.images import UNREADABLE

CODE = "IM11"
NAME = "unreadable-media"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    pass


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(state, ctx, UNREADABLE, "download or convert the file again, or drop the "
                    "record")  # fmt: skip
