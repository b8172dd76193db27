"""What a dataset looks like, record by record: the numbers the report draws.

A Profile watches every normalised record once (as `lint_paths(observe=...)`) and keeps small
arrays: prompt and answer lengths in characters, each answer's language and opening word,
chosen/rejected lengths of preference pairs, and prompt hashes. In compare mode the eval set is
profiled first, keeping its prompts' word 13-grams; the train profile then checks each of its
prompts against them as it streams by (train's own n-grams are never held in memory).
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from dataprep.checks.reasoning.empty_reasoning import answer_kind
from dataprep.checks.tools._calls import call_turns
from dataprep.records import Record
from dataprep.sample import Sample, answers, prompts
from dataprep.text import cjk_share

NGRAM = 13  # words: the contamination window GPT-3's authors used
IMAGES = 50_000  # records whose image references the report keeps
_WORDS = re.compile(r"\w+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]")


def language(text: str) -> str:
    wide, latin = cjk_share(text)
    if wide >= 4 and wide * 2 >= latin:
        return "Chinese"
    if latin >= 4:
        return "English" if wide * 25 <= latin else "mixed"
    return "other"


def opening(text: str) -> str:
    found = re.match(r"\s*([A-Za-z']+|[\u4e00-\u9fff]{1,2})", text)
    return found.group(1) if found else ""


def _digest(text: str) -> bytes:
    return hashlib.blake2b(" ".join(text.split()).lower().encode(), digest_size=8).digest()


def ngrams(text: str) -> set[int]:
    """Hashes of the word 13-grams of a text (Chinese characters count as words)."""
    words = _WORDS.findall(_CJK_RUN.sub(lambda m: f" {m.group(0)} ", text.lower()))
    return {hash(" ".join(words[i : i + NGRAM])) for i in range(len(words) - NGRAM + 1)}


@dataclass
class Profile:
    records: int = 0
    bytes: int = 0
    prompt_chars: array = field(default_factory=lambda: array("q"))
    answer_chars: array = field(default_factory=lambda: array("q"))
    languages: Counter = field(default_factory=Counter)
    openings: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    chosen_chars: array = field(default_factory=lambda: array("q"))
    rejected_chars: array = field(default_factory=lambda: array("q"))
    prompts: dict[bytes, int] = field(default_factory=dict)  # prompt hash -> first line
    keep_ngrams: bool = False  # the eval side of compare mode
    grams: dict[int, list[int]] = field(default_factory=dict)  # 13-gram hash -> eval lines
    texts: dict[int, str] = field(default_factory=dict)  # eval line -> prompt (examples)
    images: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)  # capped
    against: Profile | None = None  # the train side: the eval profile to check prompts against
    exact: set[int] = field(default_factory=set)  # eval lines whose prompt train has
    near: set[int] = field(default_factory=set)  # eval lines sharing a 13-gram with train
    # Tool calls, reasoning, KTO labels and media: what the report's "modern" section counts.
    tool_records: int = 0
    calls: Counter = field(default_factory=Counter)  # called function name -> calls
    reasoning: Counter = field(default_factory=Counter)  # answers: reasoning | empty | plain
    kto: Counter = field(default_factory=Counter)  # desirable | undesirable | not a boolean
    media: Counter = field(default_factory=Counter)  # images | videos | audios -> references
    # What `dataprep clean` would change: (record, sample) -> fixer names (fixers.fixed_value).
    fix: Callable[[Record, Sample], list[str]] | None = None
    fixed: Counter = field(default_factory=Counter)  # fixer -> records it would change

    def __call__(self, ctx, record, sample: Sample | None) -> None:
        self.records += 1
        self.bytes += len(record.raw)
        if sample is None:
            return
        if self.fix is not None:
            self.fixed.update(self.fix(record, sample))
        self.kinds[f"{sample.format} {sample.kind}"] += 1
        self._modern(sample)
        if sample.images and len(self.images) < IMAGES:
            self.images[record.source, record.index] = sample.images
        prompt = "\n".join(t.content for t in prompts(sample) if t.content)
        if sample.kind == "dpo":
            chosen = "\n".join(t.content for t in sample.chosen if t.content)
            rejected = "\n".join(t.content for t in sample.rejected if t.content)
            self.chosen_chars.append(len(chosen))
            self.rejected_chars.append(len(rejected))
            answer = chosen
        else:
            answer = "\n".join(t.content for t in answers(sample) if t.content)
        self.prompt_chars.append(len(prompt))
        self.answer_chars.append(len(answer))
        if answer:
            self.languages[language(answer)] += 1
            self.openings[opening(answer)] += 1
        if not prompt:
            return
        key = _digest(prompt)
        if key not in self.prompts:
            self.prompts[key] = record.line
        if self.keep_ngrams:
            self.texts.setdefault(record.line, prompt[:300])
            for gram in ngrams(prompt):
                self.grams.setdefault(gram, []).append(record.line)
        reference = self.against
        if reference is not None:
            if key in reference.prompts:
                self.exact.add(reference.prompts[key])
            elif reference.grams:
                for gram in ngrams(prompt):
                    lines = reference.grams.get(gram)
                    if lines:
                        self.near.update(lines)

    def fork(self, pack: Any) -> Profile:
        """An empty profile like this one, to fill elsewhere (a Ray task) and `absorb` back:
        it pickles (its fix counter is rebuilt from `pack`, a PackArgs, where it runs)."""
        against = replace(self.against, fix=None) if self.against is not None else None
        fix = FixCounter(pack) if self.fix is not None else None
        return Profile(keep_ngrams=self.keep_ngrams, against=against, fix=fix)

    def absorb(self, other: Profile, lines: int, records: int) -> None:
        """Fold in a later chunk's profile (its lines and records counted from its start), as
        if this profile had seen its records."""
        self.records += other.records
        self.bytes += other.bytes
        for name in ("prompt_chars", "answer_chars", "chosen_chars", "rejected_chars"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("languages", "openings", "kinds", "calls", "reasoning", "kto", "media",
                     "fixed"):  # fmt: skip
            getattr(self, name).update(getattr(other, name))
        self.tool_records += other.tool_records
        for key, line in other.prompts.items():
            self.prompts.setdefault(key, line + lines)
        for (source, index), refs in other.images.items():
            if len(self.images) >= IMAGES:
                break
            self.images[source, index + records] = refs
        for gram, found in other.grams.items():
            self.grams.setdefault(gram, []).extend(line + lines for line in found)
        for line, text in other.texts.items():
            self.texts.setdefault(line + lines, text)
        self.exact |= other.exact
        self.near |= other.near

    def _modern(self, sample: Sample) -> None:
        """Count what the tool, reasoning, KTO and media checks look at."""
        if sample.tools is not None:
            self.tool_records += 1
        for _, found in call_turns(sample):
            for call in found:
                self.calls[call.name or "(no name)"] += 1
        for turn in answers(sample):
            if turn.content or turn.reasoning is not None:
                self.reasoning[answer_kind(turn)] += 1
        if sample.kind == "kto":
            label = sample.label
            self.kto["desirable" if label is True else "undesirable" if label is False
                     else "not a boolean"] += 1  # fmt: skip
        for kind, refs in (("images", sample.images), ("videos", sample.videos),
                           ("audios", sample.audios)):  # fmt: skip
            if refs:
                self.media[kind] += len(refs)


def fix_counter(pack) -> Callable:
    """(record, sample) -> the fixers `dataprep clean` would apply: the one function clean and
    build count with, so the report's counts are theirs."""
    from dataprep.engine import Plan
    from dataprep.fixers import Fixers, fixed_value

    plan, fixers = Plan(pack), Fixers.from_pack(pack)
    return lambda record, sample: fixed_value(record, sample, plan, fixers)[1]


@dataclass(frozen=True)
class FixCounter:
    """`fix_counter` of a pack loaded where it is called (a Ray worker), once per process."""

    pack: Any  # PackArgs

    def __call__(self, record: Record, sample: Sample) -> list[str]:
        return _counter(self.pack)(record, sample)


@cache
def _counter(pack) -> Callable:
    return fix_counter(pack.load())


def overlap(train: Profile, evaluation: Profile, examples: int = 10) -> dict:
    """Eval prompts that also occur in train: exactly (normalised) or by a shared 13-gram."""
    near = train.near - train.exact
    total = len(evaluation.prompts)
    lines = sorted(train.exact | near)
    return {
        "eval_prompts": total,
        "exact": len(train.exact),
        "ngram": len(near),
        "share": len(lines) / total if total else 0.0,
        "examples": [
            (line, evaluation.texts.get(line, ""), "exact" if line in train.exact else "13-gram")
            for line in lines[:examples]
        ],
    }
