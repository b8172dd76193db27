"""The progress line appears only after a moment, and is cleared at the end."""

from __future__ import annotations

import io

from dataprep import progress


def test_bar_waits_then_draws_then_clears(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    out = io.StringIO()
    bar = progress.Bar(out)
    tick = bar.for_file("data.jsonl", 200_000_000)
    tick(1_000_000)
    assert out.getvalue() == ""  # quick files never show a bar
    now[0] += 1.0
    tick(100_000_000)
    assert (
        "data.jsonl" in out.getvalue()
        and " 50%" in out.getvalue()
        and "100.0 MB/s" in out.getvalue()
    )
    bar.close()
    assert out.getvalue().endswith("\r\033[K")


def test_cli_draws_no_bar_when_stderr_is_not_a_terminal(cli, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "hi", "output": "hello"}\n' * 20_000)
    code, _, err = cli("lint", path)
    assert (code, err) == (0, "")
