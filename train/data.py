"""Training data: a `dataprep build` folder, checked against the model, batched with little padding.

A build is used only when it is complete (its manifest exists and lists every file) and was
made with the model's own tokenizer and template; otherwise the run stops with the fix.
Batches are grouped by length (a shuffled pool sorted into batches), so padding stays small;
the padding fraction is measured and logged.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dataprep.errors import DataprepError

IGNORE = -100


class Rows:
    """One split of a build: its Arrow shards memory-mapped, rows as dicts (no copy of the
    whole split, and no `datasets` needed at training time)."""

    def __init__(self, folder: Path):
        import pyarrow as pa

        state = json.loads((folder / "state.json").read_text())
        tables = []
        for item in state["_data_files"]:
            source = pa.memory_map(str(folder / item["filename"]))
            tables.append(pa.ipc.open_stream(source).read_all())
        self.table = pa.concat_tables(tables) if tables else None
        self.column_names = self.table.column_names if self.table is not None else []

    def __len__(self) -> int:
        return self.table.num_rows if self.table is not None else 0

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.table.column(key).to_pylist()
        return {name: self.table.column(name)[key].as_py() for name in self.column_names}


@dataclass
class Build:
    path: Path
    manifest: dict
    train: Rows
    validation: Rows | None
    # sft | dpo | packed (SFT sequences packed into rows) | pairs (DPO: a pair in one row)
    kind: str


def open_build(path: str, model_tokenizer, template_source: str) -> Build:
    """The build at `path`, refused when incomplete or made for another tokenizer/template."""
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        partial = list(root.parent.glob(f"{root.name}.partial-*"))
        why = "an unfinished build (it was interrupted)" if partial else "no manifest.json"
        raise DataprepError(
            f"{path}: not a complete dataprep build ({why})",
            fix=f"run `dataprep build ... --out {path}` to finish it",
        )
    manifest = json.loads(manifest_path.read_text())
    missing = [name for name in manifest.get("files", {}) if not (root / name).is_file()]
    if missing:
        raise DataprepError(
            f"{path}: incomplete build, {len(missing)} files missing (e.g. {missing[0]})",
            fix=f"rebuild it, or check it with `dataprep build --check {path}`",
        )
    if manifest.get("layout", "llamafactory") != "llamafactory":
        raise DataprepError(
            f"{path} was built with --layout {manifest['layout']}, for that trainer",
            fix="build it again without --layout (LLaMA-Factory's columns) for train run",
        )
    built_with = manifest.get("tokenizer", {})
    ours = model_tokenizer.fingerprint()
    if built_with.get("sha256") != ours:
        raise DataprepError(
            f"{path} was built with the tokenizer {built_with.get('name')!r}, whose files differ "
            f"from the model's ({model_tokenizer.name}): token ids would not mean the same",
            fix=f"rebuild: dataprep build ... --tokenizer {model_tokenizer.name}",
        )
    template_hash = hashlib.sha256(template_source.encode()).hexdigest()
    if manifest.get("template", {}).get("sha256") != template_hash:
        raise DataprepError(
            f"{path} was rendered with another chat template than the model's",
            fix="rebuild with the template training uses (--template), or set `template` to "
            "the build's",
        )
    index = root / "dataset_dict.json"
    splits = json.loads(index.read_text())["splits"] if index.is_file() else []
    if "train" not in splits:
        raise DataprepError(
            f"{path}: the build has no training rows", fix="check its rejects.jsonl"
        )
    train = Rows(root / "train")
    if "kto_tags" in train.column_names:  # as SFT it would learn the undesirable answers too
        raise DataprepError(
            f"{path} is a KTO build: train run trains SFT, DPO and LLaVA, not KTO",
            fix="train it with LLaMA-Factory (stage: kto, tokenized_path: this folder)",
        )
    kind = "dpo" if "chosen_input_ids" in train.column_names else "sft"
    if "position_ids" in train.column_names:
        kind = "packed"  # SFT rows holding several sequences each
    validation = Rows(root / "validation") if "validation" in splits else None
    return Build(root, manifest, train, validation, kind)


def batches(
    dataset, kind: str, batch_size: int, seed: int, epoch: int, group_by_length: bool = True
) -> Iterator[list[int]]:
    """Row indices per batch: shuffled, then sorted by length within pools of 50 batches."""
    order = list(range(len(dataset)))
    rng = random.Random(seed + epoch)
    rng.shuffle(order)
    if group_by_length:
        lengths = row_lengths(dataset, kind).tolist()
        pool = batch_size * 50
        grouped = []
        for at in range(0, len(order), pool):
            grouped.extend(sorted(order[at : at + pool], key=lambda i: lengths[i]))
        order = grouped
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(chunks)  # long and short batches interleave, but each is uniform inside
        yield from chunks
        return
    for at in range(0, len(order), batch_size):
        yield order[at : at + batch_size]


def row_lengths(rows: Rows, kind: str):
    """What each row costs once collated (a numpy array, from the Arrow list lengths: no token
    is read): its sequence; a pair in one row, both answers; pairs as two rows, the longer
    one (both are padded to the batch's widest)."""
    import numpy as np
    import pyarrow.compute as pc

    def column(name: str):
        return pc.list_value_length(rows.table.column(name)).to_numpy(zero_copy_only=False)

    if kind not in ("dpo", "pairs"):
        return column("input_ids")
    chosen, rejected = column("chosen_input_ids"), column("rejected_input_ids")
    return chosen + rejected if kind == "pairs" else np.maximum(chosen, rejected)


def collate(rows: list[dict], kind: str, pad_id: int):
    """Padded tensors (right padding). Pairs as two rows: chosen rows then rejected rows;
    `pairs`: each pair in one row, prompt+chosen then prompt+rejected, kept apart by the mask."""
    import torch

    if kind == "packed":
        return _collate_segments(
            [(r["input_ids"], r["labels"], r["position_ids"], r["attention_mask"]) for r in rows],
            pad_id,
        )
    if kind == "pairs":
        batch = _collate_segments([_pair_row(r) for r in rows], pad_id)
        batch["weight"] = len(rows)
        return batch
    if kind == "dpo":
        sequences = [(r["chosen_input_ids"], r["chosen_labels"]) for r in rows]
        sequences += [(r["rejected_input_ids"], r["rejected_labels"]) for r in rows]
    else:
        sequences = [(r["input_ids"], r["labels"]) for r in rows]
    width = max(len(ids) for ids, _ in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, (ids, labs) in enumerate(sequences):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(labs)] = torch.tensor(labs)
        attention[i, : len(ids)] = 1
    real = int(attention.sum())
    # What the loss is averaged over: label tokens (each predicted from the one before), or pairs.
    weight = len(rows) if kind == "dpo" else int((labels[:, 1:] != IGNORE).sum())
    return {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": attention,
        "tokens": real,
        "padding": 1 - real / attention.numel(),
        "weight": weight,
    }


def _pair_row(row: dict) -> tuple[list, list, list, list]:
    chosen, rejected = row["chosen_input_ids"], row["rejected_input_ids"]
    return (
        list(chosen) + list(rejected),
        list(row["chosen_labels"]) + list(row["rejected_labels"]),
        list(range(len(chosen))) + list(range(len(rejected))),
        [1] * len(chosen) + [2] * len(rejected),
    )


def _collate_segments(items: list[tuple], pad_id: int):
    """Rows holding several sequences (input ids, labels, positions, segment numbers from 1):
    position ids restart per sequence and a block-diagonal causal mask (4D, additive) keeps
    each sequence to itself, on SDPA and eager attention alike."""
    import torch

    width = max(len(item[0]) for item in items)
    n = len(items)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    positions = torch.zeros((n, width), dtype=torch.long)
    segments = torch.zeros((n, width), dtype=torch.long)  # 0: padding
    for i, (ids, labs, pos, seg) in enumerate(items):
        k = len(ids)
        input_ids[i, :k] = torch.tensor(ids)
        labels[i, :k] = torch.tensor(labs)
        positions[i, :k] = torch.tensor(pos)
        segments[i, :k] = torch.tensor(seg)
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
    allowed = (segments[:, :, None] == segments[:, None, :]) & causal
    allowed |= torch.eye(width, dtype=torch.bool)  # padding attends to itself: no empty rows
    mask = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)
    real = int((segments > 0).sum())
    return {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": mask[:, None],
        "position_ids": positions,
        "segments": segments,
        "tokens": real,
        "padding": 1 - real / segments.numel(),
        "weight": int((labels[:, 1:] != IGNORE).sum()),
    }
