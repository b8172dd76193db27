r"""An answer whose style is a minority within its task: how it opens, list or prose, Markdown, length, final punctuation, language.

Why it hurts training:
    When the same task is answered in two styles ("本文介绍了A、B、C" in most records, a bare
    "A、B、C" in a few; most answers without a leading newline, some with one), the model
    learns both and picks one at random. Records are grouped by task (the same instruction,
    ignoring numbers and punctuation; the whole file for layout habits such as a leading
    newline), each group's dominant style is learned, and the minority is reported with the
    majority it departs from. A dataset-level summary lists the styles found.

Bad:
    {"instruction": "总结下面的文章。", "input": "文章一", "output": "本文介绍了A、B和C。"}
    {"instruction": "总结下面的文章。", "input": "文章二", "output": "本文介绍了D、E和F。"}
    {"instruction": "总结下面的文章。", "input": "文章三", "output": "本文介绍了G、H和I。"}
    {"instruction": "总结下面的文章。", "input": "文章四", "output": "本文介绍了J、K和L。"}
    {"instruction": "总结下面的文章。", "input": "文章五", "output": "本文介绍了M、N和O。"}
    {"instruction": "总结下面的文章。", "input": "文章六", "output": "P、Q、R"}

Good:
    {"instruction": "总结下面的文章。", "input": "文章一", "output": "本文介绍了A、B和C。"}
    {"instruction": "总结下面的文章。", "input": "文章二", "output": "本文介绍了D、E和F。"}
    {"instruction": "总结下面的文章。", "input": "文章三", "output": "本文介绍了G、H和I。"}
    {"instruction": "总结下面的文章。", "input": "文章四", "output": "本文介绍了J、K和L。"}
    {"instruction": "总结下面的文章。", "input": "文章五", "output": "本文介绍了M、N和O。"}
    {"instruction": "总结下面的文章。", "input": "文章六", "output": "本文介绍了P、Q和R。"}

Options:
    min_group: the fewest records a task needs before its style is judged.
    majority: the share the dominant style needs before the rest counts as a minority.

Fix:
    Rewrite the minority answers in the dominant style (or the other way round, on purpose).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.findings import Hit, Where
from dataprep.sample import Sample, answers, prompts
from dataprep.text import cjk_share

CODE = "DU04"
NAME = "style-inconsistent"
FORMATS = ("*",)
KINDS = ("sft",)

_TASK_NOISE = re.compile(r"[\d\W_]+")
_LIST = re.compile(r"\s*(?:\d{1,2}[.)、．]|[-*•·]|[一二三四五六七八九十][、.])\s*")
_MARKDOWN = re.compile(r"\*\*|^#{1,6} |```|^\|.*\|$", re.M)
_WORD = re.compile(r"\w+")
FEATURES = {
    "opening": "opens with {}",
    "shape": "is {}",
    "markdown": "{} Markdown",
    "length": "is {} long",
    "ending": "ends with {}",
    "language": "is in {}",
    "leading": "{}",
}
DATASET_FEATURES = ("leading",)
SLOT = {name: i for i, name in enumerate(FEATURES)}  # feature -> position in a style tuple
UNKNOWN = "undetermined"  # a value that is neither counted nor reported  # layout habits are judged over the whole file


@dataclass(frozen=True)
class Options:
    min_group: int = 5
    majority: float = 0.75


def _task(sample: Sample) -> str:
    users = prompts(sample)
    if not users or not users[0].content:
        return ""
    instruction = (
        users[0].content.split("\n", 1)[0] if sample.format == "alpaca" else users[0].content
    )
    return _TASK_NOISE.sub("", instruction.lower())[:60]


def _opening(text: str) -> str:
    head = text.lstrip()[:12]
    if not head:
        return "nothing"
    cjk, _ = cjk_share(head)
    if cjk:
        return repr(head[:4])
    words = _WORD.findall(head.lower())
    return repr(words[0]) if words else repr(head[:3])


def _markdown(text: str) -> bool:
    # Substring tests first: the multi-line pattern only runs where Markdown may be.
    if "**" in text or "```" in text:
        return True
    if "#" not in text and "|" not in text:
        return False
    return bool(_MARKDOWN.search(text))


def _style(text: str) -> tuple[str, ...]:
    """The answer's style, one value per FEATURES entry (a tuple: ~200k of them are kept)."""
    stripped = text.strip()
    cjk, latin = cjk_share(stripped, 400)
    return _assemble(
        text.lstrip()[:12], len(stripped), stripped[-1:], cjk, latin,
        _markdown(stripped), text[:1].isspace(),
    )  # fmt: skip


def _assemble(head: str, size: int, last: str, cjk: int, latin: int, markdown: bool,
              leading: bool) -> tuple[str, ...]:  # fmt: skip
    """The style tuple from the measurements of one answer: `head`, its first 12 characters
    after leading whitespace; `size`, `last`, `cjk`, `latin` of the stripped answer (the last
    two in its first 400 characters)."""
    return (
        _opening(head),
        "a list" if _LIST.match(head) else "prose",
        "uses" if markdown else "has no",
        f"about {2 ** round(math.log2(size + 1))} characters",
        "。" if last in "。！？" else "." if last in ".!?" else "no punctuation",
        "Chinese"
        if cjk >= 5 and cjk * 2 >= latin
        else "English"
        if latin >= 20 and not cjk
        else UNKNOWN,
        "starts with whitespace" if leading else "starts with text",
    )


def new_state(ctx) -> list:
    return []  # (task, style, line, index) per record


def observe(state: list, record, sample) -> None:
    if sample is None or sample.kind not in KINDS:
        return
    found = answers(sample)
    if found and found[-1].content:
        state.append((_task(sample), _style(found[-1].content), sample.line, sample.index))


def observe_batch(state: list, batch, records) -> None:
    """`observe` over a batch: the measurements of each record's last answer in Rust, the
    style and task in Python on short strings."""
    import polars as pl

    from dataprep import columns as col

    frame = batch.frame
    rows = batch.rows
    answer = frame["answer"].to_numpy()
    last = np.full(len(batch), -1, dtype=np.int64)
    np.maximum.at(last, rows[answer], np.flatnonzero(answer))
    chosen = [
        (i, at) for i, (sample, at) in enumerate(zip(batch.samples, last.tolist(), strict=True))
        if at >= 0 and sample.kind in KINDS
    ]  # fmt: skip
    if not chosen:
        return
    texts = frame[[at for _, at in chosen]].select(
        col.text, col.stripped(col.text).alias("stripped")
    )
    stripped = pl.col("stripped")
    found = texts.select(
        col.text.str.strip_chars_start(col.PY_WHITESPACE).str.slice(0, 12).alias("head"),
        stripped.str.len_chars().alias("size"),
        stripped.str.slice(-1).alias("last"),
        stripped.str.slice(0, 400).alias("head400"),
        (
            stripped.str.contains("**", literal=True)
            | stripped.str.contains("```", literal=True)
            | stripped.str.contains(r"(?m)^#{1,6} |^\|.*\|$")
        ).alias("markdown"),
        col.text.str.slice(0, 1).alias("first"),
        col.text.is_null().alias("null"),
        (col.text == "").alias("empty"),
    )
    columns = [found[name].to_list() for name in found.columns]
    samples = batch.samples
    for (i, _), (head, size, end, head400, markdown, first, null, empty) in zip(
        chosen, zip(*columns, strict=True), strict=True
    ):
        if null or empty:
            continue
        sample = samples[i]
        cjk, letters = cjk_share(head400, 400)
        style = _assemble(head, size, end, cjk, letters, markdown, first.isspace())
        state.append((_task(sample), style, sample.line, sample.index))


def merge(a: list, b: list, offset: tuple[int, int]) -> list:
    lines, records = offset
    a.extend((task, style, line + lines, index + records) for task, style, line, index in b)
    return a


def _minorities(rows: list, features, opts: Options, scope: str):
    for feature in features:
        slot = SLOT[feature]
        rows_known = [r for r in rows if r[1][slot] != UNKNOWN]
        if len(rows_known) < opts.min_group:
            continue
        rows = rows_known
        counts = Counter(style[slot] for _, style, _, _ in rows)
        value, top = counts.most_common(1)[0]
        if len(counts) < 2 or top / len(rows) < opts.majority:
            continue
        if feature == "length":  # only lengths far from the usual band count
            usual = int(value.split()[1])
            odd = [r for r in rows if not usual / 4 <= int(r[1][slot].split()[1]) <= usual * 4]
        else:
            odd = [r for r in rows if r[1][slot] != value]
        for _, style, line, index in odd:
            yield line, index, feature, style[slot], value, top, len(rows), scope


def finish(state: list, opts: Options, ctx) -> Iterator[Hit]:
    groups: dict[str, list] = defaultdict(list)
    for row in state:
        if row[0]:
            groups[row[0]].append(row)
    found = []
    task_features = [f for f in FEATURES if f not in DATASET_FEATURES]
    for rows in groups.values():
        if len(rows) >= opts.min_group:
            found.extend(_minorities(rows, task_features, opts, "this task"))
    if len(state) >= opts.min_group:
        found.extend(_minorities(state, DATASET_FEATURES, opts, "this file"))
    for line, index, feature, mine, usual, top, total, scope in sorted(found):
        template = FEATURES[feature]
        yield Hit(
            None,
            f"the answer {template.format(mine)}; the dominant style of {scope} "
            f"({top} of {total} answers, {top / total:.0%}): {template.format(usual)}",
            f"rewrite it in the dominant style ({template.format(usual)}), or make the styles "
            "consistent on purpose",
            Where(ctx.path, line, index),
        )
    if found:
        features = Counter(f[2] for f in found)
        summary = ", ".join(f"{name} ×{n}" for name, n in features.most_common())
        checked = sum(1 for rows in groups.values() if len(rows) >= opts.min_group)
        yield Hit(
            None,
            f"answer styles: {checked} task groups of {opts.min_group}+ records checked; "
            f"minority styles by feature: {summary}",
            "see the record-level findings of this rule for each minority answer",
            Where(ctx.path),
        )
