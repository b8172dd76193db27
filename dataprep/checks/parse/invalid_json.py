"""A line (or array element) that is not valid JSON.

Why it hurts training:
    `datasets.load_dataset("json")`, pandas and pyarrow reject the whole file for one broken
    line, so a run fails at start-up, or a hand-written loader skips the line without a word.
    Typical causes: a record cut short by a crashed writer, a pretty-printed object split over
    several lines, `NaN`/`Infinity` written by pandas, a stray comma.

Bad:
    {"instruction": "Name a prime number.", "output": "7"
    {"instruction": "Rate this.", "output": "ok", "score": NaN}

Good:
    {"instruction": "Name a prime number.", "output": "7"}
    {"instruction": "Rate this.", "output": "ok", "score": null}

Options:
    None.

Fix:
    Make each line one complete JSON object. Write JSONL with a JSON library
    (`json.dumps(record, ensure_ascii=False)` per line), never by string concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA01"
NAME = "invalid-json"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "make the line one valid JSON object"


@dataclass(frozen=True)
class Options:
    pass
