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


def test_merge_capped_shifts_rows_and_counts_what_the_cap_leaves_out():
    from dataprep.chunked import merge_capped

    a = {"rows": [(1, 0, "x")], "more": 0}
    b = {"rows": [(1, 0, "y"), (4, 2, "z"), (9, 5, "w")], "more": 2}
    merge_capped(a, b, "rows", (10, 7), keep=3)
    assert a["rows"] == [(1, 0, "x"), (11, 7, "y"), (14, 9, "z")]
    assert a["more"] == 3  # b's own two, and the row the cap left out


def test_records_past_the_cap_are_reported_not_dropped(monkeypatch):
    from dataprep.checks.preference import invalid_kto_label as rule
    from dataprep.records import Record

    class Ctx:
        path = "kto.jsonl"

    monkeypatch.setattr(rule, "KEEP", 3)
    state = rule.new_state(Ctx)
    for i in range(6):
        label = True if i == 0 else "no"
        rule.observe(state, Record("kto.jsonl", i + 1, i, {"label": label}, b""), None)
    hits = list(rule.finish(state, rule.Options(), Ctx))
    assert [h.where.line for h in hits[:3]] == [2, 3, 4]
    assert hits[3].where.line is None and hits[3].message.startswith("2 more records")
