r"""Rendering the start of a conversation does not give the start of the full rendering.

Why it hurts training:
    Trainers that mask labels turn by turn (LLaMA-Factory encodes each prompt/answer pair;
    TRL renders prefixes) assume that the conversation up to turn k renders the same inside the
    whole conversation. Templates that rewrite earlier turns (removing the `<think>` reasoning
    of past answers, moving the system prompt, numbering turns) break that: masks shift and the
    model is trained on prompt tokens or not on its answers. Checked on the data's multi-turn
    records, or on a probe conversation with reasoning when the data has none.

Bad:
    lint chats.jsonl --tokenizer MODEL_WHOSE_TEMPLATE_STRIPS_PAST_REASONING

Good:
    lint chats.jsonl --tokenizer Qwen/Qwen2.5-7B-Instruct

Options:
    None.

Fix:
    Mask labels from one rendering of the whole conversation (as `dataprep build` does), or
    use a template whose rendering is prefix-stable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tokens import new_state  # noqa: F401  (active when lengths are measured)
from dataprep.findings import Hit, Where
from dataprep.lengths import conversation

CODE = "TK03"
NAME = "template-not-prefix-stable"
FORMATS = ("*",)
KINDS = ("*",)
EXAMPLES = "described"  # needs a tokenizer; tests/checks/cases/TK03.yaml runs real ones
PROBE = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "<think>2 and 2 make 4.</think>\n\n4."},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "<think>3 and 3 make 6.</think>\n\n6."},
]


@dataclass(frozen=True)
class Options:
    pass


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    meter = ctx.meter
    if meter is None:
        return
    cases = []
    for line, sample in meter.examples:
        messages, tools = conversation(sample)
        if sum(m["role"] == "assistant" for m in messages) >= 2:
            cases.append((f"line {line}", messages, tools))
    if not cases:
        cases.append(("a probe conversation with reasoning", PROBE, None))
    render, encode = meter.template.render, meter.tokenizer.backend.encode
    for where, messages, tools in cases[:20]:
        try:
            whole = render(messages, tools=tools)
        except Exception:
            continue
        ids = encode(whole, add_special_tokens=False).ids
        for k, message in enumerate(messages):
            if message["role"] != "assistant" or k == len(messages) - 1:
                continue
            prefix = render(messages[: k + 1], tools=tools)
            if whole.startswith(prefix):
                part = encode(prefix, add_special_tokens=False).ids
                if ids[: len(part)] == part:
                    continue
                how = "its tokens differ at the boundary"
            else:
                at = next(i for i, (a, b) in enumerate(zip(prefix, whole, strict=False)) if a != b)
                how = f"they differ at character {at}: {prefix[at : at + 30]!r} vs {whole[at : at + 30]!r}"
            yield Hit(
                None,
                f"{where}: the rendering up to answer {k // 2 + 1} is not the start of the whole "
                f"conversation's rendering ({how}); per-turn label masks would be wrong",
                "mask labels from one rendering of the whole conversation, or use a "
                "prefix-stable template",
                Where(ctx.path),
            )
            return
