"""Project configuration found by walking up, baselines, and the pre-commit hook."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import write_lines

LINES = [
    '{"instruction": "Name a prime number.", "input": "", "output": "7"}',
    '{"instruction": "Describe a sunset.", "input": "", "output": ""}',
    '{"instruction": "Say hi.", "input": "", "output": "<p>Hi</p>"}',
]


def test_dataprep_yaml_is_found_walking_up(cli, tmp_path):
    (tmp_path / ".dataprep.yaml").write_text(
        "ignore: [html-markup]\nrules:\n  empty-output: {severity: warning}\n"
    )
    (tmp_path / "data" / "sub").mkdir(parents=True)
    data = write_lines(tmp_path / "data" / "sub" / "d.jsonl", LINES)
    code, out, _ = cli("lint", data, "--format", "parsable")
    assert code == 0  # empty-output is only a warning here, html-markup is ignored
    assert out == f"{data}:2:output: [warning] the answer is empty (CT01 empty-output)\n"
    code, out, _ = cli("lint", data, "--format", "parsable", "--no-config")
    assert code == 1 and "[error] the answer is empty" in out and "html-markup" in out


def test_pyproject_tool_dataprep(cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.dataprep]\nselect = ["empty-output"]\n'
    )
    data = write_lines(tmp_path / "d.jsonl", LINES)
    code, out, _ = cli("lint", data, "--format", "parsable")
    assert code == 1
    assert out == f"{data}:2:output: [error] the answer is empty (CT01 empty-output)\n"


def test_a_bad_project_config_fails_with_every_problem(cli, tmp_path):
    (tmp_path / ".dataprep.yaml").write_text(
        "select: [empty-ouput]\nrules:\n  html-markup: {severity: loud}\n"
    )
    data = write_lines(tmp_path / "d.jsonl", LINES)
    code, out, err = cli("lint", data)
    assert code == 2 and out == ""
    assert "unknown rule 'empty-ouput' (did you mean 'empty-output'?)" in err
    assert "'loud' is not one of error, warning, info" in err


def test_baseline_reports_only_new_findings(cli, tmp_path):
    data = write_lines(tmp_path / "d.jsonl", LINES)
    base = tmp_path / "baseline.json"
    code, out, err = cli("lint", data, "--write-baseline", base)
    assert (code, out) == (0, "") and "wrote 2 findings" in err
    body = json.loads(base.read_text())
    assert body["version"] == 1 and len(body["findings"]) == 2
    # Nothing new: clean exit.
    assert cli("lint", data, "--baseline", base, "--format", "json")[:2] == (0, "")
    # Records move (a line is inserted above) and a new defect appears: only it is reported.
    write_lines(
        data,
        [
            '{"instruction": "What is 2+2?", "input": "", "output": "4"}',
            *LINES,
            '{"instruction": "", "input": "", "output": "x"}',
        ],
    )
    code, out, _ = cli("lint", data, "--baseline", base, "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [(r["line"], r["name"]) for r in rows] == [(5, "empty-instruction")]


def test_baseline_errors(cli, tmp_path):
    data = write_lines(tmp_path / "d.jsonl", LINES)
    bad = tmp_path / "b.json"
    bad.write_text("[]")
    code, _, err = cli("lint", data, "--baseline", bad)
    assert code == 2 and "not a version-1 baseline file" in err


def test_pre_commit_hook_definition():
    hooks = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text()
    )
    (hook,) = hooks
    assert hook["id"] == "dataprep-lint" and hook["entry"] == "dataprep lint"
    assert hook["language"] == "python"
