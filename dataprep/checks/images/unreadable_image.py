r"""An image file Pillow cannot open and fully decode: empty, truncated, corrupt, or not an image.

A path that is not a regular file (a FIFO, a socket, a device or a folder) is reported here
too, with its kind, and is never opened: reading a FIFO would wait forever.

Why it hurts training:
    A zero-byte download, a JPEG cut off mid-transfer or an HTML error page saved as `.jpg`
    crashes preprocessing (PIL.UnidentifiedImageError, "image file is truncated") or, worse,
    trains on half a picture. Headers alone do not show truncation, so every file is decoded
    once (option `decode: false` reads headers only, several times faster).

Bad:
    file img/empty.jpg: empty
    file img/page.jpg: text <html><body>404 Not Found</body></html>
    {"messages": [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A dog."}], "images": ["img/empty.jpg"]}
    {"messages": [{"role": "user", "content": "<image>And this?"}, {"role": "assistant", "content": "A cat."}], "images": ["img/page.jpg"]}

Good:
    file img/dog.jpg: jpeg 32x32
    {"messages": [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A dog."}], "images": ["img/dog.jpg"]}

Options:
    decode: decode every pixel (finds truncated files) rather than read headers only.

Fix:
    Download or convert the image again, or drop the record; put the real file where a FIFO,
    socket or device stands.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images import hits, merge, new_state, observe  # noqa: F401  (the rule's state)
from dataprep.findings import Hit
from dataprep.images import UNREADABLE

CODE = "IM03"
NAME = "unreadable-image"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    decode: bool = True


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(state, ctx, UNREADABLE, _fix)


def _fix(detail: str) -> str:
    if detail.endswith("not a file") or detail == "not a regular file":
        return "put the image file itself at this path (it is never opened as it is), or drop the record"
    return "download or convert the image again, or drop the record"
