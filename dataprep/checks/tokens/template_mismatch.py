r"""The chat template does not fit the data or the model (needs lengths: `--tokenizer`).

Why it hurts training:
    The template is the format the model will be prompted in for the rest of its life. A
    tokenizer without a chat template and no `--template` leaves the choice to the trainer's
    default; data that already carries another family's markup (`[INST]`, `### Instruction:`
    inside records trained with ChatML) teaches the model two formats at once; a template that
    drops the system prompt the data carries trains without it, and the model ignores system
    prompts later. The troubleshooting checklist's last suspect for a babbling model.

Bad:
    lint data.jsonl --tokenizer BASE_MODEL_WITHOUT_CHAT_TEMPLATE
    lint llama2_formatted.jsonl --tokenizer Qwen/Qwen2.5-7B-Instruct

Good:
    lint data.jsonl --tokenizer BASE_MODEL --template chatml
    lint plain_messages.jsonl --tokenizer Qwen/Qwen2.5-7B-Instruct

Options:
    None.

Fix:
    Name the template the trainer will use (`--template`, and the same in its config); strip
    pre-applied markup from the records; use a template that keeps system prompts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.tokens import new_state  # noqa: F401  (active when lengths are measured)
from dataprep.findings import Hit, Where
from dataprep.lengths import conversation
from dataprep.templates import family

CODE = "TK02"
NAME = "template-mismatch"
FORMATS = ("*",)
KINDS = ("*",)
EXAMPLES = "described"  # needs a tokenizer; tests/checks/cases/TK02.yaml runs real ones


@dataclass(frozen=True)
class Options:
    pass


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    setup, lengths, meter = ctx.setup, ctx.lengths, ctx.meter
    if lengths is None:
        return
    if setup.template_missing:
        yield Hit(
            None,
            f"{setup.tokenizer.name} has no chat_template and no --template was named: lengths "
            f"use the {setup.template.name!r} template, training whatever its trainer defaults to",
            "name the template training will use (--template chatml|llama3|alpaca|default, and "
            "the same in the trainer's config)",
            Where(ctx.path),
        )
    own = family(setup.template.source)
    for name, count in lengths.markup.most_common():
        if name != own:
            yield Hit(
                None,
                f"{count:,} records already contain {name} template markup (first on line "
                f"{lengths.markup_first[name]}), but the template is "
                f"{setup.template.name} ({own or 'its own format'})",
                "strip the pre-applied markup and keep plain role/content messages",
                Where(ctx.path),
            )
    for line, sample in meter.examples:
        if not sample.system:
            continue
        messages, tools = conversation(sample)
        try:
            text = setup.template.render(messages, tools=tools)
        except Exception:
            break
        if sample.system.strip() not in text:
            yield Hit(
                "system",
                f"the template drops the system prompt the data carries (line {line}: "
                f"{sample.system[:40]!r} is not in the rendered text)",
                "use a template that renders system prompts, or merge them into the first "
                "user turn on purpose",
                Where(ctx.path),
            )
        break
