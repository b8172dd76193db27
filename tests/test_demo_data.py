"""Real LLaMA-Factory demo files (tests/data, copied) and the full corpora in ../shared.

The demo data is clean: lint must report no structural error or warning on it. The
real-world corpus has known defects (its SOURCE.md files count them): lint must find them.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from dataprep.linter import Summary, lint_paths
from tests.conftest import DATA, LLAMAFACTORY, REALWORLD, needs_shared


def lint(paths, **kwargs):
    summary = Summary()
    findings = list(lint_paths([str(p) for p in paths], None, summary, **kwargs))
    return findings, summary


STRUCTURAL = ("PA", "ST", "LF")  # parse, structure and LLaMA-Factory config rules


def serious(findings):
    """Structural errors and warnings (content rules report real defects in the demo data)."""
    return [f for f in findings if f.severity != "info" and f.code.startswith(STRUCTURAL)]


def test_copied_demo_files_are_clean():
    files = sorted(
        p
        for p in DATA.iterdir()
        if p.suffix in (".json", ".jsonl") and p.name != "dataset_info.json"
    )
    findings, summary = lint(files)
    assert serious(findings) == []
    assert not summary.errors
    formats = {s.path.rsplit("/", 1)[-1]: dict(s.formats) for s in summary.files}
    assert formats["v1_dpo_demo.jsonl"] == {("trl", "dpo"): 10}
    assert formats["mllm_demo.json"] == {("openai", "sft"): 6}
    assert formats["reason_tool_use_demo_5.jsonl"] == {("openai", "sft"): 5}


def test_copied_demo_files_through_dataset_info():
    findings, summary = lint([], info=str(DATA / "dataset_info.json"))
    assert serious(findings) == [] and not summary.errors
    assert summary.records == 91 + 6


@needs_shared
def test_every_llamafactory_demo_file_has_no_false_structural_finding():
    files = sorted(
        p for p in LLAMAFACTORY.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl", ".txt")
    )
    files.remove(LLAMAFACTORY / "dataset_info.json")
    findings, summary = lint(files)
    assert serious(findings) == []
    assert not summary.errors
    # alpaca en/zh, identity, six 300-record files, mllm demos, pretrain, v1 files
    assert summary.records == 999 + 1000 + 91 + 300 * 6 + 6 + 3 * 3 + 30 + 50 + 10 + 24 + 500


@needs_shared
def test_llamafactory_dataset_info_with_its_exact_semantics():
    findings, summary = lint([], info=str(LLAMAFACTORY / "dataset_info.json"))
    assert serious(findings) == []
    assert not summary.errors
    assert len(summary.files) == 14 and len(summary.skipped) == 90


@needs_shared
def test_hh_rlhf_prefix_mismatches_and_consecutive_turns():
    findings, summary = lint([REALWORLD / "hh_rlhf_harmless_test" / "test.jsonl.gz"])
    assert summary.records == 2312
    by_rule = Counter(f.name for f in serious(findings))
    # SOURCE.md: "5 pairs whose dialogue prefixes differ"
    assert by_rule["prompt-mismatch"] == 5
    assert {f.line for f in findings if f.name == "prompt-mismatch"} == {
        1255,
        1689,
        1951,
        1953,
        2037,
    }
    assert by_rule["role-order"] == 4


@needs_shared
def test_sharegpt_scrapes():
    findings, summary = lint([REALWORLD / "sharegpt_en_first_prompts"])
    by_rule = Counter(f.name for f in serious(findings))
    assert summary.records == 2978
    assert by_rule["empty-conversation"] == 16  # the ChatHub/TypingMind banner records
    assert (
        by_rule["no-final-response"] + by_rule["empty-conversation"] + by_rule["role-order"] == 2978
    )
    findings, summary = lint([REALWORLD / "sharegpt_zh_gpt4" / "sharegpt_zh_1K_format.jsonl"])
    assert summary.records == 1000
    # SOURCE.md: "7 conversations ending on a human turn"
    assert Counter(f.name for f in serious(findings)) == Counter({"no-final-response": 7})


@needs_shared
@pytest.mark.parametrize(
    ("path", "records", "fmt"),
    [
        ("alpaca_original_5k/alpaca_5000.json", 5000, ("alpaca", "sft")),
        ("alpaca_zh_machine_translated/zh-data-part-00.json", 10021, ("alpaca", "sft")),
        ("belle_zh/dev1K.json", 1000, ("alpaca", "sft")),
        ("belle_zh/Belle_open_source_1k.json", 1000, ("alpaca", "sft")),
        ("dpo_zh_medicalgpt/dpo_zh_500.jsonl", 500, ("sharegpt", "dpo")),
        (
            "gpteacher_roleplay/roleplay-simple-deduped-roleplay-dataset.json",
            3146,
            ("alpaca", "sft"),
        ),
        ("llava_scienceqa_test/llava_test_CQM-A.json", 4241, ("sharegpt", "sft")),
    ],
)
def test_structurally_sound_real_files(path, records, fmt):
    findings, summary = lint([REALWORLD / path])
    assert serious(findings) == []
    assert summary.records == records
    assert dict(summary.files[0].formats) == {fmt: records}


@needs_shared
def test_one_line_array_records_are_told_apart():
    from dataprep import readers

    source = readers.expand([str(REALWORLD / "alpaca_original_5k" / "alpaca_5000.json")])[0]
    found = list(readers.read_source(source))
    assert {r.line for r in found} == {1}  # the whole array is on one line
    assert [r.index for r in found] == list(range(5000))
    assert all(not r.problems for r in found)


@needs_shared
def test_seed_tasks_have_no_output_field():
    findings, _ = lint([REALWORLD / "alpaca_original_5k" / "seed_tasks.jsonl"])
    assert Counter((f.name, f.field) for f in findings) == Counter(
        {("missing-field", "output"): 175}
    )


@needs_shared
@pytest.mark.parametrize(
    "name", ["hh-rlhf/train.jsonl.gz", "llava-med/llava_med_instruct_10k.json"]
)
def test_lfs_pointer_stubs(cli, name):
    code, out, err = cli("lint", REALWORLD / "lfs_pointer_stubs" / name, "--format", "json")
    assert (code, out) == (2, "")
    assert "Git LFS pointer" in err and "git lfs pull" in err


@needs_shared
def test_json_output_of_a_real_file_is_valid_json_lines(cli):
    path = REALWORLD / "hh_rlhf_harmless_test" / "test.jsonl.gz"
    code, out, _ = cli("lint", path, "--format", "json", "--select", "prompt-mismatch,role-order")
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 9 and all(r["path"].endswith("test.jsonl.gz") for r in rows)
