"""The CLI contract: exact output, exit codes 0/1/2, and help that ends with an example."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dataprep import checks
from dataprep.cli import _parser
from dataprep.findings import FIELDS
from tests.conftest import write_lines

LINES = [
    '{"instruction": "Name a prime number.", "output": "7"}',
    '{"instruction": "What is 6*7?", "output": 42}',
    '{"instruction": "Capital of France?", "output": "Paris", "output": "Lyon"}',
    '{"instruction": "Say hi."}',
]


@pytest.fixture
def data(tmp_path):
    return write_lines(tmp_path / "data.jsonl", LINES)


def test_text_output_is_grouped_with_a_summary(cli, data):
    code, out, err = cli("lint", data)
    assert (code, err) == (1, "")
    assert out == (
        f"{data}: 4 records (alpaca sft ×4)\n"
        "\n"
        "error   PA05 missing-field ×1  A field the record's format requires is absent.\n"
        f"    {data}:4 output: no 'output': nothing to learn\n"
        "    fix: add the missing field, or drop the record\n"
        "error   PA06 wrong-type ×1  A field holds the wrong JSON type (a number where text "
        "belongs, an object for a list...).\n"
        f"    {data}:2 output: 'output' is a number, not text\n"
        "    fix: store the value with the type its format expects (text as a JSON string)\n"
        "warning PA09 duplicate-key ×1  A record that names the same top-level key twice.\n"
        f"    {data}:3 output: key 'output' appears 2 times; only the last value is kept\n"
        "    fix: keep one 'output' in the record (merge or delete the others)\n"
        "\n"
        "4 records in 1 file: 2 errors, 1 warning, 0 info\n"
    )


def test_json_output_is_json_lines_with_the_contract_fields(cli, data):
    code, out, err = cli("lint", data, "--format", "json")
    assert (code, err) == (1, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [list(r) for r in rows] == [list(FIELDS)] * 3
    assert rows[0] == {
        "path": str(data),
        "line": 2,
        "record": 1,
        "code": "PA06",
        "name": "wrong-type",
        "severity": "error",
        "field": "output",
        "message": "'output' is a number, not text",
        "fix": "store the value with the type its format expects (text as a JSON string)",
    }


def test_github_and_parsable_formats(cli, data):
    _, out, _ = cli("lint", data, "--format", "github", "--select", "wrong-type")
    assert out == (
        f"::error file={data},line=2,title=wrong-type (PA06)::output: 'output' is a number, "
        "not text. Fix: store the value with the type its format expects (text as a JSON string)\n"
    )
    _, out, _ = cli("lint", data, "--format", "parsable", "--select", "PA05")
    assert out == f"{data}:4:output: [error] no 'output': nothing to learn (PA05 missing-field)\n"


def test_exit_codes_select_ignore_and_strict(cli, data):
    assert cli("lint", data, "--select", "duplicate-key")[0] == 0  # a warning only
    assert cli("lint", data, "--select", "duplicate-key", "--strict")[0] == 1
    assert cli("lint", data, "--ignore", "PA05,wrong-type", "--format", "json")[0] == 0
    code, out, err = cli("lint", data, "--select", "wrong-typ")
    assert (code, out) == (2, "")
    assert "--select: unknown rule 'wrong-typ' (did you mean 'wrong-type'?)" in err


def test_data_format_names_in_format_mean_input_format(cli, tmp_path):
    path = write_lines(tmp_path / "d.jsonl", ['{"instruction": "hi", "output": "hello"}'])
    code, out, _ = cli("lint", path, "--format", "sharegpt", "--select", "missing-field")
    assert code == 1 and "no 'conversations' list of messages" in out
    code, _, err = cli("lint", path, "--format", "yaml")
    assert code == 2 and "unknown --format 'yaml'" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "nothing to lint"),
        (("x.jsonl", "--dataset", "a"), "--dataset needs --dataset-info"),
        (("x.jsonl", "--jobs", "0"), "--jobs must be at least 1"),
        (("--dataset-info", "missing.json"), "cannot read"),
        (("--explain", "no-such-rule"), "no rule 'no-such-rule'"),
    ],
)
def test_usage_errors_exit_2_without_traceback(cli, args, says):
    code, out, err = cli("lint", *args)
    assert code == 2 and out == ""
    assert says in err and "Traceback" not in err


def test_rules_lists_every_rule_and_explains_one(cli):
    code, out, _ = cli("rules")
    assert code == 0
    table, _, note = out.partition("\n\n")
    assert len(table.splitlines()) == len(checks.ALL)
    assert "ORPO and SimPO" in note and "kto-imbalance" in note
    first = out.splitlines()[0].split()
    assert first[:4] == ["PA01", "invalid-json", "error", "A"]
    code, out, _ = cli("rules", "ST03")
    assert code == 0 and out.startswith("ST03 role-order\n\nTurns out of order")
    for section in ("Why it hurts training:", "Bad:", "Good:", "Fix:"):
        assert section in out
    assert cli("lint", "--explain", "role-order")[1] == out


def test_colour_only_when_asked_or_on_a_terminal(cli, data):
    assert "\033[" not in cli("lint", data)[1]
    assert "\033[31m" in cli("lint", data, "--color", "always")[1]


def test_every_command_help_ends_with_an_example():
    parser = _parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"lint", "clean", "report", "stats", "build", "rules"}
    for name, sub in subparsers.items():
        assert "Example" in (sub.epilog or ""), name
        assert f"dataprep {name}" in sub.epilog


def test_console_scripts_run(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", ['{"instruction": "hi", "output": "hello"}'])
    run = subprocess.run(
        [sys.executable, "-m", "dataprep", "lint", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0 and "1 record in 1 file: 0 errors" in run.stdout
    run = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "usage: train" in run.stdout


def test_lint_does_not_import_heavy_libraries(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", ['{"instruction": "hi", "output": "hello"}'])
    probe = (
        f"import sys; from dataprep.cli import main; main(['lint', {str(path)!r}]); "
        # polars (the check engine's) starts with the first input of a megabyte or more.
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'polars') "
        "if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.stdout.splitlines()[-1] == "[]"


def test_a_cached_build_imports_no_engine_tokenizer_or_parser(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", ['{"instruction": "hi", "output": "hello"}'])
    out = tmp_path / "out"
    first = subprocess.run([sys.executable, "-m", "dataprep", "build", str(path), "--out", str(out)],
                           capture_output=True, text=True)  # fmt: skip
    assert first.returncode == 0, first.stderr
    probe = (
        f"import sys; from dataprep.cli import main; main(['build', {str(path)!r}, '--out', "
        f"{str(out)!r}]); print(sorted(m for m in ('polars', 'tokenizers', 'tiktoken', 'jinja2', "
        "'pyarrow', 'orjson', 'dataprep.formats', 'dataprep.checks') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "reused (same cache key)" in run.stdout
    assert run.stdout.splitlines()[-1] == "[]"
