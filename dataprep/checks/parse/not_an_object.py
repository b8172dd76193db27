"""A record that is valid JSON but not an object (an array, a string, a number or null).

Why it hurts training:
    Every trainer reads records as objects with named fields. A bare string or a nested array
    has no instruction and no answer, and loaders either crash or build a broken column.

Bad:
    ["What is 2+2?", "4"]

Good:
    {"instruction": "What is 2+2?", "output": "4"}

Options:
    None.

Fix:
    Wrap each record in an object with the fields of its format (alpaca, sharegpt, messages).
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA03"
NAME = "not-an-object"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "make each record a JSON object with the fields of its format"


@dataclass(frozen=True)
class Options:
    pass
