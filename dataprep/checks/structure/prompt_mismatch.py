r"""A preference pair whose prompt or answers are not where a DPO trainer expects them.

Why it hurts training:
    DPO compares two answers to the *same* prompt. The prompt must end on a user turn, and
    chosen and rejected must both be assistant turns; when they are whole conversations, they
    must share every turn but the last. Otherwise LLaMA-Factory drops the pair, or the model is
    rewarded for differences in the prompt instead of the answer.

Bad:
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}], "chosen": {"from": "gpt", "value": "How can I help?"}, "rejected": {"from": "gpt", "value": "What?"}}
    {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hey\n\nAssistant: Go away."}

Good:
    {"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "Hello! How can I help?"}, "rejected": {"from": "gpt", "value": "What?"}}

Options:
    None.

Fix:
    End the prompt on the user's question, make chosen and rejected assistant answers to it,
    and give both sides the same earlier turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.formats import IMPLICIT_PROMPT
from dataprep.sample import ANSWER_ROLES, PROMPT_ROLES, SYSTEM, Sample, article

CODE = "ST05"
NAME = "prompt-mismatch"
FORMATS = ("*",)
KINDS = ("dpo",)
FIX = "give chosen and rejected the same prompt turns; only the final answer may differ"


@dataclass(frozen=True)
class Options:
    pass


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    prompt = [t for t in sample.messages if t.role != SYSTEM]
    implicit = sample.messages_field == IMPLICIT_PROMPT  # checked while splitting the pair
    if prompt and not implicit and prompt[-1].known and prompt[-1].role not in PROMPT_ROLES:
        yield Hit(
            prompt[-1].field,
            f"the prompt ends on {article(prompt[-1].role)} turn; a preference prompt ends on "
            "the user",
            "end the prompt on the user's question and move the answer into chosen/rejected",
        )
    for side, answer in (("chosen", sample.chosen), ("rejected", sample.rejected)):
        if answer and answer[0].known and answer[0].role not in ANSWER_ROLES:
            yield Hit(
                answer[0].field,
                f"{side} is {article(answer[0].role)} turn, not an assistant answer",
                f"make {side} an assistant turn (from: gpt / role: assistant)",
            )
