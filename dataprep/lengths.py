"""Token lengths of exactly what training sees, and the cutoff_len they call for.

Each record is rendered once with the chat template (system, tools, every turn; for a
preference pair, prompt + chosen and prompt + rejected), the rendered texts are encoded in
batches by the Rust tokenizer on all cores, and the answer (label) tokens are found from
character offsets: where each assistant message's text (and the end-of-turn token after it)
sits in the rendered text, so no turn is encoded twice. `<image>` placeholders count as the
model's image-token count.

Per record this keeps the full length, the label length and the (prompt, answer) token counts
of each turn, which is what LLaMA-Factory's truncation works on; `Lengths` turns them into
percentiles, a recommended cutoff_len, and what each truncation policy would lose.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from dataprep.sample import ASSISTANT, FUNCTION_CALL, OBSERVATION, SYSTEM, USER, Sample, Turn
from dataprep.templates import FAMILY_MARKERS, Template
from dataprep.tokenizer import ModelTokenizer

IMAGE = "<image>"
# End-of-turn markers that belong to the answer when they follow it (trained, as LLaMA-Factory
# trains the template's end-of-turn token): the model learns to stop with them.
STOPS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>", "<|endoftext|>")
PERCENTILES = (50, 90, 95, 99)
EXAMPLES = 64  # samples a meter keeps for the template checks (the first of the file)
ROLES = {USER: "user", ASSISTANT: "assistant", FUNCTION_CALL: "assistant", OBSERVATION: "tool"}


def stop_tokens(tokenizer: ModelTokenizer) -> tuple[str, ...]:
    """The end-of-turn markers an answer may end with: the tokenizer's EOS first."""
    return tuple(dict.fromkeys(s for s in (tokenizer.eos, *STOPS) if s))


def conversation(sample: Sample) -> tuple[list[dict], list | None]:
    """The messages (and tools) a chat template is given for a sample's prompt turns."""
    messages: list[dict] = []
    if sample.system:
        messages.append({"role": "system", "content": sample.system})
    for turn in sample.messages:
        if turn.role == SYSTEM or not turn.known:
            continue
        messages.append(_message(turn, ROLES.get(turn.role, turn.role)))
    tools = None
    if sample.tools:
        import orjson

        try:
            parsed = orjson.loads(sample.tools)
            tools = parsed if isinstance(parsed, list) else [parsed]
        except orjson.JSONDecodeError:
            tools = None
    return messages, tools


def _message(turn: Turn, role: str) -> dict:
    """A turn as a chat template's message: its separate reasoning as `reasoning_content`, the
    key reasoning templates (Qwen3, DeepSeek-R1) render as a think block and LLaMA-Factory v1
    fills from `reasoning` parts."""
    message = {"role": role, "content": turn.content or ""}
    if turn.reasoning is not None:
        message["reasoning_content"] = turn.reasoning
    return message


def rendered(sample: Sample) -> list[tuple[list[dict], list | None]]:
    """One conversation per sequence training builds: two for a preference pair."""
    messages, tools = conversation(sample)
    if sample.kind != "dpo":
        return [(messages, tools)]
    out = []
    for side in (sample.chosen, sample.rejected):
        answer = [_message(t, "assistant") for t in side]
        out.append((messages + answer, tools))
    return out


@dataclass
class Lengths:
    """Per-record lengths of one file (arrays, so a million records stay small)."""

    lines: array = field(default_factory=lambda: array("q"))
    records: array = field(default_factory=lambda: array("q"))
    full: array = field(default_factory=lambda: array("q"))
    label: array = field(default_factory=lambda: array("q"))
    turns: array = field(default_factory=lambda: array("q"))  # prompt, answer, prompt, answer...
    starts: array = field(default_factory=lambda: array("q"))  # each record's first turns index
    pairs: array = field(default_factory=lambda: array("b"))  # 1: a preference pair
    unmapped: int = 0  # conversations whose answers were not found verbatim in the render
    failed: list[tuple[int, str]] = field(default_factory=list)  # (line, why) render errors
    images: int = 0
    answers: int = 0  # non-empty answers found in renders
    stops: Counter = field(default_factory=Counter)  # end-of-turn token right after an answer
    markup: Counter = field(default_factory=Counter)  # template family markup found in the data
    markup_first: dict[str, int] = field(default_factory=dict)  # family -> first line

    def __len__(self) -> int:
        return len(self.full)

    def absorb(self, other: Lengths, lines: int, records: int) -> None:
        """Append a later chunk's lengths (its lines and records counted from its start)."""
        self.lines.extend(line + lines for line in other.lines)
        self.records.extend(index + records for index in other.records)
        self.full.extend(other.full)
        self.label.extend(other.label)
        self.starts.extend(start + len(self.turns) for start in other.starts)
        self.turns.extend(other.turns)
        self.pairs.extend(other.pairs)
        self.unmapped += other.unmapped
        self.failed.extend((line + lines, why) for line, why in other.failed)
        self.images += other.images
        self.answers += other.answers
        self.stops.update(other.stops)
        self.markup.update(other.markup)
        for family, line in other.markup_first.items():
            self.markup_first.setdefault(family, line + lines)

    def record_turns(self, i: int) -> list[tuple[int, int]]:
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.turns)
        flat = self.turns[self.starts[i] : end]
        return list(zip(flat[::2], flat[1::2], strict=True))

    def percentiles(self, which: str = "full") -> dict[str, int]:
        values = sorted(getattr(self, which))
        if not values:
            return {**{f"p{p}": 0 for p in PERCENTILES}, "max": 0}
        out = {f"p{p}": values[min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1)]
               for p in PERCENTILES}  # fmt: skip
        out["max"] = values[-1]
        return out

    def recommended(self, coverage: float, step: int) -> int:
        """The smallest multiple of `step` that keeps at least `coverage` of records whole."""
        return recommended_cutoff(self.full, coverage, step)

    def trains_on_nothing(self, i: int, cutoff: int) -> bool:
        """Whether record `i` keeps no label token under the build's truncate-answer: its
        answers are empty, or its first prompt fills the cutoff (a preference pair's prompt is
        shortened instead, so only empty answers leave it nothing)."""
        if not self.label[i]:
            return True
        if self.full[i] <= cutoff or (self.pairs and self.pairs[i]):
            return False
        return not any(_cut_right(self.record_turns(i), cutoff - 1))

    def losses(self, cutoff: int) -> dict[str, dict[str, int]]:
        """What each truncation policy loses at `cutoff` tokens; `no_labels`: records that
        would train on nothing (the build rejects them as no-trainable-tokens)."""
        drop = {"records": 0, "label_tokens": 0, "no_labels": 0}
        right = {"records": 0, "label_tokens": 0, "eos_cut": 0, "answer_cut": 0, "no_labels": 0}
        llamafactory = {"records": 0, "label_tokens": 0, "eos_cut": 0, "answer_cut": 0,
                        "no_labels": 0}  # fmt: skip
        for i, full in enumerate(self.full):
            if not self.label[i]:  # nothing to train on at any cutoff (unless dropped)
                right["no_labels"] += 1
                llamafactory["no_labels"] += 1
                drop["no_labels"] += full <= cutoff
            elif full > cutoff:
                right["no_labels"] += self.trains_on_nothing(i, cutoff)
            if full <= cutoff:
                continue
            turns = self.record_turns(i)
            drop["records"] += 1
            drop["label_tokens"] += self.label[i]
            policies = ((right, _cut_right(turns, cutoff)),
                        (llamafactory, kept_by_llamafactory(turns, cutoff)))  # fmt: skip
            for stats, kept in policies:
                stats["records"] += 1
                lost = [t - k for (_, t), k in zip(turns, kept, strict=True)]
                stats["label_tokens"] += sum(lost)
                stats["eos_cut"] += any(lost)  # an answer that loses its end loses its EOS
                stats["answer_cut"] += not any(kept)
            if self.label[i] and not any(kept_by_llamafactory(turns, cutoff)):
                llamafactory["no_labels"] += 1
        return {"drop": drop, "truncate_end": right, "llamafactory": llamafactory}


def recommended_cutoff(full: list[int], coverage: float, step: int) -> int:
    """The smallest multiple of `step` that keeps at least `coverage` of the lengths `full`."""
    values = sorted(full)
    if not values:
        return step
    need = values[max(0, math.ceil(coverage * len(values)) - 1)]
    return max(step, -(-need // step) * step)


def _cut_right(turns: list[tuple[int, int]], cutoff: int) -> list[int]:
    """Answer tokens kept per turn when the sequence is cut after `cutoff` tokens."""
    kept, position = [], 0
    for prompt, answer in turns:
        start = position + prompt
        kept.append(max(0, min(answer, cutoff - start)))
        position = start + answer
    return kept


def infer_seqlen(source: int, target: int, cutoff: int) -> tuple[int, int]:
    """LLaMA-Factory's split of a budget between a prompt and its answer."""
    if target * 2 < cutoff:
        max_target = cutoff
    elif source * 2 < cutoff:
        max_target = cutoff - source
    else:
        max_target = int(cutoff * (target / (source + target)))
    new_target = min(max_target, target)
    new_source = min(max(cutoff - new_target, 0), source)
    return new_source, new_target


def kept_by_llamafactory(turns: list[tuple[int, int]], cutoff: int) -> list[int]:
    """Answer tokens kept per turn by LLaMA-Factory's supervised preprocessing."""
    kept, total = [], 0
    for prompt, answer in turns:
        if total >= cutoff:
            kept.append(0)
            continue
        source, target = infer_seqlen(prompt, answer, cutoff - total)
        kept.append(target)
        total += source + target
    return kept


@dataclass(frozen=True)
class LengthSetup:
    """How to measure token lengths in one run."""

    tokenizer: ModelTokenizer
    template: Template  # what is rendered (a named fallback when the tokenizer has none)
    template_missing: bool = False  # --template auto, and the tokenizer has no chat_template
    image_tokens: int | None = None
    cutoff_len: int | None = None
    coverage: float = 0.95
    round: int = 64

    def meter(self) -> Meter:
        """A new meter measuring with this setup (one per file, or per chunk of one)."""
        return Meter(self.tokenizer, self.template, self.image_tokens)


class Meter:
    """Measures samples a batch at a time; `finish()` returns the file's Lengths."""

    def __init__(
        self,
        tokenizer: ModelTokenizer,
        template: Template,
        image_tokens: int | None = None,
        batch: int = 1024,
    ):
        self.tokenizer = tokenizer
        self.template = template
        self.image_tokens = image_tokens
        self.batch = batch
        self.lengths = Lengths()
        self.examples: list[tuple[int, Sample]] = []  # a few samples for the template checks
        self._queue: list[tuple[int, int, list[tuple[str, list[tuple[int, int]], int]]]] = []
        self._texts: list[str] = []
        placeholder = tokenizer.backend.encode(IMAGE, add_special_tokens=False)
        self._placeholder = len(placeholder)
        self.stops = stop_tokens(tokenizer)

    def add(self, line: int, index: int, sample: Sample) -> None:
        if sample.kind == "pretrain":
            return
        if len(self.examples) < EXAMPLES:
            self.examples.append((line, sample))
        parts = []
        conversations = rendered(sample)
        self._markup(line, conversations[0][0])
        for messages, tools in conversations:
            try:
                text = self.template.render(messages, tools=tools)
            except Exception as exc:  # a template's raise_exception, or bad data for it
                self.lengths.failed.append((line, f"{type(exc).__name__}: {exc}"))
                return
            spans = self._spans(text, messages)
            if spans is None:
                self.lengths.unmapped += 1
                spans = []
            parts.append((text, spans, text.count(IMAGE)))
            self._texts.append(text)
        self._queue.append((line, index, parts))
        if len(self._texts) >= self.batch:
            self.flush()

    def _markup(self, line: int, messages: list[dict]) -> None:
        """Count records whose text already carries some template family's markup."""
        for message in messages:
            content = message["content"]
            if "<" in content or "[" in content or "#" in content or ":" in content:
                for name, markers in FAMILY_MARKERS.items():
                    if any(marker in content for marker in markers):
                        self.lengths.markup[name] += 1
                        self.lengths.markup_first.setdefault(name, line)
                        return

    def _spans(self, text: str, messages: list[dict]) -> list[tuple[int, int]] | None:
        """Character spans of each assistant answer (with its end-of-turn token) in `text`."""
        found = message_spans(text, messages, self.stops)
        if found is None:
            return None
        spans = []
        for role, start, end, stop in found:
            if role == "assistant":
                spans.append((start, end))
                if end > start:
                    self.lengths.answers += 1
                    self.lengths.stops[stop] += 1
        return spans

    def flush(self) -> None:
        if not self._texts:
            return
        encodings = self.tokenizer.backend.encode_batch(self._texts, add_special_tokens=False)
        extra = (self.image_tokens - self._placeholder) if self.image_tokens else 0
        lengths, k = self.lengths, 0
        for line, index, parts in self._queue:
            best_full = best_label = 0
            best_turns: list[tuple[int, int]] = []
            for _text, spans, images in parts:
                encoding = encodings[k]
                k += 1
                turns = _turns(encoding, spans)
                full = len(encoding) + images * extra
                if turns and images:
                    turns[0] = (turns[0][0] + images * extra, turns[0][1])
                lengths.images += images
                label = sum(t for _, t in turns)
                if full >= best_full:
                    best_full, best_label, best_turns = full, label, turns
            lengths.lines.append(line)
            lengths.records.append(index)
            lengths.full.append(best_full)
            lengths.label.append(best_label)
            lengths.starts.append(len(lengths.turns))
            lengths.pairs.append(len(parts) == 2)  # chosen and rejected rendered apart
            for prompt, answer in best_turns:
                lengths.turns.append(prompt)
                lengths.turns.append(answer)
        self._queue.clear()
        self._texts.clear()

    def finish(self) -> Lengths:
        self.flush()
        return self.lengths

    def absorb(self, lengths: Lengths, examples: list, lines: int, records: int) -> None:
        """A later chunk's lengths and first samples, measured elsewhere (a Ray task)."""
        self.lengths.absorb(lengths, lines, records)
        for line, sample in examples[: max(0, EXAMPLES - len(self.examples))]:
            moved = replace(sample, line=sample.line + lines, index=sample.index + records)
            self.examples.append((line + lines, moved))


def message_spans(
    text: str, messages: list[dict], stops: tuple[str, ...], turn_end: bool = False
) -> list[tuple[str, int, int, str]] | None:
    """(role, start, end, stop) of each message's content in a rendered text, in order; an
    answer's span takes in the end-of-turn token right after it (`stop`, "" when none), and
    with `turn_end` the line break after that (LLaMA-Factory trains ChatML's "<|im_end|>\n").
    None when an answer is not found verbatim (the template rewrote it)."""
    spans, cursor = [], 0
    for message in messages:
        role, content = message["role"], message["content"]
        if not content:
            if role == "assistant":
                spans.append((role, cursor, cursor, ""))
            continue
        at = text.find(content, cursor)
        if at < 0:
            content = content.strip()
            at = text.find(content, cursor) if content else -1
            if at < 0:
                if role == "assistant":
                    return None
                continue  # templates may rewrite prompts (e.g. drop a system prompt)
        end = at + len(content)
        stop = ""
        if role == "assistant":
            at = _reasoning_start(text, message, cursor, at)
            stop = next((s for s in stops if text.startswith(s, end)), "")
            end += len(stop)
            if turn_end and stop:  # and the line break the template writes after it
                while end < len(text) and text[end] in "\r\n":
                    end += 1
        spans.append((role, at, end, stop))
        cursor = end
    return spans


def _reasoning_start(text: str, message: dict, cursor: int, at: int) -> int:
    """Where an answer's trained span starts: at the think block the template wrote for its
    `reasoning_content` between the previous message and its text (the model learns to write
    its reasoning too), else at its text."""
    reasoning = (message.get("reasoning_content") or "").strip()
    if not reasoning:
        return at
    found = text.rfind(reasoning, cursor, at)
    if found < 0:
        return at  # the template left it out (reasoning-dropped says so)
    tag = text.rfind("<think>", cursor, found)
    if tag >= 0 and not text[tag + len("<think>") : found].strip():
        return tag
    return found


def _turns(encoding, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(prompt tokens, answer tokens) per answer span, from character offsets."""
    turns, previous = [], 0
    for start, end in spans:
        first = token_at(encoding, start, end, forward=True)
        if first is None:  # an empty answer
            turns.append((0, 0))
            continue
        last = token_at(encoding, start, end, forward=False)
        turns.append((first - previous, last - first + 1))
        previous = last + 1
    return turns


def token_at(encoding, start: int, end: int, forward: bool) -> int | None:
    positions = range(start, end) if forward else range(end - 1, start - 1, -1)
    for i, char in enumerate(positions):
        token = encoding.char_to_token(char)
        if token is not None:
            return token
        if i > 16:  # characters without a token (stripped by the normalizer) are rare and short
            break
    return None


def merge(parts: list[Lengths]) -> Lengths:
    """Several files' lengths as one (for a summary over all of them)."""
    out = Lengths()
    for part in parts:
        out.absorb(part, 0, 0)
    return out


def summary(lengths: Lengths, coverage: float, step: int) -> dict:
    """The `stats` contract's length part."""
    return {
        "records": len(lengths),
        "length": lengths.percentiles("full"),
        "label_length": lengths.percentiles("label"),
        "recommended_cutoff_len": lengths.recommended(coverage, step),
        "coverage": coverage,
        "round": step,
    }


def over(lengths: Lengths, cutoff: int) -> Iterator[tuple[int, int, int, int]]:
    """(line, record, full length, label length) of every record longer than `cutoff`."""
    for i, full in enumerate(lengths.full):
        if full > cutoff:
            yield lengths.lines[i], lengths.records[i], full, lengths.label[i]


def summary_lines(path: str, setup: LengthSetup, lengths: Lengths) -> list[str]:
    """The length summary of one file, for the text output."""
    if not len(lengths):
        return []
    full, label = lengths.percentiles("full"), lengths.percentiles("label")
    row = "  ".join(f"{k} {v:,}" for k, v in full.items())
    label_row = "  ".join(f"{k} {v:,}" for k, v in label.items())
    who = setup.tokenizer.name + (
        " - an estimate for other models: pass --tokenizer for yours"
        if setup.tokenizer.estimate
        else ""
    )
    cutoff = lengths.recommended(setup.coverage, setup.round)
    notes = [
        f"{path}: token lengths with {who}, template {setup.template.name}",
        f"  full   {row}",
        f"  labels {label_row}",
        f"  recommended cutoff_len {cutoff:,} (smallest multiple of {setup.round} keeping "
        f"{setup.coverage:.0%} of {len(lengths):,} records whole)",
    ]
    if setup.cutoff_len:
        for policy, lost in lengths.losses(setup.cutoff_len).items():
            parts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in lost.items())
            notes.append(f"  cutoff_len {setup.cutoff_len:,}, {policy}: loses {parts}")
    if lengths.images and not setup.image_tokens:
        notes.append(
            f"  {lengths.images:,} <image> placeholders counted as their text: pass "
            "--image-tokens N (576 for LLaVA-1.5)"
        )
    if lengths.failed:
        line, why = lengths.failed[0]
        notes.append(f"  {len(lengths.failed):,} records the template refused (line {line}: {why})")
    return notes
