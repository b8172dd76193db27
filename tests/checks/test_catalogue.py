"""Every check is complete: code, name, docstring sections, a case file, a default.yaml entry,
and its documented Bad example really triggers it while its Good example does not."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import orjson
import pytest
import yaml

from dataprep import checks, resources
from dataprep.linter import Summary, lint_paths
from dataprep.rulepack import load
from tests import media
from tests.conftest import unescape

SECTIONS = ("Why it hurts training:", "Bad:", "Good:", "Options:", "Fix:")
CASES = Path(__file__).parent / "cases"
MODULES = [pytest.param(m, id=m.NAME) for m in checks.ALL]


@pytest.mark.parametrize("module", MODULES)
def test_identity(module):
    assert re.fullmatch(r"[A-Z]{2}\d{2}", module.CODE)
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", module.NAME)
    assert module.__name__.rsplit(".", 1)[-1] == module.NAME.replace("-", "_")
    assert hasattr(module, "Options")
    assert hasattr(module, "FIX") or hasattr(module, "check") or hasattr(module, "finish")


def test_codes_and_names_are_unique():
    codes = [m.CODE for m in checks.ALL]
    names = [m.NAME for m in checks.ALL]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_has_every_section(module):
    doc = module.__doc__ or ""
    summary = doc.strip().splitlines()[0]
    assert summary.endswith(".") and len(summary) > 20
    positions = [doc.find(s) for s in SECTIONS]
    assert all(p > 0 for p in positions), f"{module.NAME}: missing {SECTIONS}"
    assert positions == sorted(positions), f"{module.NAME}: sections out of order"


@pytest.mark.parametrize("module", MODULES)
def test_case_file_exists(module):
    path = CASES / f"{module.CODE}.yaml"
    assert path.exists(), f"write {path}"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert spec["rule"] == module.NAME
    assert any(c.get("expect") for c in spec["cases"]), "a case must expect a finding"
    assert any(not c.get("expect") for c in spec["cases"]), "a case must expect none"


def test_default_pack_lists_every_rule_and_nothing_else():
    listed = yaml.safe_load((resources.rules_dir() / "default.yaml").read_text())["rules"]
    assert set(listed) == {m.NAME for m in checks.ALL}


def _section(doc: str, name: str) -> str:
    start = doc.index(name) + len(name)
    end = min((doc.find(s, start) for s in SECTIONS if doc.find(s, start) > 0), default=len(doc))
    return textwrap.dedent(doc[start:end]).strip("\n")


def _lint_example(tmp_path: Path, module, block: str, bad_block: str) -> list[str]:
    """Lint a documented example; returns the names of the rules that fired."""
    lines = [line for line in block.splitlines() if line.strip()]
    for line in [line for line in lines if line.startswith("file ")]:  # media the records use
        name, description = line[len("file ") :].split(": ", 1)
        media.make(tmp_path, name, description)
        lines.remove(line)
    info_lines = [line for line in lines if line.startswith("dataset_info.json:")]
    info = None
    if info_lines:
        data_lines = [line for line in lines if line.startswith("data.jsonl:")] or [
            line for line in bad_block.splitlines() if line.strip().startswith("data.jsonl:")
        ]
        records = [line.split(":", 1)[1].strip() for line in data_lines] or [
            '{"question": "What is 2+2?", "answer": "4"}'
        ]
        data = tmp_path / "data.jsonl"
        data.write_bytes(b"".join(unescape(r) + b"\n" for r in records))
        info = tmp_path / "dataset_info.json"
        info.write_text(info_lines[0].split(":", 1)[1].strip())
        paths: list[str] = []
    else:
        array = len(lines) == 1 and lines[0].startswith("[{")
        data = tmp_path / ("data.json" if array else "data.jsonl")
        data.write_bytes(b"".join(unescape(line) + b"\n" for line in lines))
        paths = [str(data)]
    summary = Summary()
    found = list(lint_paths(paths, load(), summary, info=str(info) if info else None))
    assert not summary.errors, summary.errors
    return [f.name for f in found]


@pytest.mark.parametrize("module", MODULES)
def test_documented_examples_are_true(tmp_path, module):
    if getattr(module, "EXAMPLES", "") == "described":
        # Whole datasets or models in words (off-policy-chosen needs SFT data, the token rules
        # a tokenizer): the case file runs real ones instead.
        spec = yaml.safe_load((CASES / f"{module.CODE}.yaml").read_text(encoding="utf-8"))
        assert all("sft_lines" in c or "lengths" in c for c in spec["cases"])
        return
    doc = module.__doc__
    bad, good = _section(doc, "Bad:"), _section(doc, "Good:")
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    assert module.NAME in _lint_example(tmp_path / "bad", module, bad, bad)
    assert module.NAME not in _lint_example(tmp_path / "good", module, good, bad)


def test_doc_example_json_is_json_where_it_should_be():
    # The Good examples of record-level rules are valid JSON records, so users can paste them.
    for module in checks.ALL:
        for line in _section(module.__doc__, "Good:").splitlines():
            line = line.strip()
            if line.startswith("{"):  # `file NAME: ...` lines describe media, not records
                orjson.loads(line)
