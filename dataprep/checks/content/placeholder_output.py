r"""An answer (or alpaca input) that is a placeholder: `N/A`, `<nooutput>`, `None`, `无`, `...`.

Why it hurts training:
    Placeholders are what a pipeline wrote when it had nothing: the model learns to answer
    "N/A" or "<nooutput>" to real questions. Original Alpaca has `<nooutput>` answers and a dozen
    spellings of "no input" as inputs, which the model then reads as content.

Bad:
    {"instruction": "Draw a cat.", "input": "", "output": "<nooutput>"}
    {"instruction": "Summarise the text.", "input": "No input", "output": "There is nothing to summarise."}
    {"instruction": "总结这段话。", "input": "", "output": "无"}

Good:
    {"instruction": "Describe a cat.", "input": "", "output": "A small furry animal with whiskers."}

Options:
    placeholders: the answers that count as placeholders, compared case- and
        punctuation-insensitively.
    input_placeholders: the same for alpaca inputs (and the last line of a prompt).

Fix:
    Write a real answer or drop the record; leave an absent input empty ("").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import Sample, answers, prompts
from dataprep.text import is_blank, squash

CODE = "CT03"
NAME = "placeholder-output"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto")

STRIP = " \t\n.,;:!?。，；：！？…\"'`<>[](){}（）【】「」《》*_-—"


@dataclass(frozen=True)
class Options:
    placeholders: tuple[str, ...] = (
        "n/a", "na", "none", "null", "nil", "nan", "undefined", "todo", "tbd", "tba", "...",
        "nooutput", "no output", "noinput", "no input", "no answer", "no response", "empty", "emptymarkdowncontent",
        "not applicable", "placeholder", "lorem ipsum", "answer", "output", "response",
        "无", "无输出", "暂无", "空", "不适用", "待定", "待补充", "无答案", "略", "无回答", "答案",
    )  # fmt: skip
    input_placeholders: tuple[str, ...] = (
        "noinput", "no input", "none", "n/a", "na", "null", "nan", "empty", "no input needed",
        "no input required", "not applicable", "input", "无输入", "无", "空", "没有输入", "无需输入",
    )  # fmt: skip


def _key(text: str) -> str:
    return squash(text).strip(STRIP)


def _is_placeholder(text: str, placeholders: tuple[str, ...]) -> bool:
    key = _key(text)
    # Only punctuation or symbols ("...", "-", "？"): nothing was written.
    return key in placeholders or (not key and not text.isspace() and not is_blank(text))


def is_input_placeholder(text: str, opts: Options) -> bool:
    """Whether an input (or a prompt's last line) is one of the input placeholders."""
    return bool(text) and len(text) <= 40 and _key(text) in opts.input_placeholders


def prefilter(opts: Options):
    """Answers of 40 characters or fewer, and prompts whose last line (40 characters or fewer)
    has an input placeholder's key, computed in Rust as `_key` computes it in Python."""
    import polars as pl

    from dataprep import columns as col

    # Only prompts' last lines are read, and only short ones go on to be keyed.
    last = pl.when(col.is_prompt).then(col.text).str.extract(r"\n([^\n]*)$", 1)
    short = pl.when(last.str.len_chars() <= 40).then(last)
    key = col.squeezed(
        short.str.replace_all(f"[{col.ZERO_WIDTH_CLASS}]", "").str.normalize("NFKC")
    ).str.to_lowercase()
    placeholders = pl.Series(opts.input_placeholders, dtype=pl.String).implode()
    return (col.is_answer & (col.text.str.len_chars() <= 40)) | key.str.strip_chars(STRIP).is_in(
        placeholders
    )


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    placeholders = opts.placeholders
    for turn in answers(sample):
        text = turn.content
        # Placeholders are short; a length test first keeps long answers cheap.
        if text and len(text) <= 40 and text.strip() and _is_placeholder(text, placeholders):
            yield Hit(
                turn.field,
                f"the answer is a placeholder: {text.strip()!r}",
                "write a real answer, or drop the record",
            )
    if sample.format != "alpaca":
        return
    for turn in prompts(sample)[-1:]:
        text = turn.content or ""
        last = text.rsplit("\n", 1)[-1] if "\n" in text else ""
        if is_input_placeholder(last, opts):
            yield Hit(
                "input",
                f"the input is a placeholder: {last.strip()!r}",
                'leave an absent input empty (""): the model reads the placeholder as content',
            )
