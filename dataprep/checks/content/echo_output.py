r"""An answer that repeats its prompt (or the input) instead of answering it.

Why it hurts training:
    The model learns that copying the question is an answer: it parrots prompts back. Common
    in generated data where the generator failed and echoed its input. Tasks that ask to
    repeat, copy, correct or sort text (where an unchanged text can be right: it was already
    correct, or in order), and answers that lay the input out anew (the same sentences split
    into paragraphs) are not reported. A task that asks for a different text (edit, rewrite,
    rephrase, rearrange) answered with its short input unchanged is reported, correcting words
    or not: "Edit this sentence and make sure it is grammatically correct."

Bad:
    {"instruction": "Explain photosynthesis.", "input": "", "output": "Explain photosynthesis."}
    {"instruction": "Summarise the text.", "input": "Cats sleep a lot. They nap up to 16 hours a day.", "output": "Cats sleep a lot. They nap up to 16 hours a day."}
    {"instruction": "Edit this sentence and make sure it is grammatically correct.", "input": "I goes to the store.", "output": "I goes to the store."}

Good:
    {"instruction": "Explain photosynthesis.", "input": "", "output": "Plants turn light, water and CO2 into sugar and oxygen."}
    {"instruction": "Correct the grammar.", "input": "She likes tea.", "output": "She likes tea."}
    {"instruction": "Organize the sentences chronologically.", "input": "He was born in 1950. He died in 2020.", "output": "He was born in 1950. He died in 2020."}
    {"instruction": "Divide these sentences into two paragraphs.", "input": "The sky is blue. Birds sing. The air is fresh.", "output": "The sky is blue. Birds sing.\n\nThe air is fresh."}

Options:
    min_chars: ignore answers shorter than this (a one-word prompt and answer can match by chance).

Fix:
    Write the real answer, or drop the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.findings import Hit
from dataprep.sample import Sample, answer_for, answers
from dataprep.text import squash

CODE = "CT09"
NAME = "echo-output"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto")

# Tasks where returning the input unchanged can be right (it was already correct).
COPY_TASK = re.compile(
    r"\b(?:repeat|copy|echo|verbatim|same|correct|fix|proofread|edit|capitali[sz]e|punctuat|"
    r"spell|grammar|identical|unchanged|sort|order|arrange|organi[sz]e)|重复|原样|照抄|改正|纠正|校对|标点|排序|整理",
    re.I,
)


# Tasks that ask for a different text: their input unchanged is no answer, whatever else they
# ask ("Edit this sentence and make sure it is grammatically correct"). Not "organize" or
# "sort": the input may be in order already (LLaMA-Factory's alpaca_en_demo #760 is).
CHANGE_TASK = re.compile(
    r"\b(?:edit|re-?write|rephrase|paraphrase|reword|re-?arrange|re-?order|unscramble)|"
    r"改写|重写|改述|重新排列|重新排序|编辑",
    re.I,
)
# ...unless they also ask to keep it.
KEEP_TASK = re.compile(
    r"\b(?:repeat|copy|echo|verbatim|same|identical|unchanged)|重复|原样|照抄", re.I
)
# The instruction may quote its own text, or give it after a colon: then the input need not be
# what is changed.
OWN_TEXT = re.compile(r"[“\"‘「『][^“”\"‘’「」『』]{8,}[”\"’」』]|[:：]\s*\S.{7,}")
SHORT_INPUT = 200  # characters: a sentence or two, where any edit shows


@dataclass(frozen=True)
class Options:
    min_chars: int = 6


def asks_for_change(instruction: str, part: str) -> str | None:
    """The verb of a task that asks to change a short input it does not quote itself."""
    change = CHANGE_TASK.search(instruction)
    if change is None or len(part.strip()) > SHORT_INPUT:
        return None
    if KEEP_TASK.search(instruction) or OWN_TEXT.search(instruction):
        return None
    return change.group(0)


def prefilter(opts: Options):
    """Answers as long as their prompt, or its first line, or the rest (within 0.8x..1.25x)."""
    import polars as pl

    from dataprep import columns as col

    def select(frame: pl.DataFrame) -> np.ndarray:
        sizes = frame.select(
            col.text.str.len_chars().fill_null(0).alias("n"),
            col.text.str.extract(r"^([^\n]*)\n", 1).str.len_chars().fill_null(-1).alias("head"),
        )
        n, head = sizes["n"].to_numpy(), sizes["head"].to_numpy()
        answer = frame["answer"].to_numpy() & (n >= opts.min_chars)
        at = frame["prompt_of"].fill_null(0).to_numpy()
        answer &= frame["prompt_of"].is_not_null().to_numpy()
        whole, first = n[at], head[at]
        # A part within these bounds makes the answer close to it (a little slack for rounding).
        lower, upper = n / 1.25 - 4 - 1e-6, n / 0.8 + 1e-6
        close = (whole >= lower) & (whole <= upper) & (whole > 0)
        split = first >= 0
        for part in (first, whole - first - 1):
            close |= split & (part >= lower) & (part <= upper)
        return answer & close

    return select


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        answer = turn.content
        if not answer or len(answer) < opts.min_chars:
            continue
        prompt = answer_for(sample, turn)
        if prompt is None or not prompt.content:
            continue
        text = prompt.content
        # The parts an echo can copy: the whole prompt, and (alpaca) instruction and input.
        parts = [text, *text.split("\n", 1)] if "\n" in text else [text]
        instruction = parts[1] if len(parts) > 1 else text
        # Lengths first: most answers are far longer or shorter than anything they could copy.
        close = [p for p in parts if 0.8 * len(p) <= len(answer) <= 1.25 * len(p) + 5]
        if not close:
            continue
        target = squash(answer)
        if len(target) < opts.min_chars:
            continue
        for part in close:
            if squash(part) != target:
                continue
            # Copying the input can be a right answer to a copy task; the instruction never.
            message = f"the answer repeats the prompt: {answer[:60]!r}"
            if part is not instruction and part is not text:
                # Same words, new line breaks: the layout is the answer.
                if part.strip().count("\n") != answer.strip().count("\n"):
                    return
                if COPY_TASK.search(text):
                    verb = asks_for_change(instruction, part)
                    if verb is None:
                        return
                    message = (
                        f"the answer is the input unchanged, but the task asks to {verb.lower()} "
                        f"it: {answer[:60]!r}"
                    )
            yield Hit(turn.field, message, "write the real answer, or drop the record")
            break
