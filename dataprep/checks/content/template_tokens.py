r"""Another model's chat-template or special tokens inside the text (`<|im_start|>`, `[INST]`, `<s>`).

Why it hurts training:
    The data was already rendered with a chat template once; training renders it again, so
    the model sees two templates nested and learns to print `<|im_end|>` or `[/INST]` as text,
    or to stop in the middle of an answer. It also means the turns inside were never split.

Bad:
    {"instruction": "Say hi.", "input": "", "output": "Hello!<|im_end|>\n<|im_start|>user"}
    {"conversations": [{"from": "human", "value": "[INST] Hi [/INST]"}, {"from": "gpt", "value": "Hello</s>"}]}

Good:
    {"instruction": "Say hi.", "input": "", "output": "Hello!"}

Options:
    tokens: the marker strings to look for.
    ignore_in_code: skip markers inside code blocks (a question about chat templates).

Fix:
    Split the text into real turns and remove the markers (`dataprep clean` removes them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from dataprep.findings import Hit
from dataprep.sample import TEXT_ROLES, Sample
from dataprep.text import snippet, without_code

CODE = "CT06"
NAME = "template-tokens"
FORMATS = ("*",)
KINDS = ("*",)


@dataclass(frozen=True)
class Options:
    tokens: tuple[str, ...] = (
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>",
        "<|end_header_id|>", "<|begin_of_text|>", "<|end_of_text|>", "<|user|>", "<|assistant|>",
        "<|system|>", "<|end|>", "<|eos|>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<s>",
        "</s>", "<start_of_turn>", "<end_of_turn>", "<|begin▁of▁sentence|>",
        "<|end▁of▁sentence|>", "<｜Assistant｜>", "<｜User｜>", "<|observation|>", "[gMASK]",
        "<sop>", "<eop>", "<bos>", "<eos>",
    )  # fmt: skip
    ignore_in_code: bool = True


@cache
def pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def prefilter(opts: Options):
    """Texts holding one of the tokens (outside code when code is ignored: a token without
    whitespace cannot span the space a code span becomes)."""
    from dataprep import columns as col

    texts = (col.in_turns & col.text_role) | ~col.in_turns
    tokens = list(opts.tokens)
    if not opts.ignore_in_code:
        return texts & col.text.str.contains_any(tokens)
    if any(not t.strip() or any(c.isspace() for c in t) for t in tokens):
        return texts & (col.text.str.contains_any(tokens) | col.has_code)
    return texts & col.prose.str.contains_any(tokens)


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    found = pattern(opts.tokens)
    turns = sample.messages + sample.chosen + sample.rejected
    texts = [(t.field, t.content) for t in turns if t.role in TEXT_ROLES]
    if sample.system:
        texts.append(("system", sample.system))
    for field, text in texts:
        # Every marker contains one of these characters: a cheap test first.
        if not text or ("<" not in text and "[" not in text and "｜" not in text):
            continue
        match = found.search(without_code(text) if opts.ignore_in_code else text)
        if match is not None:
            yield Hit(
                field,
                f"template token {match.group(0)!r}: {snippet(text, match.start(), match.end())}",
                "split the text into real turns and remove the template markers",
            )
