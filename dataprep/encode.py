"""Rendering and tokenizing samples for a build, and the labels of each sequence.

`Encoder.prepare` renders with the chat template and finds each message's characters (Python),
`tokenize` is the Rust part (it may run beside the next `prepare`), and `place` maps the
characters to tokens. Labels come from those token spans, so they are exactly the answers the
template rendered, whatever its markup.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dataprep.fastbpe import FastBPE, FastEncoding, agrees
from dataprep.lengths import LengthSetup, message_spans, rendered, stop_tokens, token_at
from dataprep.sample import Sample
from dataprep.truncation import Encoded
from dataprep.vocabcheck import Checker

if TYPE_CHECKING:
    from pathlib import Path

    from dataprep.builder import Options

VERIFY_EVERY = 32  # of the batches tiktoken encodes, 1 in this many is checked against tokenizers
IMAGE = "<image>"
IMAGE_TOKENS = ("<image>", "<|image_pad|>")  # the token an <image> expands to, if the vocab has one


def limit_threads(n: int) -> None:
    """At most `n` threads for the Rust tokenizer's batch encoding. Its thread pool has no
    setting but RAYON_NUM_THREADS, read when it is first used: call this before encoding."""
    os.environ["RAYON_NUM_THREADS"] = str(n)


class Encoder:
    """Renders and tokenizes samples in batches; labels and images are added per sequence."""

    def __init__(self, setup: LengthSetup, options: Options, pool=None):
        """`pool`: the tokenizer's thread, which then loads the vocabulary (and the fast path)
        while the build's first batches are gated; without one it loads here."""
        self.setup = setup
        self.options = options
        self.template = setup.template
        self.stops = stop_tokens(setup.tokenizer)
        self.engine = "tokenizers"  # what encoded the build: tiktoken once the fast path is up
        self._fast: FastBPE | None = None
        self._batches = 0
        self._checker: Checker | None = None  # the second process checking the fast path
        self._ids: dict[str, int | None] | None = None  # from it: the stop and image token ids
        if pool is None:
            self._load()
            self._loaded = None
        else:
            self._loaded = pool.submit(self._load)

    @property
    def backend(self):
        """The `tokenizers` tokenizer, loaded when first needed: with the fast path and its
        second process, only for a text that is not NFC."""
        return self.setup.tokenizer.backend

    def _load(self) -> None:
        if self.options.tokenizer_engine == "auto":
            files = self.setup.tokenizer.files
            source = files[0] if files and files[0].name == "tokenizer.json" else None
            self._fast = self._fast_path(source)
            if self._fast is not None:
                self.engine = "tiktoken"
        ids = self._ids if self._ids is not None else {
            t: self.backend.token_to_id(t) for t in (*self.stops, *IMAGE_TOKENS)
        }  # fmt: skip
        self._eos_id = next((ids[t] for t in self.stops if ids[t] is not None), None)
        self._image_id = next((ids[t] for t in IMAGE_TOKENS if ids[t] is not None), None)

    def _fast_path(self, source: Path | None) -> FastBPE | None:
        """tiktoken's encoding, from a second process that derives the ranks and then checks
        the fast encodings (`dataprep.vocabcheck`); in this process if that one fails."""
        if source is not None:
            checker = None
            try:
                checker = Checker(source, [*self.stops, *IMAGE_TOKENS])
                derived, ids = checker.derived()
            except (OSError, EOFError, ValueError):  # no second process: all of it here
                if checker is not None:
                    checker.close()
            else:
                fast = FastBPE.from_derived(derived) if derived is not None else None
                if fast is None:
                    checker.close()
                    return None
                self._checker, self._ids = checker, ids
                return fast
        return FastBPE.from_tokenizer(self.backend, source)

    def ready(self) -> None:
        """Wait for the vocabulary (raising what loading it raised)."""
        if self._loaded is not None:
            self._loaded.result()

    def confirm(self) -> None:
        """Every fast-path check sent so far answered (before a shard's marker is written);
        raises FastPathMismatch at the first text `tokenizers` encodes otherwise."""
        self.ready()
        checker = self._checker
        if checker is None:
            return
        try:
            bad = checker.confirm()
        except (OSError, EOFError, ValueError):  # the second process died: check here
            self._checker = None
            checker.close()
            for texts in checker.unconfirmed():
                self._check_here(texts, self._fast.encode(texts))  # type: ignore[union-attr]
            return
        if bad is not None:
            raise FastPathMismatch(bad)

    def close(self) -> None:
        if self._checker is not None:
            self._checker.close()
            self._checker = None

    @property
    def eos_id(self) -> int | None:
        self.ready()
        return self._eos_id

    @property
    def image_id(self) -> int | None:
        self.ready()
        return self._image_id

    def prepare(self, samples: list[Sample]) -> tuple[list[str], list]:
        """Render every conversation and find its messages (Python): the texts to encode,
        and per sample its plan, or why it cannot be encoded."""
        texts: list[str] = []
        plans: list = []
        for sample in samples:
            try:
                conversations = [(self.template.render(m, tools=t), m) for m, t in rendered(sample)]
            except Exception as exc:
                plans.append(f"the template refused the record: {type(exc).__name__}: {exc}")
                continue
            plan: list | str = []
            for text, messages in conversations:
                spans = message_spans(text, messages, self.stops, self.options.label_turn_end)
                if spans is None:
                    plan = "the template rewrote an answer, so its labels cannot be placed"
                    break
                plan.append((len(texts), spans, text))
                texts.append(text)
            plans.append(plan)
        return texts, plans

    def tokenize(self, texts: list[str]) -> list:
        """The Rust part (the GIL released): it may run beside `prepare`. tiktoken where it
        is exact (`dataprep.fastbpe`): the first batch and every VERIFY_EVERY-th are encoded
        both ways, and one difference raises FastPathMismatch (the build starts over with
        `tokenizers` alone)."""
        if not texts:
            return []
        self.ready()
        if self._fast is None:
            return self.backend.encode_batch(texts, add_special_tokens=False)
        encodings = self._fast.encode(texts)
        checked = self._batches % VERIFY_EVERY == 0
        self._batches += 1
        slow = [k for k, fast in enumerate(encodings) if fast is None]
        if slow:
            exact = self.backend.encode_batch([texts[k] for k in slow], add_special_tokens=False)
            for k, encoding in zip(slow, exact, strict=True):
                encodings[k] = encoding
        if checked:
            taken = [k for k, fast in enumerate(encodings) if isinstance(fast, FastEncoding)]
            batch = [texts[k] for k in taken]
            if self._checker is not None:
                try:
                    evidence = [encodings[k].evidence(texts[k]) for k in taken]
                    self._checker.submit(batch, evidence)
                    return encodings
                except (OSError, ValueError):  # the second process died: check here
                    self._checker.close()
                    self._checker = None
            self._check_here(batch, [encodings[k] for k in taken])
        return encodings

    def _check_here(self, texts: list[str], encodings: list) -> None:
        """The fast encodings of `texts` against `tokenizers`, in this process."""
        reference = self.backend.encode_batch(texts, add_special_tokens=False)
        for text, fast, exact in zip(texts, encodings, reference, strict=True):
            if fast is not None and not _same(text, fast, exact):
                raise FastPathMismatch(text)

    def place(self, plans: list, encodings: list) -> list[list[Encoded] | str]:
        """Per sample: one Encoded per sequence (two for a pair), or why it cannot be encoded."""
        out: list = []
        for plan in plans:
            if isinstance(plan, str):
                out.append(plan)
                continue
            sequences = []
            for k, spans, text in plan:
                encoding = encodings[k]
                ranges = [(start, end) for _, start, end, _ in spans]
                at = text.find(IMAGE)
                while at >= 0:
                    ranges.append((at, at + len(IMAGE)))
                    at = text.find(IMAGE, at + len(IMAGE))
                found = token_ranges(encoding, ranges)
                token_spans = []
                for (role, *_), (first, last) in zip(spans, found, strict=False):
                    if first is None or last is None:
                        token_spans.append((role, first or 0, first or 0))
                    else:
                        token_spans.append((role, first, last + 1))
                images = [(first, last + 1) for first, last in found[len(spans) :]
                          if first is not None and last is not None]  # fmt: skip
                sequences.append(Encoded(encoding.ids, token_spans, images))
            out.append(sequences)
        return out

    def encode(self, samples: list[Sample]) -> list[list[Encoded] | str]:
        texts, plans = self.prepare(samples)
        return self.place(plans, self.tokenize(texts))


def expand_images(seq: Encoded, count: int | None, image_id: int | None) -> Encoded:
    """Replace each <image> placeholder's tokens with `count` image tokens (spans follow)."""
    if not seq.images or not count or image_id is None:
        return seq
    ids: list[int] = []
    shift: list[tuple[int, int]] = []  # (old position, added before it)
    new_images = []
    cursor = added = 0
    for start, end in seq.images:
        ids.extend(seq.ids[cursor:start])
        new_images.append((len(ids), len(ids) + count))
        ids.extend([image_id] * count)
        added += count - (end - start)
        shift.append((end, added))
        cursor = end
    ids.extend(seq.ids[cursor:])

    def moved(position: int) -> int:
        extra = 0
        for old, total in shift:
            if position >= old:
                extra = total
        return position + extra

    spans = [(role, moved(a), moved(b)) for role, a, b in seq.spans]
    return Encoded(ids, spans, new_images)


def labels_for(seq: Encoded, options: Options, pair: bool = False) -> list[int]:
    """The answers' tokens (and their end-of-turn), -100 elsewhere. A preference pair's
    labels are its final answer only: the earlier answers are prompt, masked as LLaMA-Factory
    and TRL mask them (unless label_pair_history)."""
    if options.train_on_prompt:
        return list(seq.ids)
    labels = [-100] * len(seq.ids)
    answers = [(a, b) for role, a, b in seq.spans if role == "assistant"]
    if options.mask_history or (pair and not options.label_pair_history):
        answers = answers[-1:]
    for a, b in answers:
        labels[a:b] = seq.ids[a:b]
    return labels


class FastPathMismatch(Exception):
    """tiktoken and tokenizers disagreed on a text: the fast path is not exact for this data."""


def _same(text: str, fast, exact) -> bool:
    """Same ids, and the same tokens either side of each `<` (where chat markup, and so the
    message spans, start and end) and at both ends of the text."""
    return agrees(exact, *fast.evidence(text))


def token_ranges(encoding, ranges: list[tuple[int, int]]) -> list[tuple[int | None, int | None]]:
    """(first, last) token of each character range [start, end) of the encoded text (None
    where a range has no token): the fast path's encodings answer all of them at once."""
    if isinstance(encoding, FastEncoding):
        return encoding.token_ranges(ranges)
    return [(token_at(encoding, start, end, forward=True),
             token_at(encoding, start, end, forward=False)) for start, end in ranges]  # fmt: skip
