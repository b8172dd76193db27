"""A field holds the wrong JSON type (a number where text belongs, an object for a list...).

Why it hurts training:
    `datasets`/Arrow infer one type per column: a single number among strings makes the load
    fail, or casts every answer. Trainers that concatenate text raise on a number or a dict.

Bad:
    {"instruction": "What is 6*7?", "output": 42}
    {"conversations": {"from": "human", "value": "Hi"}}

Good:
    {"instruction": "What is 6*7?", "output": "42"}
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}

Options:
    None.

Fix:
    Store text as JSON strings and message lists as arrays of objects; convert when exporting.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA06"
NAME = "wrong-type"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "store the value with the type its format expects (text as a JSON string)"


@dataclass(frozen=True)
class Options:
    pass
