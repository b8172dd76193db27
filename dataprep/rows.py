"""A sample's encoded sequences to the row a shard holds: labels, the cutoff policy, columns.

`row` returns the row, or (rule, why) when the record cannot be trained on as asked (the build
rejects it under that rule); it counts tokens, label tokens and what the cutoff policy did.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dataprep.encode import Encoder, expand_images, labels_for
from dataprep.sample import Sample
from dataprep.truncation import NO_LABELS, fit_pair_prompt, truncate

if TYPE_CHECKING:
    from dataprep.builder import Options


def row(
    sample: Sample,
    sequences,
    encoder: Encoder,
    cutoff: int,
    options: Options,
    counts,
    root: Path,
    kind: str = "sft",
):
    """The row to write, or (rule, why) the record is rejected. `kind`: the build's; a KTO
    record comes as the pair `_kto_pair` makes, whose sides are cut each on its own (as
    LLaMA-Factory's feedback processor cuts them)."""
    if options.layout == "trl" and sample.images:
        return "unknown-format", (
            "a record with images in a --layout trl build: TRL's pre-tokenized layout is text "
            "only (build multimodal data with --layout llamafactory)"
        )
    if options.layout == "trl" and kind == "kto":
        return "unknown-format", (
            "a KTO record in a --layout trl build: TRL's KTOTrainer takes prompt, completion "
            "and label as text and tokenizes them itself (build KTO data with --layout "
            "llamafactory)"
        )
    setup = encoder.setup
    out: dict = {}
    kto = kind == "kto"
    pair = sample.kind == "dpo" and not kto  # the sides share a cut
    sides = ("chosen", "rejected") if pair else ("", "kl_") if kto else ("",)
    sequences = [expand_images(seq, setup.image_tokens, encoder.image_id) for seq in sequences]
    longest = max(len(seq.ids) for seq in sequences)
    labelled = [(seq, labels_for(seq, options, pair or kto)) for seq in sequences]
    shortened = False
    if pair and options.truncation == "truncate-answer" and longest > cutoff:
        fitted = fit_pair_prompt(labelled, cutoff)
        if isinstance(fitted, tuple):
            return fitted
        shortened, labelled = fitted is not labelled, fitted
        longest = max(len(seq.ids) for seq, _ in labelled)
    results = []
    for side, (seq, labels) in zip(sides, labelled, strict=True):
        limit = cutoff
        if pair and options.truncation == "truncate-prompt" and longest > cutoff:
            # A pair shares its prompt: both sides lose the same prompt tokens.
            limit = len(seq.ids) - (longest - cutoff)
        result = truncate(seq, labels, limit, options.truncation, encoder.eos_id)
        if isinstance(result[0], str):
            return result
        ids, labels, _ = result
        if all(label == -100 for label in labels) and side != "kl_":  # KL: a reference only
            which = f"the {side} side" if side else "the record"
            return NO_LABELS, (
                f"{which} has no label token left after masking and truncation at cutoff_len "
                f"{cutoff:,}: it would train on nothing"
            )
        results.append((side, result))
    if pair and results[0][1][0] == results[1][1][0]:
        return "identical-pair", (
            f"chosen and rejected are the same {len(results[0][1][0]):,} tokens within cutoff_len "
            f"{cutoff:,}: they differ only after the cut"
        )
    for _, (ids, labels, case) in results:
        counts.tokens += len(ids)
        counts.label_tokens += len(labels) - labels.count(-100)
        if case != "fits":
            counts.truncated[case] += 1
    if shortened:
        counts.truncated["pair prompt shortened"] += 1
    if options.layout == "trl":
        return trl_row(results)
    for side, (ids, labels, _) in results:
        prefix = f"{side}_" if pair else side
        out[f"{prefix}input_ids"] = ids  # attention_mask: ones, made by the shard writer
        out[f"{prefix}labels"] = labels
    if kto:
        out["kto_tags"] = bool(sample.label)
    out["images"] = [str(root / ref) for ref in sample.images] if sample.images else None
    out["videos"] = out["audios"] = None  # video and audio records are not built yet
    return out


def trl_row(results) -> dict:
    """A row as TRL's trainers take it pre-tokenized: SFT as input_ids, attention_mask and
    labels; a pair as prompt_ids, chosen_ids and rejected_ids, the completions apart from the
    shared prompt (everything after it, as TRL's own tokenization splits them)."""
    if len(results) == 1:
        ids, labels, _ = results[0][1]
        return {"input_ids": ids, "labels": labels}  # attention_mask: by the shard writer
    (_, (chosen, chosen_labels, _)), (_, (rejected, rejected_labels, _)) = results
    # The prompt ends where the final answers begin: the start of each side's last labelled
    # run, and never past where the two sides first differ.
    start = min(_last_run_start(chosen_labels), _last_run_start(rejected_labels))
    pairs = enumerate(zip(chosen, rejected, strict=False))
    prefix = next((k for k, (a, b) in pairs if a != b), min(len(chosen), len(rejected)))
    cut = min(start, prefix)
    return {"prompt_ids": chosen[:cut], "chosen_ids": chosen[cut:], "rejected_ids": rejected[cut:]}


def _last_run_start(labels: list[int]) -> int:
    end = max(k for k, label in enumerate(labels) if label != -100)
    start = end
    while start > 0 and labels[start - 1] != -100:
        start -= 1
    return start
