r"""An answer with an AI disclaimer or a refusal: "As an AI language model", "作为一个人工智能语言模型".

Why it hurts training:
    Distilled data carries the teacher model's identity and refusals. The fine-tuned model
    learns to call itself a language model trained by OpenAI, to hedge, or to refuse harmless
    requests. Persona openers such as "As an AI detective, ..." in role-play data are not
    disclaimers and are not reported.

Bad:
    {"instruction": "Tell me a joke.", "input": "", "output": "As an AI language model, I don't have a sense of humour."}
    {"instruction": "写一首诗。", "input": "", "output": "作为一个人工智能语言模型，我无法创作诗歌。"}

Good:
    {"instruction": "Tell me a joke.", "input": "", "output": "Why did the scarecrow win an award? He was outstanding in his field."}
    {"instruction": "Stay in character.", "input": "", "output": "As an AI detective, I always follow the evidence."}

Options:
    None.

Fix:
    Rewrite the answer without the disclaimer (or give the real answer), or drop the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import Sample, answers
from dataprep.text import snippet

CODE = "CT07"
NAME = "ai-disclaimer"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto")

# Patterns are lower case and run on the lowered text, in windows around cheap anchors.
ALWAYS = re.compile(
    r"as an? (?:ai|artificial intelligence) language model"
    r"|i(?:'m| am) (?:just |only )?an? (?:ai )?language model"
    r"|i (?:was|am|'m) (?:trained|developed|created) by openai"
    r"|i(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:can(?:no|')t|am (?:not able|unable) to|won't) "
    r"(?:help|assist|provide|fulfill|comply|do that|answer|generate|create|write)"
    r"|i cannot (?:fulfill|comply with|help with) (?:this|that|your) request"
    r"|my (?:knowledge|training data) (?:cutoff|cut-off)"
    r"|作为(?:一个|一名|一位|一款)?(?:人工智能|ai)?(?:语言)?模型"
    r"|作为(?:一个|一名|一位|一款)?(?:人工智能|ai)(?:助手|程序|机器人)?[，,]\s*我(?:无法|不能|没有|并不|不具备)"
    r"|我是(?:一个|一名|一款)?(?:由\s*openai\s*(?:训练|开发)的)?(?:人工智能)?语言模型"
    r"|我(?:是|也是)?由\s*openai\s*(?:训练|开发)"
    r"|(?:抱歉|对不起|很抱歉)[，,]?\s*(?:但是?)?(?:作为.{0,12}?)?我(?:无法|不能)(?:提供|回答|帮助|满足|完成|为您)"
)
# An AI identity alone ("I am X, an AI assistant developed by Y") is what identity data teaches;
# it is a disclaimer when a refusal or denial follows it.
IDENTITY = re.compile(
    r"(?:as|i(?:'m| am)) (?:just |only |merely )?an? (?:ai|artificial intelligence)(?:[- ]powered)?"
    r"(?: language)? (?:model|assistant|chatbot|program)\b"
)
NEGATIONS = (
    "do not", "don't", "does not", "cannot", "can't", "not able", "unable", "have no", "lack",
    "not capable",
)  # fmt: skip


def _find(lower: str, start: int) -> tuple[int, int] | None:
    end = start + 260
    match = ALWAYS.search(lower, start, end)
    if match:
        return match.start(), match.end()
    match = IDENTITY.search(lower, start, end)
    if match:
        after = lower[match.end() : match.end() + 80]
        after = after.split(".", 1)[0]
        if any(n in after for n in NEGATIONS):
            return match.start(), match.end() + len(after)
    return None


# Every pattern contains one of these: a few substring tests decide for most answers.
ANCHORS = (
    "ai ", "ai,", "ai-", "artificial intelligence", "language model", "openai", "sorry",
    "afraid", "cannot", "can't", "cutoff", "cut-off", "i do not have", "i don't have",
    "作为", "模型", "抱歉", "对不起", "我是",
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    pass


def _windows(lower: str) -> list[int]:
    """Where to look: around each anchor (the longest pattern spans ~200 characters)."""
    starts = []
    for anchor in ANCHORS:
        at = lower.find(anchor)
        while at >= 0 and len(starts) < 32:
            starts.append(max(0, at - 120))
            at = lower.find(anchor, at + 1)
    return sorted(set(starts))


def prefilter(opts: Options):
    """Answers the patterns match case-insensitively, word boundaries left out (U+0130, which
    `str.lower` turns into two characters, decides in Python)."""
    from dataprep import columns as col

    space = col.SPACE
    pattern = (
        f"(?i:{ALWAYS.pattern.replace(chr(92) + 's', space)}"
        f"|{IDENTITY.pattern.replace(chr(92) + 'b', '')})|\\x{{130}}"
    )
    return col.is_answer & col.text.str.contains(pattern)


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    for turn in answers(sample):
        text = turn.content
        if not text:
            continue
        lower = text.lower()
        span = None
        for start in _windows(lower):
            span = _find(lower, start)
            if span:
                break
        if span is not None:
            yield Hit(
                turn.field,
                f"AI disclaimer or refusal {text[span[0] : span[1]]!r}: {snippet(text, *span)}",
                "rewrite the answer without the disclaimer, or drop the record",
            )
