r"""The chat template leaves out reasoning the data holds, so what is trained is not what was written.

Why it hurts training:
    Reasoning reaches the template two ways: inline, as a `<think>...</think>` block in an
    answer, or beside the answer, as a message's `reasoning_content` (LLaMA-Factory v1 turns its
    `reasoning` parts into that field). Reasoning templates (Qwen3, DeepSeek-R1) keep the
    reasoning of the last answer only and strip it from earlier ones, so in a multi-turn record
    every earlier thought is silently not trained; templates made before reasoning models
    (Qwen2.5, Llama 3) ignore `reasoning_content` altogether, so a dataset of thoughts trains
    answers only. Checked with `--tokenizer`: the records with reasoning are rendered with the
    model's template and each thought is looked for in the rendering (not with the bundled
    stand-in tokenizer, which says nothing of the model to be trained).

Bad:
    lint reasoning.jsonl --tokenizer MODEL_WHOSE_TEMPLATE_IGNORES_REASONING_CONTENT

Good:
    lint reasoning.jsonl --tokenizer A_REASONING_MODEL_WITH_A_TEMPLATE_THAT_RENDERS_IT

Options:
    None. The first 50 records with reasoning are rendered.

Fix:
    For multi-turn reasoning, split each record into one record per answer (each with its
    history) so that every thought is the last one once; for an ignored `reasoning_content`,
    train with the model's reasoning template, or write the reasoning inline as a think block
    if the model should learn to show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.reasoning import THINK_BLOCK
from dataprep.checks.tokens import new_state  # noqa: F401  (active when lengths are measured)
from dataprep.findings import Hit, Where
from dataprep.lengths import conversation
from dataprep.sample import Sample, answers

CODE = "RS03"
NAME = "reasoning-dropped"
FORMATS = ("*",)
KINDS = ("*",)
EXAMPLES = "described"  # needs a tokenizer; tests/checks/cases/RS03.yaml runs real ones
KEEP = 50  # records with reasoning rendered: a template drops reasoning in all or in none


@dataclass(frozen=True)
class Options:
    pass


def _thoughts(message: dict) -> list[tuple[str, str]]:
    """(how it is written, text) of each non-empty thought of an assistant message."""
    found = []
    separate = (message.get("reasoning_content") or "").strip()
    if separate:
        found.append(("reasoning_content", separate))
    for block in THINK_BLOCK.finditer(message["content"]):
        if block.group(1).strip():
            found.append(("inline", block.group(1).strip()))
    return found


def _reasons(sample: Sample) -> bool:
    return any(t.reasoning or (t.content and "<think>" in t.content) for t in answers(sample))


def observe(state: dict, record, sample) -> None:
    if sample is None or not _reasons(sample):
        return
    state["records"] = state.get("records", 0) + 1
    kept = state.setdefault("kept", [])
    if len(kept) < KEEP:
        messages, tools = conversation(sample)
        kept.append((sample.line, messages, tools))


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    a["records"] = a.get("records", 0) + b.get("records", 0)
    kept = a.setdefault("kept", [])
    for line, messages, tools in b.get("kept", []):
        if len(kept) < KEEP:
            kept.append((line + offset[0], messages, tools))
    return a


def _dropped(render, messages: list[dict], tools) -> list[tuple[bool, str]] | None:
    """(in an earlier answer, how it was written) of each thought the rendering lacks, or None
    when the template refused the record."""
    try:
        whole = render(messages, tools=tools)
    except Exception:
        return None
    mine = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    return [
        (i != mine[-1], how)
        for i in mine
        for how, thought in _thoughts(messages[i])
        if thought not in whole
    ]


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    meter = ctx.meter
    # The bundled tokenizer stands in for a model nobody named: its template says nothing of
    # how the model to be trained renders reasoning.
    if meter is None or meter.tokenizer.estimate or not state.get("kept"):
        return
    render = meter.template.render
    rendered = []
    for line, messages, tools in state["kept"]:
        found = _dropped(render, messages, tools)
        if found is not None:
            rendered.append((line, found))
    checked = len(rendered)
    # A way of writing reasoning the template leaves out even in the last answer is one it
    # ignores: its loss in earlier answers is that finding's, not a multi-turn one.
    ignored = {how for _, found in rendered for earlier, how in found if not earlier}
    lost: dict[str, list[int]] = {}  # "earlier", "reasoning_content" or "inline" -> lines
    for line, found in rendered:
        kinds = {how if how in ignored or not earlier else "earlier" for earlier, how in found}
        for kind in sorted(kinds):
            lost.setdefault(kind, []).append(line)
    of = f"of {checked:,} rendered records with reasoning ({state['records']:,} in the file)"
    if "earlier" in lost:
        lines = lost["earlier"]
        yield Hit(
            None,
            f"the template drops the reasoning of earlier answers in {len(lines):,} {of}, "
            f"first at line {lines[0]}: those thoughts are in the data but never trained",
            "split multi-turn records into one record per answer (each with its history), so "
            "that every thought is the last answer's once",
            Where(ctx.path, lines[0]),
        )
    for how, what in (("reasoning_content", "reasoning_content"), ("inline", "think blocks")):
        if how in lost:
            lines = lost[how]
            yield Hit(
                None,
                f"the template leaves out {what}, even the last answer's, in {len(lines):,} "
                f"{of}, first at line {lines[0]}: the model is trained on answers without "
                "their reasoning",
                "train with the model's reasoning template (one that renders it), or write the "
                "reasoning inline as <think>...</think> if the model should learn to show it",
                Where(ctx.path, lines[0]),
            )
