r"""The number of `<image>` placeholders differs from the number of images the record lists.

Why it hurts training:
    Each `<image>` is where one image's features go. LLaMA-Factory stops preprocessing with
    "The number of images does not match the number of <image> tokens"; other trainers pair
    images with the wrong placeholder or silently drop them, and the model learns to describe
    a picture it never saw. Typed image parts (OpenAI or LLaMA-Factory v1 content lists) are
    their own placeholders.

Bad:
    {"messages": [{"role": "user", "content": "<image><image>Compare them."}, {"role": "assistant", "content": "Both are cats."}], "images": ["a.jpg"]}
    {"conversations": [{"from": "human", "value": "What is shown?"}, {"from": "gpt", "value": "A bridge."}], "image": "bridge.jpg"}

Good:
    {"messages": [{"role": "user", "content": "<image>Who is this?"}, {"role": "assistant", "content": "A footballer."}, {"role": "user", "content": "And here?<image>"}, {"role": "assistant", "content": "The same player."}], "images": ["1.jpg", "2.jpg"]}

Options:
    None.

Fix:
    Put exactly one `<image>` in a user turn per listed image (LLaVA puts it at the start of
    the first question), or list the missing images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images import PLACEHOLDER
from dataprep.findings import Hit
from dataprep.sample import Sample

CODE = "IM05"
NAME = "image-token-mismatch"
FORMATS = ("*",)
KINDS = ("*",)


@dataclass(frozen=True)
class Options:
    pass


def prefilter(opts: Options):
    """Records with images, or a placeholder in a turn."""
    import polars as pl

    from dataprep import columns as col

    return (pl.col("images") > 0) | (
        col.in_turns & col.text.str.contains(PLACEHOLDER, literal=True)
    )


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    turns = sample.messages + sample.chosen + sample.rejected
    count = sum(t.content.count(PLACEHOLDER) for t in turns if t.content)
    if count == len(sample.images):
        return
    if not count and not sample.images:
        return
    listed = len(sample.images)
    where = next((t.field for t in turns if t.content and PLACEHOLDER in t.content), None)
    yield Hit(
        where or (sample.images_field if listed else sample.messages_field),
        f"{count} <image> placeholder{'s' * (count != 1)} but {listed} "
        f"image{'s' * (listed != 1)} listed",
        "put one <image> in a user turn per listed image, or list the missing images"
        if count > listed
        else "add an <image> placeholder to a user turn for each listed image",
    )
