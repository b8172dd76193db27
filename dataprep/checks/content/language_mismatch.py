r"""An answer in another language than its prompt (Chinese asked, English answered, or back).

Why it hurts training:
    The model learns to switch languages unprompted: a Chinese user gets English replies.
    Machine-translated datasets often translate the prompt but keep the original answer.
    Translation tasks, prompts that quote words in the answer's language and ask about them
    ('用“opulent”造句', 'What does “你好” mean?'), answers that are mostly code, and short answers
    (names, numbers) are not reported. A prompt too short to measure ("Calculate 15% of 500.")
    is decided from its few letters when the answer is long and wholly in the other script;
    a prompt that is only a name, numbers or a translation task stays exempt.

Bad:
    {"instruction": "请介绍一下长城。", "input": "", "output": "The Great Wall is a series of fortifications built across northern China over many centuries."}
    {"instruction": "Describe the Great Wall of China in two sentences.", "input": "", "output": "长城是中国古代的军事防御工程，绵延数千公里，是世界上最著名的建筑之一。"}
    {"instruction": "Calculate 15% of 500.", "input": "", "output": "五百的百分之十五是七十五。计算方法是把五百乘以零点一五，得到的结果就是七十五。"}

Good:
    {"instruction": "把这句话翻译成英文：长城很长。", "input": "", "output": "The Great Wall is very long."}
    {"instruction": "写一个包含“do away with”短语的句子。", "input": "", "output": "Many people believe we should do away with single-use plastics."}

Options:
    min_letters: ignore answers with fewer letters or characters than this.

Fix:
    Translate the answer (or the prompt) so both use one language, or drop the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

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


# Text the prompt quotes, or names after a final colon ("改变以下名词为复数形式：watch").
QUOTE = r"[“\"‘「『《]([^“”\"‘’「」『』《》]{1,80})[”\"’」』》]"
QUOTED = re.compile(rf"{QUOTE}|[:：]\s*([^:：\n]{{1,40}})$")
# What a prompt quotes or marks up is not the language it is written in.
NOT_PROSE = re.compile(rf"{QUOTE}|<[^<>\n]{{1,80}}>")
WORD = re.compile(r"[A-Za-z]{3,}|[\u4e00-\u9fff]{2,}")
ASCII_WORD = re.compile(r"[A-Za-z]+")
# A short prompt's language counts only against an answer this long and this pure.
SHORT_LETTERS, LONG_CJK, LONG_LATIN = 6, 40, 100


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


def _short_language(prompt: str) -> str | None:
    """The language of a prompt too short for `_language`: English from two words, one of them
    lower-case (a prompt of capitalised words is a name: "Albert Einstein"), with no wide
    character; Chinese from two wide characters and no ASCII letter."""
    cjk, latin = cjk_share(without_code(prompt))
    if cjk == 0 and latin >= SHORT_LETTERS:
        words = ASCII_WORD.findall(prompt)
        if len(words) >= 2 and any(w[0].islower() for w in words):
            return "English"
    if cjk >= 2 and latin == 0:
        return "Chinese"
    return None


def _wholly(answer: str, language: str) -> bool:
    """A long answer with (almost) nothing of the other script: what a short prompt needs."""
    cjk, latin = cjk_share(without_code(answer))
    if language == "Chinese":
        return cjk >= LONG_CJK and latin * 10 <= cjk
    return latin >= LONG_LATIN and cjk * 50 <= latin


def _about_quoted(prompt: str, answer: str, got: str) -> bool:
    """True when the prompt quotes words in the answer's language and the answer uses them."""
    english = got == "English"
    used = set(WORD.findall(answer.lower())) if english else None
    for match in QUOTED.finditer(prompt.strip().rstrip("。.？?")):
        words = {w.lower() for w in WORD.findall(match.group(1) or match.group(2))}
        words = {w for w in words if w.isascii() == english}
        if not words:
            continue
        found = len(words & used) if used is not None else sum(w in answer for w in words)
        if found * 2 >= len(words):  # most of the quoted words, as words: not "his" in "this"
            return True
    return False


def prefilter(opts: Options):
    """Answers in one script whose prompt may be in the other, from the UTF-8 byte and
    character counts of the first 2,000 characters (wide characters: half the extra bytes) and
    the ASCII letters of the whole text (an upper bound on the head's). What code or a
    prompt's quotes hide the confirm leaves out: it can only lower the prompt's counts, and the
    answer's where it has code."""
    import polars as pl

    from dataprep import columns as col

    m = opts.min_letters

    def select(frame: pl.DataFrame) -> np.ndarray:
        head = col.text.str.slice(0, 2000)
        found = frame.select(
            ((head.str.len_bytes() - head.str.len_chars()) // 2).fill_null(0).alias("wide"),
            col.text.str.len_chars().fill_null(0).alias("n"),
            col.has_code.fill_null(False).alias("code"),
            col.text.str.contains("```", literal=True).fill_null(False).alias("fence"),
        )
        wide, n = found["wide"].to_numpy(), found["n"].to_numpy()
        code = found["code"].to_numpy()
        latin = col.ascii_letters(frame["text"])
        at = frame["prompt_of"].fill_null(0).to_numpy()
        answer = (
            frame["answer"].to_numpy()
            & frame["prompt_of"].is_not_null().to_numpy()
            & (n >= m)
            & ~found["fence"].to_numpy()
        )
        answer_zh = (wide >= 4) & ((wide * 2 >= latin) | code | (n > 2000))
        answer_en = (latin >= m) & ((wide * 25 <= latin) | code)
        long_prompt = n[at] > 2000  # what is left out of the head shifts it
        prompt_zh = (wide[at] >= 4) | long_prompt
        prompt_en = latin[at] >= m
        # Short prompts (upper bounds again: the confirm's own tests only remove rows).
        short_en = latin[at] >= SHORT_LETTERS
        short_zh = wide[at] >= 2
        wholly_zh = (wide >= LONG_CJK) & ((latin * 10 <= wide) | code)
        wholly_en = (latin >= LONG_LATIN) & ((wide * 50 <= latin) | code)
        return answer & (
            (prompt_zh & answer_en)
            | (prompt_en & answer_zh)
            | (short_en & wholly_zh)
            | (short_zh & wholly_en)
        )

    return select


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        answer = turn.content
        if not answer or len(answer) < opts.min_letters or "```" in answer:
            continue
        prompt = answer_for(sample, turn)
        if prompt is None or not prompt.content:
            continue
        prose = NOT_PROSE.sub(" ", prompt.content)
        asked, short = _language(prose, opts.min_letters), False
        if asked is None:
            asked, short = _short_language(prose), True
        if asked is None:
            continue
        got = _language(answer, opts.min_letters)
        if got is None or got == asked or TRANSLATION.search(prompt.content):
            continue
        if short and not _wholly(answer, got):
            continue
        if _about_quoted(prompt.content, answer, got):
            continue
        yield Hit(
            turn.field,
            f"the prompt is in {asked} but the answer is in {got}",
            "answer in the prompt's language (unless the task asks otherwise), or drop the record",
        )
