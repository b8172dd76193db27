"""A build's Arrow shards: the writer, the packer, and the metadata `datasets` opens them by.

Columns go to Arrow from numpy buffers, never through `pyarrow.array` on Python lists: that
converts an element at a time and imports pandas on first use (a quarter of a second).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from itertools import chain
from pathlib import Path

import numpy as np

MEDIA = ("images", "videos", "audios")  # the media columns of every build, as LLaMA-Factory's
# An attention mask a row leaves out is ones, as long as its ids: made from their offsets.
ONES = {f"{side}attention_mask": f"{side}input_ids" for side in ("", "chosen_", "rejected_", "kl_")}


def schema(kind: str, packing: bool, layout: str = "llamafactory"):
    """The columns of a `kind` build (sft, dpo or kto) in `layout` (llamafactory or trl)."""
    import pyarrow as pa

    ints = pa.list_(pa.int32())
    if layout == "trl":  # no media columns: TRL takes a dataset with `images` for a VLM's
        names = ("prompt_ids", "chosen_ids", "rejected_ids") if kind == "dpo" else (
            "input_ids", "attention_mask", "labels")  # fmt: skip
        return pa.schema([(name, ints) for name in names])
    if kind == "dpo":
        fields = [
            (f"{side}_{col}", ints)
            for side in ("chosen", "rejected")
            for col in ("input_ids", "attention_mask", "labels")
        ]
    elif kind == "kto":  # LLaMA-Factory's feedback columns (KTODataCollatorWithPadding)
        fields = [
            (f"{side}{col}", ints)
            for side in ("", "kl_")
            for col in ("input_ids", "attention_mask", "labels")
        ]
        fields.append(("kto_tags", pa.bool_()))
    else:
        fields = [("input_ids", ints), ("attention_mask", ints), ("labels", ints)]
        if packing:
            fields.append(("position_ids", ints))
    # LLaMA-Factory's collators read all three, null where a row has none, in every stage.
    fields.extend((media, pa.list_(pa.string())) for media in MEDIA)
    return pa.schema(fields)


def features(schema) -> dict:
    """`datasets` Features of a schema, as its dataset_info.json writes them."""
    out = {}
    for f in schema:
        if not hasattr(f.type, "value_type"):  # a scalar column (kto_tags)
            out[f.name] = {"dtype": str(f.type), "_type": "Value"}
            continue
        dtype = "string" if str(f.type.value_type) == "string" else str(f.type.value_type)
        out[f.name] = {"feature": {"dtype": dtype, "_type": "Value"}, "_type": "Sequence"}
    return out


def _offsets(lengths) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _validity(values: list) -> tuple[object, int]:
    """(the validity bitmap, or None when nothing is null; how many are null)."""
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(valid.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _int_lists(values: list[list[int]]):
    import pyarrow as pa

    offsets = _offsets(np.fromiter(map(len, values), dtype=np.int32, count=len(values)))
    flat = np.fromiter(chain.from_iterable(values), dtype=np.int32, count=int(offsets[-1]))
    items = pa.Array.from_buffers(pa.int32(), len(flat), [None, pa.py_buffer(flat)])
    return pa.Array.from_buffers(
        pa.list_(pa.int32()), len(values), [None, pa.py_buffer(offsets)], children=[items]
    )


def _string_lists(values: list[list[str] | None]):
    import pyarrow as pa

    kind = pa.list_(pa.string())
    if all(v is None for v in values):
        return pa.nulls(len(values), kind)
    validity, nulls = _validity(values)
    present = [v or () for v in values]
    offsets = _offsets(np.fromiter(map(len, present), dtype=np.int32, count=len(values)))
    encoded = [s.encode("utf-8") for s in chain.from_iterable(present)]
    sizes = _offsets(np.fromiter(map(len, encoded), dtype=np.int32, count=len(encoded)))
    strings = pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(sizes), pa.py_buffer(b"".join(encoded))]
    )
    return pa.Array.from_buffers(
        kind, len(values), [validity, pa.py_buffer(offsets)], null_count=nulls, children=[strings]
    )


def _bools(values: list[bool]):
    import pyarrow as pa

    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _ones_like(lists):
    """An int32 list column of ones, each list as long as the one in `lists` at its row."""
    import pyarrow as pa

    ones = np.ones(len(lists.values), dtype=np.int32)
    values = pa.Array.from_buffers(pa.int32(), len(ones), [None, pa.py_buffer(ones)])
    return pa.Array.from_buffers(lists.type, len(lists), [None, lists.buffers()[1]],
                                 children=[values])  # fmt: skip


def column(values: list, kind):
    """One column of a record batch from Python values."""
    import pyarrow as pa

    if kind == pa.bool_():
        return _bools(values)
    if kind.value_type == pa.string():
        return _string_lists(values)
    return _int_lists(values)


class ShardWriter:
    """Rows of one split into one Arrow IPC stream file (what datasets' save_to_disk writes),
    a record batch of `batch` rows at a time, so memory does not grow with the shard."""

    def __init__(self, path: Path, schema, batch: int = 512):
        import pyarrow as pa

        self.pa = pa
        self.path = path
        self.schema = schema
        self.batch = batch
        self.rows: dict[str, list] = {name: [] for name in schema.names}
        self.count = 0
        self.tmp = path.with_suffix(".tmp")
        self.sink = pa.OSFile(str(self.tmp), "wb")
        self.writer = pa.ipc.new_stream(self.sink, schema)

    def add(self, row: dict) -> None:
        """A row; an attention mask it leaves out is all ones (a packed row numbers its own)."""
        for name, values in self.rows.items():
            values.append(row.get(name) if name in ONES else row[name])
        self.count += 1
        if len(self.rows[self.schema.names[0]]) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        rows = self.rows
        if not rows[self.schema.names[0]]:
            return
        arrays = {}
        for f in self.schema:
            if f.name in ONES and rows[f.name][0] is None:
                continue
            arrays[f.name] = column(rows[f.name], f.type)
        for f in self.schema:
            if f.name not in arrays:
                arrays[f.name] = _ones_like(arrays[ONES[f.name]])
        ordered = [arrays[name] for name in self.schema.names]
        self.writer.write_batch(self.pa.RecordBatch.from_arrays(ordered, schema=self.schema))
        for values in rows.values():
            values.clear()

    def close(self) -> None:
        self._flush()
        self.writer.close()
        self.sink.close()
        self.tmp.replace(self.path)


class Packer:
    """Greedy packing into rows of at most `cutoff` tokens, streamed: position ids restart per
    sequence and attention_mask numbers the sequences (1, 2, ...), so attention can stay
    within each."""

    def __init__(self, writer: ShardWriter, cutoff: int):
        self.writer, self.cutoff, self.current = writer, cutoff, None

    def add(self, row: dict) -> None:
        n = len(row["input_ids"])
        current = self.current
        if current is None or len(current["input_ids"]) + n > self.cutoff:
            self.flush()
            current = self.current = {
                "input_ids": [], "attention_mask": [], "labels": [], "position_ids": [],
                **dict.fromkeys(MEDIA),
            }  # fmt: skip
        number = (current["attention_mask"][-1] if current["attention_mask"] else 0) + 1
        current["input_ids"].extend(row["input_ids"])
        current["labels"].extend(row["labels"])
        current["attention_mask"].extend([number] * n)
        current["position_ids"].extend(range(n))
        for media in MEDIA:  # a packed row names the media of all its sequences
            if row.get(media):
                current[media] = [*(current[media] or []), *row[media]]

    def flush(self) -> None:
        if self.current is not None:
            self.writer.add(self.current)
            self.current = None

    def close(self) -> None:
        self.flush()
        self.writer.close()

    @property
    def count(self) -> int:
        return self.writer.count


def open_writer(
    folder: Path, number: int, kind: str, packing: bool, layout: str, cutoff: int
) -> ShardWriter | Packer:
    """The writer of shard `number` of one split's folder (a Packer when SFT is packed)."""
    packing = packing and kind == "sft"
    folder.mkdir(exist_ok=True)
    writer = ShardWriter(folder / f"data-{number:05d}.arrow", schema(kind, packing, layout))
    return Packer(writer, cutoff) if packing else writer


def write_metadata(partial: Path, built: bool) -> None:
    """datasets' metadata: dataset_dict.json, and per split state.json and dataset_info.json
    (none when nothing was `built`); rejects.jsonl gathered from the shards'."""
    with open(partial / "rejects.jsonl", "wb") as out:
        for path in sorted(partial.glob("rejects-*.jsonl")):
            out.write(path.read_bytes())
    if not built:
        return
    import pyarrow as pa

    splits = []
    for split in ("train", "validation"):
        folder = partial / split
        files = sorted(folder.glob("data-*.arrow")) if folder.is_dir() else []
        rows = 0
        for path in files:
            with pa.memory_map(str(path)) as source:
                rows += pa.ipc.open_stream(source).read_all().num_rows
        if not files or (split == "validation" and not rows):
            if folder.is_dir():
                shutil.rmtree(folder)
            continue
        with pa.memory_map(str(files[0])) as source:
            found = pa.ipc.open_stream(source).schema
        fingerprint = hashlib.sha256(b"".join(p.name.encode() for p in files)).hexdigest()
        state = {
            "_data_files": [{"filename": p.name} for p in files],
            "_fingerprint": fingerprint[:16],
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": split,
        }
        (folder / "state.json").write_text(json.dumps(state, indent=2))
        info = {
            "citation": "",
            "description": "",
            "features": features(found),
            "homepage": "",
            "license": "",
        }
        (folder / "dataset_info.json").write_text(json.dumps(info, indent=2))
        splits.append(split)
    (partial / "dataset_dict.json").write_text(json.dumps({"splits": splits}))
