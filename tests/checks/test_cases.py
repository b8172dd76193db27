r"""One parametrised runner over tests/checks/cases/<CODE>.yaml: real bad and good records per rule.

A case gives `lines` (JSONL, `\xNN` for raw bytes) or `text` (a whole file), an optional
`suffix`, `input_format` or `dataset_info` entry, and the exact findings the rule must report:
`sft_lines` are written to sft.jsonl and passed as `--sft`; `lengths` measures token lengths
({tokenizer: default | named-qwen2.5 | tiny, chat_template, eos_token, specials, template, cutoff_len}:
"named-qwen2.5" the bundled Qwen2.5 as if named with --tokenizer, not as the stand-in estimate; "tiny" is a small BPE trained here, tests/tokenizers.py); `files` maps names to media descriptions (tests/media.py) made next to the data, and
`expect` is a list of {line, field, message} (message: a substring), in order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
import yaml

from dataprep import checks, templates, tokenizer
from dataprep.formats import Spec, resolve_format
from dataprep.linter import LengthSetup, Summary, lint_paths
from dataprep.rulepack import load
from tests import media, tokenizers
from tests.conftest import unescape

CASES = Path(__file__).parent / "cases"


def _cases():
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in spec["cases"]:
            yield pytest.param(spec["rule"], case, id=f"{path.stem}-{case['name']}")


def run_case(tmp_path: Path, rule: str, case: dict) -> list:
    data = tmp_path / f"data{case.get('suffix', '.jsonl')}"
    if "text" in case:
        data.write_bytes(unescape(case["text"]))
    else:
        data.write_bytes(b"".join(unescape(line) + b"\n" for line in case["lines"]))
    for name, description in case.get("files", {}).items():
        media.make(tmp_path, name, description)
    info = None
    paths = [str(data)]
    if "dataset_info" in case:
        entry = {"file_name": data.name, **case["dataset_info"]}
        info = tmp_path / "dataset_info.json"
        info.write_bytes(orjson.dumps({"my_data": entry}, option=orjson.OPT_INDENT_2))
        paths = []
    spec = Spec(formatting=resolve_format(case["input_format"])) if "input_format" in case else None
    summary = Summary()
    sft = None
    if "sft_lines" in case:
        sft_path = tmp_path / "sft.jsonl"
        sft_path.write_bytes(b"".join(unescape(line) + b"\n" for line in case["sft_lines"]))
        sft = [str(sft_path)]
    setup = _setup(tmp_path, case["lengths"]) if "lengths" in case else None
    found = list(
        lint_paths(
            paths, load(), summary, spec=spec, info=str(info) if info else None, sft=sft,
            lengths=setup,
        )
    )  # fmt: skip
    assert not summary.errors, summary.errors
    return [f for f in found if f.name == rule]


def _setup(tmp_path: Path, options: dict) -> LengthSetup:
    if options.get("tokenizer", "default") == "default":
        model = tokenizer.load(None)
    elif options["tokenizer"] == "named-qwen2.5":  # the bundled files as a named model's
        model = dataclasses.replace(tokenizer.load(None), estimate=False)
    else:
        folder = tokenizers.make(
            tmp_path / "tok",
            chat_template=options.get("chat_template"),
            eos_token=options.get("eos_token"),
            specials=tuple(options.get("specials", ())),
        )
        model = tokenizer.load(str(folder))
    template = templates.resolve(
        options.get("template", "auto"), model.chat_template, model.special
    )
    missing = template is None
    template = template or templates.resolve("default", None, model.special)
    return LengthSetup(model, template, missing, None, options.get("cutoff_len"))


@pytest.mark.parametrize(("rule", "case"), list(_cases()))
def test_case(tmp_path, rule, case):
    assert checks.get(rule) is not None, f"unknown rule {rule}"
    found = run_case(tmp_path, rule, case)
    expected = case.get("expect", [])
    got = [(f.line, f.field, f.message) for f in found]
    assert len(found) == len(expected), f"expected {expected}, got {got}"
    for finding, want in zip(found, expected, strict=True):
        if "line" in want:
            assert finding.line == want["line"], got
        if "field" in want:
            assert finding.field == want["field"], got
        if "message" in want:
            assert want["message"] in finding.message, got
        assert finding.code == checks.get(rule).CODE
