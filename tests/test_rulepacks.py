"""Rule packs: every bundled pack loads; a bad pack lists every problem at once and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataprep import resources, rulepack
from dataprep.errors import ConfigError


@pytest.mark.parametrize(
    "path", sorted(resources.rules_dir().rglob("*.yaml")), ids=lambda p: p.name
)
def test_every_bundled_pack_loads(path):
    pack = rulepack.load(path)
    assert pack.settings


def test_strict_extends_default():
    pack = rulepack.load(resources.rule_pack("strict"))
    assert pack.settings["duplicate-key"].severity == "error"
    assert pack.settings["invalid-json"].severity == "error"


def test_bad_pack_reports_every_problem(tmp_path, cli):
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "extends: default\n"
        "colour: red\n"
        "rules:\n"
        "  role-ordr: {severity: error}\n"
        "  duplicate-key: {severity: fatal, enabled: maybe, level: 3}\n"
        "  invalid-json: {options: {strict: true}}\n"
    )
    with pytest.raises(ConfigError) as exc:
        rulepack.load(pack)
    problems = sorted(exc.value.problems)
    assert problems == sorted(
        [
            f"{pack}: unknown key 'colour' (a pack has `extends`, `rules`, `select`, `ignore`)",
            f"{pack}: rules.role-ordr: unknown rule (did you mean 'role-order'?)",
            f"{pack}: rules.duplicate-key.severity: 'fatal' is not one of error, warning, info",
            f"{pack}: rules.duplicate-key.enabled: must be true or false, not 'maybe'",
            f"{pack}: rules.duplicate-key: unknown key 'level' (severity, enabled, options)",
            f"{pack}: rules.invalid-json.options: unknown option 'strict' (known: none)",
        ]
    )
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "hi", "output": "hello"}\n')
    code, out, err = cli("lint", data, "--rules", pack)
    assert code == 2 and out == ""
    assert "6 problem(s)" in err and "role-ordr" in err and "level" in err


def test_pack_can_turn_a_rule_off_and_change_severity(tmp_path, cli):
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "extends: default\nrules:\n  missing-field: {enabled: false}\n  wrong-type: {severity: info}\n"
    )
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "hi"}\n{"instruction": "hi", "output": 3}\n')
    code, out, _ = cli("lint", data, "--rules", pack, "--format", "parsable")
    assert code == 0
    assert out == f"{data}:2:output: [info] 'output' is a number, not text (PA06 wrong-type)\n"


def test_extends_loop_is_reported(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("extends: b.yaml\n")
    b.write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError) as exc:
        rulepack.load(a)
    assert any("loops back" in p for p in exc.value.problems)


def test_packs_ship_in_the_wheel(tmp_path):
    """rules/ is package data: build the wheel and look inside."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    (wheel,) = tmp_path.glob("llm_dataprep-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dataprep/_rules/default.yaml" in names and "dataprep/_rules/strict.yaml" in names
    shipped = {n for n in names if n.endswith(".py")}
    for package in ("dataprep", "train"):
        for path in (root / package).rglob("*.py"):
            assert str(path.relative_to(root)) in shipped, f"{path} is not in the wheel"
