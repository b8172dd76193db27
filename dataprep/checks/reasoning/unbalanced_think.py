r"""A `<think>` block that is never closed, a `</think>` that closes nothing, or one nested in another.

Why it hurts training:
    Reasoning templates (Qwen3, DeepSeek-R1, LLaMA-Factory's `enable_thinking`) split an answer
    at `</think>` into its reasoning and its reply. An unclosed block makes the whole answer
    reasoning (the reply is trained as thought, or dropped); a stray `</think>` or a nested
    block splits it in the wrong place, and the model learns to open and close thoughts at
    random. Tags inside code are content, not structure, and are not counted.

Bad:
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>Two and two make four. The answer is 4."}]}
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "Two and two.</think>4"}]}

Good:
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>Two and two make four.</think>The answer is 4."}]}
    {"messages": [{"role": "user", "content": "How do I show a think tag?"}, {"role": "assistant", "content": "Write `<think>` in your prompt."}]}

Options:
    open_tag: the tag that opens a reasoning block.
    close_tag: the tag that closes it.

Fix:
    Close the block where the reasoning ends (before the reply), drop the stray tag, or
    regenerate the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import TEXT_ROLES, Sample
from dataprep.text import snippet, without_code

CODE = "RS01"
NAME = "unbalanced-think"
FORMATS = ("*",)
KINDS = ("*",)


@dataclass(frozen=True)
class Options:
    open_tag: str = "<think>"
    close_tag: str = "</think>"


def prefilter(opts: Options):
    """Turns that hold either tag anywhere (the confirm leaves out code)."""
    from dataprep import columns as col

    return col.text_role & (
        col.text.str.contains(opts.open_tag, literal=True)
        | col.text.str.contains(opts.close_tag, literal=True)
    )


def problem(text: str, opts: Options) -> tuple[int, int, str] | None:
    """(start, end, message) of the first unbalanced tag in `text` (outside code), or None."""
    plain = without_code(text)
    opened: int | None = None
    at = 0
    while True:
        start = plain.find(opts.open_tag, at)
        close = plain.find(opts.close_tag, at)
        if start < 0 and close < 0:
            break
        if close < 0 or (0 <= start < close):
            if opened is not None:
                return (
                    start,
                    start + len(opts.open_tag),
                    (
                        f"{opts.open_tag} inside another reasoning block (opened at character "
                        f"{opened}): blocks do not nest"
                    ),
                )
            opened, at = start, start + len(opts.open_tag)
        else:
            if opened is None:
                return (
                    close,
                    close + len(opts.close_tag),
                    (f"{opts.close_tag} at character {close} closes no {opts.open_tag}"),
                )
            opened, at = None, close + len(opts.close_tag)
    if opened is not None:
        return (
            opened,
            opened + len(opts.open_tag),
            (
                f"{opts.open_tag} at character {opened} is never closed: the whole rest of the "
                "answer is reasoning"
            ),
        )
    return None


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in sample.messages + sample.chosen + sample.rejected:
        text = turn.content
        if not text or turn.role not in TEXT_ROLES:
            continue
        if opts.open_tag not in text and opts.close_tag not in text:
            continue
        found = problem(text, opts)
        if found is not None:
            start, end, message = found
            yield Hit(
                turn.field,
                f"{message}: {snippet(text, start, end)}",
                f"close the block with {opts.close_tag} where the reasoning ends, or drop the "
                "stray tag",
            )
