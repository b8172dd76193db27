"""Columns of numpy arrays that grow a batch (or a row) at a time: dataset checks' state.

A dataset check remembers something of every record (a key, a signature, where it was). As
Python tuples and dicts that costs a few hundred bytes a record, which at a million records is
most of the process's memory; as fixed-width columns it is what the values themselves take, and
chunks of a split file merge by concatenation. Rows stay in the order they were added, which
is file order: the checks read "first" as "lowest row".
"""

from __future__ import annotations

import numpy as np

ROW_BUFFER = 4096  # rows appended one at a time are kept as lists until this many


class Chunked:
    """Named columns, each a list of numpy chunks of one dtype (and trailing shape)."""

    def __init__(self, **columns: tuple[type | str, tuple[int, ...]] | type | str):
        self.spec = {
            name: (np.dtype(c[0]), tuple(c[1])) if isinstance(c, tuple) else (np.dtype(c), ())
            for name, c in columns.items()
        }
        self._chunks: dict[str, list[np.ndarray]] = {name: [] for name in self.spec}
        self._rows: dict[str, list] = {name: [] for name in self.spec}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, **arrays: np.ndarray) -> None:
        """Add rows: one array per column, all of the same length."""
        self._spill()
        count = {len(a) for a in arrays.values()}
        if arrays.keys() != self.spec.keys() or len(count) != 1:
            raise ValueError(f"extend needs equal-length arrays for {sorted(self.spec)}")
        (n,) = count
        if not n:
            return
        for name, (dtype, shape) in self.spec.items():
            self._chunks[name].append(np.asarray(arrays[name], dtype=dtype).reshape(n, *shape))
        self._size += n

    def append(self, **values) -> None:
        """Add one row (the per-record path): buffered, turned into a chunk every few thousand."""
        for name in self.spec:
            self._rows[name].append(values[name])
        self._size += 1
        if len(self._rows[next(iter(self.spec))]) >= ROW_BUFFER:
            self._spill()

    def _spill(self) -> None:
        rows = self._rows
        if not rows[next(iter(self.spec))]:
            return
        for name, (dtype, shape) in self.spec.items():
            self._chunks[name].append(np.asarray(rows[name], dtype=dtype).reshape(-1, *shape))
            rows[name] = []

    def column(self, name: str) -> np.ndarray:
        """Every row of one column, joined into one array (kept joined for the next read)."""
        self._spill()
        chunks = self._chunks[name]
        if len(chunks) != 1:
            dtype, shape = self.spec[name]
            joined = np.concatenate(chunks) if chunks else np.zeros((0, *shape), dtype=dtype)
            chunks[:] = [joined]
        return chunks[0]

    def take(self, rows: np.ndarray) -> Chunked:
        """A new table of these rows (positions), in the order given."""
        piece = Chunked(**self.spec)
        piece.extend(**{name: self.column(name)[rows] for name in self.spec})
        return piece

    def split(self, labels: np.ndarray, parts: int) -> list[Chunked]:
        """The rows cut into `parts` tables by `labels` (one of 0..parts-1 per row), each
        keeping the rows' order."""
        return [self.take(np.flatnonzero(labels == part)) for part in range(parts)]

    def absorb(self, other: Chunked, shift: dict[str, int]) -> None:
        """Append `other`'s rows after this one's, adding `shift[name]` to those columns
        (a later chunk's line numbers and record indexes count from its own start)."""
        other._spill()
        self._spill()
        for name in self.spec:
            for chunk in other._chunks[name]:
                self._chunks[name].append(chunk + chunk.dtype.type(shift[name]) if name in shift
                                          else chunk)  # fmt: skip
            other._chunks[name] = []
        self._size += other._size
        other._size = 0


def merged(pieces: list[tuple[Chunked, tuple[int, int]]]) -> Chunked:
    """One table of the pieces of successive chunks of a file, each piece's line and index
    columns shifted by its chunk's offset (lines, records before it)."""
    first, _ = pieces[0]
    table = Chunked(**first.spec)
    for piece, (lines, records) in pieces:
        table.absorb(piece, {"line": lines, "index": records})
    return table


def by_key(keys: np.ndarray, parts: int) -> np.ndarray:
    """The partition of each row of (n, lanes) 64-bit keys: equal keys, equal partitions."""
    return (keys[:, 0] % np.uint64(parts)).astype(np.int64)


def in_file_order(results: list[list]) -> list:
    """Hits of every partition, in the (line, record) order a whole-file `finish` yields."""
    hits = [hit for result in results for hit in result]
    return sorted(hits, key=lambda hit: (hit.where.line, hit.where.record))


def first_of(keys: np.ndarray) -> np.ndarray:
    """For each row, the lowest row with an equal key. `keys`: (n,) or (n, lanes) integers."""
    lanes = keys[:, None] if keys.ndim == 1 else keys
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    # Sorted by key, then row (a stable sort): each run of equal keys starts with its first row.
    if keys.ndim == 1:
        order = np.argsort(keys, kind="stable")
    else:
        order = np.lexsort((np.arange(len(keys)), *lanes.T[::-1]))
    ordered = lanes[order]
    starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)])
    first = np.empty(len(keys), dtype=np.int64)
    first[order] = np.repeat(order[starts], np.diff(np.r_[starts, len(keys)]))
    return first


def merge_capped(a: dict, b: dict, key: str, offset: tuple[int, int], keep: int) -> None:
    """Fold chunk b's `key` list of (line, record, ...) rows into a's, each shifted by the
    lines and records before b, keeping at most `keep` rows and counting the rest in "more"
    (dataset checks that report every offending record, up to a limit)."""
    lines, records = offset
    shifted = [(line + lines, index + records, *rest) for line, index, *rest in b[key]]
    room = max(0, keep - len(a[key]))
    a[key].extend(shifted[:room])
    a["more"] += b["more"] + max(0, len(shifted) - room)
