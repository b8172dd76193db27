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

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataprep.chunked import Chunked
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
# Four characters Python's repr() leaves as they are (printable in the Unicode of every Python
# and Rust we run on, no quote or backslash): ASCII, CJK ideographs, CJK and full-width
# punctuation. An opening of only these is quoted in Rust.
_PLAIN = r"^[\x20-\x26\x28-\x5b\x5d-\x7e\x{4e00}-\x{9fef}\x{3001}-\x{303f}\x{ff01}-\x{ff5e}]*$"
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
    return _task_of(users[0].content if users else None, sample.format)


def _task_of(prompt: str | None, fmt: str) -> str:
    """The task of a record whose first user turn is `prompt`: its instruction (an alpaca
    record's first line) without digits, punctuation and case, cut to 60 characters."""
    if not prompt:
        return ""
    instruction = prompt.split("\n", 1)[0] if fmt == "alpaca" else prompt
    return _TASK_NOISE.sub("", instruction.lower())[:60]


def _task_key(task: str) -> int:
    """A stable 64-bit key of a task (0: no task); state keeps this, not the text."""
    if not task:
        return 0
    return int.from_bytes(hashlib.blake2b(task.encode("utf-8", "replace"), digest_size=8).digest(),
                          "little") | 1  # fmt: skip


@lru_cache(maxsize=1 << 16)  # answers open alike: most heads were seen before
def _opening(text: str) -> str:
    head = text.lstrip()[:12]
    if not head:
        return "nothing"
    cjk, _ = cjk_share(head)
    if cjk:
        return repr(head[:4])
    words = _WORD.findall(head.lower())
    return repr(words[0]) if words else repr(head[:3])


@lru_cache(maxsize=1 << 12)
def _length(size: int) -> str:
    return f"about {2 ** round(math.log2(size + 1))} characters"


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
              leading: bool, opening: str | None = None) -> tuple[str, ...]:  # fmt: skip
    """The style tuple from the measurements of one answer: `head`, its first 12 characters
    after leading whitespace; `size`, `last`, `cjk`, `latin` of the stripped answer (the last
    two in its first 400 characters); `opening`, `_opening(head)` where already known."""
    return (
        opening if opening is not None else _opening(head),
        "a list" if _LIST.match(head) else "prose",
        "uses" if markdown else "has no",
        _length(size),
        "。" if last in "。！？" else "." if last in ".!?" else "no punctuation",
        "Chinese"
        if cjk >= 5 and cjk * 2 >= latin
        else "English"
        if latin >= 20 and not cjk
        else UNKNOWN,
        "starts with whitespace" if leading else "starts with text",
    )


def new_state(ctx) -> dict:
    # Per record its task key, its style (an id into `styles`: a file has few distinct
    # styles) and its place, as columns: a million records cost ~32 MB, not a tuple each.
    return {"rows": Chunked(task=np.uint64, style=np.int64, line=np.int64, index=np.int64),
            "styles": {}}  # fmt: skip


def _style_id(state: dict, style: tuple[str, ...]) -> int:
    styles = state["styles"]
    found = styles.get(style)
    if found is None:
        found = styles[style] = len(styles)
    return found


def observe(state: dict, record, sample) -> None:
    if sample is None or sample.kind not in KINDS:
        return
    found = answers(sample)
    if found and found[-1].content:
        state["rows"].append(
            task=_task_key(_task(sample)),
            style=_style_id(state, _style(found[-1].content)),
            line=sample.line,
            index=sample.index,
        )


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch: the measurements of each record's last answer and the task of
    its first user turn computed in Rust (the task in Python where the line is not ASCII),
    the style assembled in Python from short strings and numbers."""
    import polars as pl

    from dataprep import columns as col

    chosen, last, first = _turns(batch)
    if not len(chosen):
        return
    samples = batch.samples
    alpaca = [samples[i].format == "alpaca" for i in chosen.tolist()]
    every = pl.concat([batch.frame["text"], pl.Series([None], dtype=pl.String)])  # last: none
    texts = pl.DataFrame(
        {
            "text": every.gather(last[chosen]),
            "user": every.gather(first[chosen]),
            "alpaca": pl.Series(alpaca, dtype=pl.Boolean),
        }
    )
    found = _features(texts)
    head400 = found["head400"]
    cjk = ((head400.str.len_bytes() - head400.str.len_chars()) // 2).fill_null(0).to_list()
    latin = col.ascii_letters(head400).tolist()
    columns = [found[name].to_list() for name in found.columns if name != "head400"]
    tasks, styles, kept = [], [], []
    for i, fmt_alpaca, wide, letters, row in zip(
        chosen.tolist(), alpaca, cjk, latin, zip(*columns, strict=True), strict=True
    ):
        head, size, end, markdown, opening, leading, blank, task, user_text = row
        if blank:
            continue
        if task is None:
            task = _task_of(user_text, "alpaca" if fmt_alpaca else "")
        style = _assemble(head, size, end, wide, letters, markdown, leading, opening)
        tasks.append(_task_key(task))
        styles.append(_style_id(state, style))
        kept.append(i)
    lines, indexes = batch.where
    state["rows"].extend(
        task=np.array(tasks, dtype=np.uint64),
        style=np.array(styles, dtype=np.int64),
        line=lines[kept],
        index=indexes[kept],
    )


def _turns(batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records of the batch this check reads (an answer, a kind it applies to), and per
    record the text row of its last answer and of its first user turn (past the end: none)."""
    frame = batch.frame
    rows = batch.rows
    answer = frame["answer"].to_numpy()
    last = np.full(len(batch), -1, dtype=np.int64)
    np.maximum.at(last, rows[answer], np.flatnonzero(answer))
    prompt = frame["prompt"].to_numpy()
    first = np.full(len(batch), len(frame), dtype=np.int64)
    np.minimum.at(first, rows[prompt], np.flatnonzero(prompt))
    chosen = np.array([
        i for i, (sample, at) in enumerate(zip(batch.samples, last.tolist(), strict=True))
        if at >= 0 and sample.kind in KINDS
    ], dtype=np.int64)  # fmt: skip
    return chosen, last, first


def _features(texts):
    """The measurements `_assemble` takes, per answer, in one polars pass (text, user and
    alpaca columns in; head, size, last, head400, markdown, opening, leading, blank, task and
    user out)."""
    import polars as pl

    from dataprep import columns as col

    stripped = col.stripped(col.text)
    user = pl.col("user")
    line = pl.when(pl.col("alpaca")).then(user.str.extract(r"^([^\n]*)", 1)).otherwise(user)
    ascii_line = ~line.str.contains(r"[^\x00-\x7f]")
    head = pl.col("head")
    quoted = head.str.slice(0, 4)
    word = head.str.to_lowercase().str.extract("([0-9A-Z_a-z]+)", 1)
    return texts.select(
        col.text.str.strip_chars_start(col.PY_WHITESPACE).str.slice(0, 12).alias("head"),
        stripped.alias("stripped"),
        col.text.str.slice(0, 1).is_in(list(col.PY_WHITESPACE)).alias("leading"),
        (col.text.is_null() | (col.text == "")).alias("blank"),
        # An ASCII line's task: its letters, lower case (what _task_of leaves of ASCII).
        pl.when(ascii_line)
        .then(line.str.to_lowercase().str.replace_all("[^a-z]+", "").str.slice(0, 60))
        .alias("task"),
        user.alias("user"),
    ).select(
        "head",
        pl.col("stripped").str.len_chars().alias("size"),
        pl.col("stripped").str.slice(-1).alias("last"),
        pl.col("stripped").str.slice(0, 400).alias("head400"),
        (
            pl.col("stripped").str.contains("**", literal=True)
            | pl.col("stripped").str.contains("```", literal=True)
            | pl.col("stripped").str.contains(r"(?m)^#{1,6} |^\|.*\|$")
        ).alias("markdown"),
        # `_opening` where Rust reads it as Python does; null: Python decides.
        pl.when(head == "")
        .then(pl.lit("nothing"))
        .when((head.str.len_bytes() > head.str.len_chars() + 1) & quoted.str.contains(_PLAIN))
        .then(pl.concat_str(pl.lit("'"), quoted, pl.lit("'")))
        .when(~head.str.contains(r"[^\x00-\x7f]"))
        .then(pl.concat_str(pl.lit("'"), word, pl.lit("'")))
        .alias("opening"),
        "leading",
        "blank",
        "task",
        "user",
    )


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines, records = offset
    # b's style ids renumbered into a's table before its rows follow a's.
    remap = np.array([_style_id(a, style) for style in b["styles"]], dtype=np.int64)
    ids = b["rows"].column("style")
    ids[:] = remap[ids] if len(ids) else ids
    a["rows"].absorb(b["rows"], {"line": lines, "index": records})
    return a


def _minorities(members: list[int], styles: list[tuple[str, ...]], features, opts: Options,
                scope: str):  # fmt: skip
    """(row, feature, its value, the dominant value, its count, rows judged, scope) of each
    minority among `members` (rows, in file order); `styles[row]` is a row's style."""
    for feature in features:
        slot = SLOT[feature]
        known = [r for r in members if styles[r][slot] != UNKNOWN]
        if len(known) < opts.min_group:
            continue
        members = known  # later features are judged on the rows known for this one too
        counts = Counter(styles[r][slot] for r in members)
        value, top = counts.most_common(1)[0]
        if len(counts) < 2 or top / len(members) < opts.majority:
            continue
        if feature == "length":  # only lengths far from the usual band count
            usual = int(value.split()[1])
            odd = [
                r for r in members if not usual / 4 <= int(styles[r][slot].split()[1]) <= usual * 4
            ]
        else:
            odd = [r for r in members if styles[r][slot] != value]
        for r in odd:
            yield r, feature, styles[r][slot], value, top, len(members), scope


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    rows = state["rows"]
    table = list(state["styles"])  # style tuples by id
    styles = [table[i] for i in rows.column("style").tolist()]
    lines, indexes = rows.column("line"), rows.column("index")
    tasks = rows.column("task")
    # Rows grouped by task, each group in file order (a stable sort); rows without a task
    # (key 0) belong to none.
    order = np.argsort(tasks, kind="stable")
    ordered = tasks[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])[: len(order)]
    ends = np.r_[starts[1:], len(order)][: len(starts)]
    big = [(a, b) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
           if b - a >= opts.min_group and ordered[a] != 0]  # fmt: skip
    found = []
    task_features = [f for f in FEATURES if f not in DATASET_FEATURES]
    for a, b in big:
        found.extend(_minorities(order[a:b].tolist(), styles, task_features, opts, "this task"))
    if len(styles) >= opts.min_group:
        found.extend(_minorities(range(len(styles)), styles, DATASET_FEATURES, opts, "this file"))
    found = sorted((int(lines[r]), int(indexes[r]), *rest) for r, *rest in found)
    for line, index, feature, mine, usual, top, total, scope in found:
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
        checked = len(big)
        yield Hit(
            None,
            f"answer styles: {checked} task groups of {opts.min_group}+ records checked; "
            f"minority styles by feature: {summary}",
            "see the record-level findings of this rule for each minority answer",
            Where(ctx.path),
        )
