"""A field the record's format requires is absent.

Why it hurts training:
    An alpaca record without `output`, a message without `value`/`content`, a preference pair
    without `rejected`: the trainer either raises a KeyError mid-run or silently trains on an
    empty string.

Bad:
    {"instruction": "Name a prime number."}
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt"}]}

Good:
    {"instruction": "Name a prime number.", "output": "7"}
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}

Options:
    None.

Fix:
    Add the field, or drop the record if its content is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA05"
NAME = "missing-field"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "add the missing field, or drop the record"


@dataclass(frozen=True)
class Options:
    pass
