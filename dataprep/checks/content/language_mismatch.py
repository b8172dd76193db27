r"""An answer in another language than its prompt (Chinese asked, English answered, or back).

Why it hurts training:
    The model learns to switch languages unprompted: a Chinese user gets English replies.
    Machine-translated datasets often translate the prompt but keep the original answer.
    Translation tasks, answers that are mostly code, and short answers (names, numbers) are not
    reported.

Bad:
    {"instruction": "请介绍一下长城。", "input": "", "output": "The Great Wall is a series of fortifications built across northern China over many centuries."}
    {"instruction": "Describe the Great Wall of China in two sentences.", "input": "", "output": "长城是中国古代的军事防御工程，绵延数千公里，是世界上最著名的建筑之一。"}

Good:
    {"instruction": "把这句话翻译成英文：长城很长。", "input": "", "output": "The Great Wall is very long."}

Options:
    min_letters: ignore answers with fewer letters or characters than this.

Fix:
    Translate the answer (or the prompt) so both use one language, or drop the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import Sample, answer_for, answers
from dataprep.text import cjk_share, without_code

CODE = "CT11"
NAME = "language-mismatch"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto")

TRANSLATION = re.compile(
    r"translat|翻译|译成|译为|英文|中文|英语|汉语|日语|日文|拼音|pinyin|in english|in chinese|"
    r"into english|into chinese|to english|to chinese|mandarin",
    re.I,
)


@dataclass(frozen=True)
class Options:
    min_letters: int = 20


def _language(text: str, min_letters: int) -> str | None:
    cjk, latin = cjk_share(without_code(text))
    if cjk >= 4 and cjk * 2 >= latin:  # "请介绍一下长城。" is a Chinese prompt
        return "Chinese"
    # Typographic quotes and dashes count as wide characters too: a few are allowed.
    if latin >= min_letters and cjk * 25 <= latin:
        return "English"
    return None


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        answer = turn.content
        if not answer or len(answer) < opts.min_letters or "```" in answer:
            continue
        prompt = answer_for(sample, turn)
        if prompt is None or not prompt.content:
            continue
        asked = _language(prompt.content, opts.min_letters)
        if asked is None:
            continue
        got = _language(answer, opts.min_letters)
        if got is None or got == asked or TRANSLATION.search(prompt.content):
            continue
        yield Hit(
            turn.field,
            f"the prompt is in {asked} but the answer is in {got}",
            "answer in the prompt's language (unless the task asks otherwise), or drop the record",
        )
