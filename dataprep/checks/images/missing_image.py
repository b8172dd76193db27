r"""A record references an image file that does not exist.

Why it hurts training:
    LLaMA-Factory opens every image while preprocessing: one missing file stops the whole run
    with a traceback, often after minutes of tokenizing. Paths are resolved against
    `--image-root` (default: the data file's folder), as LLaMA-Factory resolves them against
    its dataset directory.

Bad:
    {"messages": [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A cat."}], "images": ["photos/cat.jpg"]}

Good:
    file photos/cat.jpg: jpeg 64x48
    {"messages": [{"role": "user", "content": "<image>What is this?"}, {"role": "assistant", "content": "A cat."}], "images": ["photos/cat.jpg"]}

Options:
    None.

Fix:
    Copy the image to the path the record names, point `--image-root` at the folder the paths
    are relative to, or drop the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images import hits, merge, new_state, observe  # noqa: F401  (the rule's state)
from dataprep.findings import Hit
from dataprep.images import MISSING

CODE = "IM01"
NAME = "missing-image"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    pass


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(
        state,
        ctx,
        MISSING,
        "copy the image there, set --image-root to the folder the "
        "paths are relative to, or drop the record",
    )
