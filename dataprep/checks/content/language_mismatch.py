r"""An answer in another language than its prompt (Chinese asked, English answered, or back).

Why it hurts training:
    The model learns to switch languages unprompted: a Chinese user gets English replies.
    Machine-translated datasets often translate the prompt but keep the original answer.
    Translation tasks, prompts that quote words in the answer's language and ask about them
    ('用“opulent”造句', 'What does “你好” mean?'), answers that are mostly code, and short answers
    (names, numbers) are not reported.

Bad:
    {"instruction": "请介绍一下长城。", "input": "", "output": "The Great Wall is a series of fortifications built across northern China over many centuries."}
    {"instruction": "Describe the Great Wall of China in two sentences.", "input": "", "output": "长城是中国古代的军事防御工程，绵延数千公里，是世界上最著名的建筑之一。"}

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
    """Answers in one script whose prompt may be in the other, from byte and character counts
    of the first 2,000 characters: at most `chars - (bytes - chars) / 3` of them are ASCII
    letters, since a non-ASCII character takes 2 to 4 bytes (what code or quotes hide, the
    confirm leaves out)."""
    from dataprep import columns as col

    m = opts.min_letters
    head = col.text.str.slice(0, 2000)
    chars, size = head.str.len_chars(), head.str.len_bytes()
    wide = (size - chars) // 2
    latin = chars - (size - chars) / 3  # an upper bound on the ASCII letters
    answer_zh = wide >= 4
    answer_en = (latin >= m) & ((wide * 25 <= latin) | col.has_code)
    long_prompt = col.prompt_of(col.text.str.len_chars()) > 2000  # what is left out shifts the head
    prompt_zh = (col.prompt_of(wide) >= 4) | long_prompt
    prompt_en = (col.prompt_of(latin) >= m) | long_prompt
    answer = (
        col.is_answer
        & (col.text.str.len_chars() >= m)
        & ~col.text.str.contains("```", literal=True)
    )
    return answer & ((prompt_zh & answer_en) | (prompt_en & answer_zh))


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        answer = turn.content
        if not answer or len(answer) < opts.min_letters or "```" in answer:
            continue
        prompt = answer_for(sample, turn)
        if prompt is None or not prompt.content:
            continue
        asked = _language(NOT_PROSE.sub(" ", prompt.content), opts.min_letters)
        if asked is None:
            continue
        got = _language(answer, opts.min_letters)
        if got is None or got == asked or TRANSLATION.search(prompt.content):
            continue
        if _about_quoted(prompt.content, answer, got):
            continue
        yield Hit(
            turn.field,
            f"the prompt is in {asked} but the answer is in {got}",
            "answer in the prompt's language (unless the task asks otherwise), or drop the record",
        )
