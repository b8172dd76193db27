"""The package's public API: what the CLI does, as three calls a script can make."""

from __future__ import annotations

import json
import subprocess
import sys

import dataprep
from dataprep.builder import Input, Options, check
from dataprep.linter import PackArgs, Summary
from dataprep.measure import length_setup

GOOD = {"instruction": "Name a primary colour.", "output": "Red is a primary colour."}
BAD = {"instruction": "Say hi", "output": "<script>alert(1)</script>"}


def _data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (GOOD, BAD, GOOD)))
    return path


def test_lint_paths_streams_what_lint_prints(tmp_path):
    path = _data(tmp_path)
    summary = Summary()
    found = list(dataprep.lint_paths([str(path)], None, summary))
    assert {(f.line, f.name) for f in found} >= {(2, "script-content"), (3, "exact-duplicate")}
    assert summary.records == 3


def test_build_writes_shards_the_check_accepts(tmp_path):
    path = _data(tmp_path)
    result = dataprep.build(
        [Input((str(path),))], str(tmp_path / "out"), length_setup(), PackArgs(),
        Options(cutoff_len=256),
    )  # fmt: skip
    import datasets

    counts = result.manifest["counts"]
    assert counts["read"] == 3 and counts["kept"] + counts["rejected_records"] == 3
    # The script is fixed away, which leaves an empty answer; the third record repeats the first.
    assert counts["fixed"] == {"script-content": 1}
    assert counts["rejected"] == {"empty-output": 1, "exact-duplicate": 1}
    assert check(str(tmp_path / "out")) == []
    assert len(datasets.load_from_disk(str(tmp_path / "out"))["train"]) == 1


def test_render_report_escapes_the_data(tmp_path):
    page = dataprep.render_report([str(_data(tmp_path))])
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype")
    assert "<script>alert(1)</script>" not in page
    assert "script-content" in page


def test_import_dataprep_loads_none_of_the_library():
    code = "import sys, dataprep; print(sorted(m for m in sys.modules if m.startswith('dataprep')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['dataprep']"
