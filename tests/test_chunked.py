"""Dataset checks' columnar state: rows appended by batch or one at a time, chunks absorbed."""

from __future__ import annotations

import numpy as np

from dataprep.chunked import ROW_BUFFER, Chunked, first_of


def test_first_of_is_the_lowest_row_with_an_equal_key():
    keys = np.array([[1, 2], [3, 4], [1, 2], [0, 0], [3, 4], [1, 3]], dtype=np.uint64)
    assert first_of(keys).tolist() == [0, 1, 0, 3, 1, 5]
    assert first_of(np.array([5, 5, 1, 5])).tolist() == [0, 0, 2, 0]
    assert first_of(np.zeros((0, 2), dtype=np.uint64)).tolist() == []
    rng = np.random.default_rng(0)
    many = rng.integers(0, 50, (5000, 2)).astype(np.uint64)
    seen: dict[tuple[int, int], int] = {}
    expected = [seen.setdefault(tuple(k), i) for i, k in enumerate(many.tolist())]
    assert first_of(many).tolist() == expected


def test_rows_and_batches_keep_their_order_and_chunks_shift_on_absorb():
    a = Chunked(line=np.int64, sig=(np.uint32, (3,)))
    for i in range(ROW_BUFFER + 2):  # past one spill of the row buffer
        a.append(line=i, sig=[i, i, i])
    a.extend(line=np.array([-1, -2]), sig=np.zeros((2, 3)))
    b = Chunked(line=np.int64, sig=(np.uint32, (3,)))
    b.append(line=0, sig=[7, 8, 9])
    a.absorb(b, {"line": 1000})
    lines = a.column("line")
    assert len(a) == ROW_BUFFER + 5 == len(lines) and len(b) == 0
    assert lines[: ROW_BUFFER + 2].tolist() == list(range(ROW_BUFFER + 2))
    assert lines[-3:].tolist() == [-1, -2, 1000]
    assert a.column("sig")[-1].tolist() == [7, 8, 9] and a.column("sig").dtype == np.uint32
