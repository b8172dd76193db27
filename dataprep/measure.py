"""Token lengths of data files, measured as training will see them: read, normalise, render
with the chat template, tokenize (`Meter`). What `dataprep stats` prints and the API's setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataprep import readers
from dataprep.errors import DataprepError
from dataprep.formats import normalise
from dataprep.lengths import Lengths, LengthSetup
from dataprep.records import UNPARSED
from dataprep.spec import Spec


def length_setup(
    tokenizer: str | None = None,
    template: str = "auto",
    *,
    image_tokens: int | None = None,
    cutoff_len: int | None = None,
    coverage: float = 0.95,
    round: int = 64,
) -> LengthSetup:
    """How to measure with this tokenizer (a local folder, a tokenizer.json or a hub id; None:
    the bundled Qwen2.5 tokenizer, an estimate) and template (auto: the tokenizer's own; a
    tokenizer without one is measured with LLaMA-Factory's default, and template-mismatch
    says so). `image_tokens` None: the model's own count, if its files give one."""
    from dataprep import templates
    from dataprep import tokenizer as tokenizers

    model = tokenizers.load(tokenizer)
    chosen = templates.resolve(template, model.chat_template, model.special)
    missing = chosen is None
    if chosen is None:
        chosen = templates.resolve("default", None, model.special)
    if image_tokens is None:
        image_tokens = model.image_tokens
    return LengthSetup(model, chosen, missing, image_tokens, cutoff_len, coverage, round)


@dataclass
class Measured:
    """The lengths of each file read, and the files that could not be read."""

    lengths: dict[str, Lengths] = field(default_factory=dict)
    errors: list[DataprepError] = field(default_factory=list)


def measure(paths: list[str], setup: LengthSetup, spec: Spec | None = None) -> Measured:
    """Every parsed record of `paths` measured, file by file; an unreadable file is an error
    and measuring goes on (records read before a damaged part of a file still count)."""
    out = Measured()
    for source in readers.expand(paths):
        meter = setup.meter()
        read = 0
        try:
            for record in readers.read_source(source):
                read += 1
                if record.value is UNPARSED:
                    continue
                sample, _ = normalise(record, spec)
                if sample is not None:
                    meter.add(record.line, record.index, sample)
        except DataprepError as exc:
            out.errors.append(exc)
            if not read:
                continue
        out.lengths[source.display] = meter.finish()
    return out
