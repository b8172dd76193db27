r"""An image with more pixels than a limit, decompression bombs included.

Why it hurts training:
    A 40000x40000 PNG can be a few kilobytes on disk and 4.8 GB in memory: one such file
    (malicious or a scanning accident) kills the data loader with an out-of-memory error.
    Even honest huge images cost time and memory only to be resized down. The size is read
    from the file header: nothing is decoded, so checking never hangs or fills memory.

Bad:
    file big.png: bomb png 40000x40000
    {"messages": [{"role": "user", "content": "<image>Describe."}, {"role": "assistant", "content": "White."}], "images": ["big.png"]}

Good:
    file small.png: png 640x480
    {"messages": [{"role": "user", "content": "<image>Describe."}, {"role": "assistant", "content": "White."}], "images": ["small.png"]}

Options:
    max_pixels: the most pixels (width x height) an image may have; Pillow refuses to open
        images over twice its own 89,478,485 limit, and those are reported whatever this says.

Fix:
    Resize the image to what the vision encoder uses (e.g. 336 or 448 pixels a side), or drop
    the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images import hits, merge, new_state, observe  # noqa: F401  (the rule's state)
from dataprep.findings import Hit
from dataprep.images import DEFAULT_MAX_PIXELS, TOO_LARGE

CODE = "IM04"
NAME = "image-too-large"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    max_pixels: int = DEFAULT_MAX_PIXELS


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(
        state, ctx, TOO_LARGE, "resize it to the vision encoder's input size, or drop the record"
    )
