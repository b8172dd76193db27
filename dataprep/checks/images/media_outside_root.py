r"""A video or audio path that leaves the media root (absolute, `..`, or a symlink out of it).

Why it hurts training:
    The data decides what a trainer (or a report) opens: `../../etc/passwd.mp4` or an
    absolute path reads files outside the dataset, and it breaks as soon as the data moves to
    another machine. Such paths are never opened.

Bad:
    {"messages": [{"role": "user", "content": "<audio>What is it?"}, {"role": "assistant", "content": "Rain."}], "audios": ["/home/me/rain.wav"]}

Good:
    {"messages": [{"role": "user", "content": "What does rain sound like?"}, {"role": "assistant", "content": "A soft patter."}]}

Options:
    None.

Fix:
    Make the paths relative to the dataset folder (or `--image-root`) and copy the files in.
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
from dataprep.images import OUTSIDE

CODE = "IM10"
NAME = "media-outside-root"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    pass


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(state, ctx, OUTSIDE, "make the path relative to the dataset folder and copy "
                    "the file inside it")  # fmt: skip
