r"""An `<image>` placeholder in an assistant (or system) turn instead of a user turn.

Why it hurts training:
    Images are input: the placeholder belongs where the user shows the picture. In an answer
    the model is trained to emit `<image>` itself (in LLaMA-Factory the image's features land
    inside the labels), and an image in the system prompt is dropped by most templates.

Bad:
    {"messages": [{"role": "user", "content": "Draw a cat."}, {"role": "assistant", "content": "<image>Here is a cat."}], "images": ["cat.jpg"]}

Good:
    {"messages": [{"role": "user", "content": "<image>What animal is this?"}, {"role": "assistant", "content": "A cat."}], "images": ["cat.jpg"]}

Options:
    None.

Fix:
    Move the placeholder to the user turn that shows the image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images import PLACEHOLDER
from dataprep.findings import Hit
from dataprep.sample import ASSISTANT, FUNCTION_CALL, SYSTEM, Sample

CODE = "IM06"
NAME = "image-placeholder-misplaced"
FORMATS = ("*",)
KINDS = ("*",)
MISPLACED = (ASSISTANT, FUNCTION_CALL, SYSTEM)


@dataclass(frozen=True)
class Options:
    pass


def prefilter(opts: Options):
    import polars as pl

    from dataprep import columns as col

    return (
        col.in_turns
        & pl.col("role").is_in(MISPLACED)
        & col.text.str.contains(PLACEHOLDER, literal=True)
    )


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in sample.messages + sample.chosen + sample.rejected:
        if turn.content and PLACEHOLDER in turn.content and turn.role in MISPLACED:
            yield Hit(
                turn.field,
                f"<image> in {'the system prompt' if turn.role == SYSTEM else 'an answer'}: "
                f"images are input and belong in a user turn",
                "move the placeholder to the user turn that shows the image",
            )
