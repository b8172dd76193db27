"""KTO records as LLaMA-Factory trains them: each with its own answer and a KL completion.

LLaMA-Factory's feedback preprocessing pairs each record's prompt with the answer of the record
before it in a preprocessing batch of KL_BLOCK records (the first takes the batch's last), as
the reference for the KL term; the build writes both sequences of a record, and its label.
"""

from __future__ import annotations

from dataprep.sample import Sample

# LLaMA-Factory's preprocessing_batch_size: a KTO record's KL completion is the answer of the
# record before it in a batch of this many (the first's: the batch's last).
KL_BLOCK = 1000


def kl_answers(batch: list) -> list[str | None]:
    """Per record of a shard, its KTO KL completion as LLaMA-Factory pairs them: the answer
    of the record before it, the first of each block of KL_BLOCK records taking the block's
    last (blocks start with the shard, whose default size is a multiple of KL_BLOCK). A record
    without a KTO answer lends the nearest earlier one in its block; None where the block has
    none (no KTO record)."""
    from dataprep.formats import normalise
    from dataprep.records import UNPARSED

    answers: list[str | None] = []
    for item, record in batch:
        sample = normalise(record, item.spec)[0] if record.value is not UNPARSED else None
        last = sample.messages[-1] if sample is not None and sample.messages else None
        kto = sample is not None and sample.kind == "kto" and last.role == "assistant"
        answers.append((last.content or "") if kto else None)
    found: list[str | None] = []
    for j in range(len(answers)):
        start = j - j % KL_BLOCK
        size = min(KL_BLOCK, len(answers) - start)
        for back in range(1, size + 1):  # the previous record, wrapping round the block
            answer = answers[start + (j - start - back) % size]
            if answer is not None:
                break
        found.append(answer)
    return found


def kto_pair(sample: Sample, kl: str | None) -> Sample | None:
    """A KTO record as the two sequences LLaMA-Factory trains it on: its prompt with its own
    answer (`chosen`) and with the KL completion (`rejected`), rendered as a pair by the
    encoder; `rows.row` writes them as input_ids and kl_input_ids, `label` as kto_tags. None when
    the record does not end with an answer."""
    from dataclasses import replace

    from dataprep.sample import ASSISTANT, Turn

    if not sample.messages or sample.messages[-1].role != ASSISTANT:
        return None
    answer = sample.messages[-1]
    completion = Turn(ASSISTANT, answer.content if kl is None else kl, "kl_completion")
    return replace(
        sample, kind="dpo", messages=sample.messages[:-1], chosen=(answer,), rejected=(completion,)
    )
