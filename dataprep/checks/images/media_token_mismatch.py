r"""`<video>` or `<audio>` placeholders that do not match the record's videos or audios.

Why it hurts training:
    LLaMA-Factory pairs each `<video>` (`<audio>`) placeholder in the messages with the next
    file of the `videos` (`audios`) column and stops preprocessing when the counts differ
    ("The number of videos does not match the number of <video> tokens"). Only the exact
    placeholder counts, and in a record without clips only in its prompts: an HTML `<video>`
    element written in an answer is text.

Bad:
    {"messages": [{"role": "user", "content": "<video><video>Compare them."}, {"role": "assistant", "content": "The first is faster."}], "videos": ["a.mp4"]}

Good:
    {"messages": [{"role": "user", "content": "<video><video>Compare them."}, {"role": "assistant", "content": "The first is faster."}], "videos": ["a.mp4", "b.mp4"]}

Options:
    None.

Fix:
    Add a placeholder where each clip belongs (or the missing clip), so that placeholders and
    files pair up in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import USER, Sample

CODE = "IM08"
NAME = "media-token-mismatch"
FORMATS = ("*",)
KINDS = ("*",)
_KINDS = (("videos", "<video>", "video"), ("audios", "<audio>", "audio"))


@dataclass(frozen=True)
class Options:
    pass


def prefilter(opts: Options):
    """Turns that hold a placeholder, or records whose texts are checked anyway (the counts
    must agree for records that name clips but hold no placeholder too)."""
    import polars as pl

    from dataprep import columns as col

    return col.text.str.contains("<video>|<audio>") | pl.col("clips")


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    turns = [t for t in (*sample.messages, *sample.chosen, *sample.rejected) if t.content]
    prompts = [t for t in turns if t.role == USER]
    for key, token, noun in _KINDS:
        files = len(getattr(sample, key))
        # With no clips, a placeholder in an answer is the HTML element written in text.
        counted = turns if files else prompts
        placed = sum(t.content.count(token) for t in counted)
        if sample.system:
            placed += sample.system.count(token)
        if placed == files:
            continue
        where = next((t.field for t in counted if token in t.content), None)
        yield Hit(
            where or (key if files else sample.messages_field),
            f"{placed} {token} placeholder{'s' * (placed != 1)} but {files} "
            f"{noun}{'s' * (files != 1)} in {key!r}",
            f"put one {token} in a user turn per {noun}, or list the missing {noun}s"
            if placed > files
            else f"add a {token} placeholder to a user turn for each {noun}",
        )
