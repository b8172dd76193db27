r"""Answers whose labels do not end with the model's end-of-turn (EOS) token.

Why it hurts training:
    A model learns to stop by being trained on the token that ends its answer. When the
    template puts nothing after the answer, or the token it puts there is not the tokenizer's
    `eos_token` (ChatML's `<|im_end|>` with a tokenizer whose EOS is `</s>`), generation runs
    on past the answer: the classic "the model babbles and repeats itself" symptom.

Bad:
    lint data.jsonl --tokenizer BASE_MODEL_WITHOUT_EOS_TOKEN --template chatml

Good:
    lint data.jsonl --tokenizer Qwen/Qwen2.5-7B-Instruct

Options:
    None.

Fix:
    Use a template that ends answers with the EOS token, set the tokenizer's eos_token to the
    template's end-of-turn token (and the model's generation_config eos_token_id), or add the
    end-of-turn token to the stop tokens at inference.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tokens import new_state  # noqa: F401  (active when lengths are measured)
from dataprep.findings import Hit, Where

CODE = "TK04"
NAME = "missing-eos"
FORMATS = ("*",)
KINDS = ("sft", "dpo", "kto")
EXAMPLES = "described"  # needs a tokenizer; tests/checks/cases/TK04.yaml runs real ones


@dataclass(frozen=True)
class Options:
    pass


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    lengths, setup = ctx.lengths, ctx.setup
    if lengths is None or not lengths.answers:
        return
    eos = setup.tokenizer.eos
    bare = lengths.stops[""]
    template = setup.template.name
    if bare:
        yield Hit(
            None,
            f"{bare:,} of {lengths.answers:,} answers end with no end-of-turn token in the "
            f"rendered text (template {template}, eos_token {eos!r}): the model never learns to stop",
            "use a template that ends answers with the EOS token",
            Where(ctx.path),
        )
    ends = [s for s in lengths.stops if s]
    if eos is None and ends:
        yield Hit(
            None,
            f"the tokenizer has no eos_token; answers end with {ends[0]!r}: generation stops "
            "only if that token is configured as a stop token",
            f"set eos_token to {ends[0]!r} in tokenizer_config.json and generation_config.json",
            Where(ctx.path),
        )
    elif eos is not None and ends and eos not in ends:
        yield Hit(
            None,
            f"answers end with {ends[0]!r} but the tokenizer's eos_token is {eos!r}: "
            "generation will not stop at the end of an answer unless that token is a stop token",
            f"set eos_token to {ends[0]!r} (tokenizer and generation_config), or use a template "
            f"that ends answers with {eos!r}",
            Where(ctx.path),
        )
