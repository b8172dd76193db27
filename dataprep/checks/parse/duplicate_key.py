"""A record that names the same top-level key twice.

Why it hurts training:
    JSON parsers keep only the last value, without a warning: a record with two `output` keys
    trains on whichever came last, and the other answer is lost. It usually comes from merging
    two exports or hand-editing.

Bad:
    {"instruction": "Capital of France?", "output": "Paris", "output": "Lyon"}

Good:
    {"instruction": "Capital of France?", "output": "Paris"}

Options:
    None.

Fix:
    Keep one value for the key (merge or delete the others).
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA09"
NAME = "duplicate-key"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "keep one value for the key"


@dataclass(frozen=True)
class Options:
    pass
