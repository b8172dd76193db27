"""A dataset_info.json entry that makes LLaMA-Factory ignore data the records carry.

Why it hurts training:
    When an entry has a `columns` block, LLaMA-Factory sets *every* column from it, and an
    omitted one becomes None instead of its default: `"columns": {"prompt": "instruction",
    "response": "output"}` silently drops every `input`. The same holds for `tags` (omit
    `role_tag` and no message can be read), for a `system`, `tools` or `images` field that no
    column maps, and for preference pairs without `ranking: true`. Training runs, on less data
    than you think.

Bad:
    dataset_info.json: {"my_data": {"file_name": "data.jsonl", "columns": {"prompt": "instruction", "response": "output"}}}
    data.jsonl:        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}

Good:
    dataset_info.json: {"my_data": {"file_name": "data.jsonl", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}}

Options:
    None.

Fix:
    Name every field the records carry in `columns` (and every tag in `tags`), or drop the
    block to use the defaults.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where

CODE = "LF01"
NAME = "column-reset"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "name the field in the entry's columns (or tags) block"

# (LLaMA-Factory column, the record key its default or convention reads)
_ALPACA = (("prompt", "instruction"), ("query", "input"), ("response", "output"))
_COMMON = (
    ("history", "history"),
    ("system", "system"),
    ("tools", "tools"),
    ("images", "images"),
    ("images", "image"),
    ("videos", "videos"),
    ("audios", "audios"),
)


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> dict | None:
    if ctx.entry is None:
        return None
    return {"nonempty": Counter(), "records": 0}


def observe(state: dict, record, sample) -> None:
    value = record.value
    if type(value) is dict:
        state["records"] += 1
        state["nonempty"].update(k for k, v in value.items() if v not in (None, "", [], {}))


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    a["nonempty"].update(b["nonempty"])
    a["records"] += b["records"]
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    entry = ctx.entry
    spec = entry.spec
    seen = state["nonempty"]
    where = Where(entry.info_path, entry.line)
    pairs = list(_COMMON)
    if spec.formatting == "alpaca":
        pairs = [*_ALPACA, *pairs]
    if spec.formatting != "alpaca":
        pairs = [p for p in pairs if p[0] != "history"]  # sharegpt keeps history in the turns
    for column, key in pairs:
        if column == "response" and spec.ranking:
            continue
        if getattr(spec, column, None) is None and seen[key]:
            how = "the columns block omits" if entry.columns_given else "no column maps"
            yield Hit(
                f"{entry.name}.columns.{column}",
                f"{how} {column}, so LLaMA-Factory never reads {key!r}: {seen[key]} of "
                f"{state['records']} records have one, and training drops it",
                f'add "{column}": "{key}" to the columns block of {entry.name!r}',
                where,
            )
    if not spec.ranking and (seen["chosen"] or seen["chosen_messages"]):
        yield Hit(
            f"{entry.name}.ranking",
            f"{seen['chosen'] or seen['chosen_messages']} records carry chosen/rejected answers, "
            "but ranking is not true: LLaMA-Factory reads them as SFT data",
            f'add "ranking": true to {entry.name!r} (and chosen/rejected columns)',
            where,
        )
