"""A record whose fields match no known format.

Why it hurts training:
    The trainer would not know which field is the prompt and which the answer: LLaMA-Factory
    reads its default columns (instruction/input/output) and trains on empty text, or fails on
    a missing key. Often a renamed field (`question`/`answer`, `prompt`/`response`).

Bad:
    {"question": "What is 2+2?", "answer": "4"}

Good:
    {"instruction": "What is 2+2?", "output": "4"}

Options:
    None.

Fix:
    Rename the fields to a supported format (alpaca, sharegpt, OpenAI messages, TRL
    prompt/chosen/rejected), or map them with a dataset_info.json `columns` block and lint with
    `--dataset-info`.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA04"
NAME = "unknown-format"
FORMATS = ("*",)
KINDS = ("*",)
FIX = (
    "rename the fields to alpaca, sharegpt, messages or TRL names, or map them with "
    "--dataset-info and a columns block"
)


@dataclass(frozen=True)
class Options:
    pass
