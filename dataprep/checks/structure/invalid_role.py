"""A message role the trainer does not map (a typo, a scraper's label, an unmapped tag).

Why it hurts training:
    LLaMA-Factory maps roles through its tags (human/gpt/system/function_call/observation by
    default, or the `tags` of dataset_info.json) and drops the whole record on an unknown one;
    other trainers raise. `chatgpt`, `bing`, `bot`, `Human` or a `system` turn whose tag the
    `tags` block never declared are the usual culprits.

Bad:
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "chatgpt", "value": "Hello!"}]}

Good:
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}

Options:
    None.

Fix:
    Rename the role to one the format knows, or declare it in dataset_info.json `tags`
    (e.g. `"system_tag": "system"`).
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "ST02"
NAME = "invalid-role"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "rename the role to one the format knows, or map it in dataset_info.json tags"


@dataclass(frozen=True)
class Options:
    pass
