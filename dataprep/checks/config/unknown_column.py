"""A dataset_info.json key LLaMA-Factory does not know, or a column naming a field no record has.

Why it hurts training:
    LLaMA-Factory ignores keys it does not know without a word: a typo such as `"colums"`,
    `"querry"` or `"role"` (for `role_tag`) leaves the default in place, and a column that names
    a field absent from the data reads nothing. Either way training silently uses other data
    than the config says.

Bad:
    dataset_info.json: {"my_data": {"file_name": "data.jsonl", "columns": {"prompt": "question", "respone": "answer"}}}

Good:
    dataset_info.json: {"my_data": {"file_name": "data.jsonl", "columns": {"prompt": "question", "response": "answer"}}}

Options:
    None.

Fix:
    Correct the key (the message suggests the closest known one), or make the column name a
    field the records have.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where

CODE = "LF02"
NAME = "unknown-column"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "correct the key to one LLaMA-Factory knows"


@dataclass(frozen=True)
class Options:
    pass


def new_state(ctx) -> Counter | None:
    if ctx.entry is None or not ctx.entry.columns_given:
        return None
    return Counter()


def observe(state: Counter, record, sample) -> None:
    if type(record.value) is dict:
        state.update(record.value.keys())


def merge(a: Counter, b: Counter, offset: tuple[int, int]) -> Counter:
    a.update(b)
    return a


def finish(state: Counter, opts: Options, ctx) -> Iterator[Hit]:
    entry = ctx.entry
    if not state:
        return
    for column, key in entry.columns_block.items():
        if not state[key]:
            close = [k for k in state if k.lower() == key.lower()]
            hint = f"the records have {close[0]!r}" if close else "the records have no such field"
            yield Hit(
                f"{entry.name}.columns.{column}",
                f"columns.{column} names {key!r}, but no record has that field",
                f"{hint}: set columns.{column} to the field that holds the data",
                Where(entry.info_path, entry.line),
            )
