"""Chat templates: the tokenizer's own (Jinja, from its config) or a named fallback.

Templates from a model are untrusted code, so they run in Jinja's immutable sandbox with the
same settings and helpers transformers gives them (trim_blocks, lstrip_blocks, loop controls,
a `tojson` that keeps non-ASCII, `raise_exception`, `strftime_now`, and the special tokens as
variables), so that the text rendered here is the text `apply_chat_template` renders.
Named fallbacks, for base models without a template, follow LLaMA-Factory's templates of the
same name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import ClassVar

from dataprep.errors import DataprepError

NAMED = {
    "chatml": (
        "{%- for message in messages -%}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
    ),
    "llama3": (
        "{{- bos_token or '' -}}"
        "{%- for message in messages -%}"
        "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' -}}"
        "{{- message['content'] | trim -}}{{- '<|eot_id|>' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}"
        "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"
    ),
    "alpaca": (
        "{%- if messages[0]['role'] == 'system' -%}{{- messages[0]['content'] + '\\n\\n' -}}"
        "{%- else -%}{{- 'Below is an instruction that describes a task. Write a response that "
        "appropriately completes the request.\\n\\n' -}}{%- endif -%}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'user' -%}"
        "{{- '### Instruction:\\n' + message['content'] + '\\n\\n### Response:\\n' -}}"
        "{%- elif message['role'] == 'assistant' -%}"
        "{{- message['content'] + (eos_token or '') + '\\n\\n' -}}"
        "{%- elif message['role'] != 'system' -%}{{- message['content'] + '\\n\\n' -}}"
        "{%- endif -%}"
        "{%- endfor -%}"
    ),
    "default": (
        "{%- if messages[0]['role'] == 'system' -%}"
        "{{- 'System: ' + messages[0]['content'] + '\\n' -}}{%- endif -%}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'user' -%}"
        "{{- 'Human: ' + message['content'] + '\\nAssistant:' -}}"
        "{%- elif message['role'] == 'assistant' -%}"
        "{{- message['content'] + (eos_token or '') + '\\n' -}}"
        "{%- elif message['role'] != 'system' -%}{{- message['content'] + '\\n' -}}"
        "{%- endif -%}"
        "{%- endfor -%}"
    ),
}
# Markup that identifies a template family in text: the data may already carry one.
FAMILY_MARKERS = {
    "chatml": ("<|im_start|>", "<|im_end|>"),
    "llama3": ("<|start_header_id|>", "<|eot_id|>"),
    "llama2": ("[INST]", "[/INST]", "<<SYS>>"),
    "gemma": ("<start_of_turn>", "<end_of_turn>"),
    "phi3": ("<|user|>", "<|assistant|>", "<|end|>"),
    "alpaca": ("### Instruction:", "### Response:"),
    "vicuna": ("USER:", "ASSISTANT:"),
}


@dataclass(frozen=True)
class Template:
    name: str  # "auto (the tokenizer's own)", "chatml", ...
    source: str
    render: Callable[..., str]


def family(source: str) -> str | None:
    """Which family's markup a template writes (by its literal markers), if any."""
    for name, markers in FAMILY_MARKERS.items():
        if any(marker in source for marker in markers[:2]):
            return name
    return None


def resolve(
    name: str, chat_template: str | None, special: dict[str, str], check: bool = True
) -> Template | None:
    """The template `--template NAME` means for this tokenizer; None when `auto` finds none.
    With `check`, a template that does not compile fails here rather than at first use."""
    if name == "auto":
        if not chat_template:
            return None
        render = _renderer(chat_template, special, check)
        return Template("auto (the tokenizer's own)", chat_template, render)
    if name not in NAMED:
        raise DataprepError(
            f"unknown --template {name!r}",
            fix=f"use auto (the tokenizer's chat_template) or one of: {', '.join(NAMED)}",
        )
    return Template(name, NAMED[name], _renderer(NAMED[name], special, check))


def compile_check(template: Template) -> None:
    """Fail now, with a clear message, if the template does not compile."""
    _compile(template.source)


def _renderer(source: str, special: dict[str, str], check: bool = True) -> Callable[..., str]:
    if check:
        _compile(source)  # a template that does not compile fails here, not mid-run
    names = ("bos_token", "eos_token", "pad_token", "unk_token")
    return _Render(source, tuple((key, special.get(key)) for key in names))


@dataclass(frozen=True)
class _Render:
    """A template's render function (a class, not a closure: it pickles, to a Ray worker)."""

    source: str
    tokens: tuple[tuple[str, str | None], ...]  # bos_token, eos_token, ... (hashable)

    def __call__(self, messages: list[dict], tools: list | None = None, **kwargs) -> str:
        tokens = dict(self.tokens)
        return _compile(self.source).render(messages=messages, tools=tools, **tokens, **kwargs)


@cache
def _compile(source: str):
    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """`{% generation %}...{% endgeneration %}` (assistant masks in transformers): the
        body renders as it is; labels are found from the text here."""

        tags: ClassVar[set[str]] = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(
                lineno
            )

        def _body(self, caller):
            return caller()

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
            sort_keys=sort_keys,
        )  # fmt: skip

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise DataprepError(
            f"the chat template does not compile: {exc.message} (line {exc.lineno})",
            fix="fix the tokenizer's chat_template, or pass --template NAME",
        ) from None
