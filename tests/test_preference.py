"""Preference checks on LLaMA-Factory's real DPO demos, and the classifier behind off-policy-chosen."""

from __future__ import annotations

import json

import numpy as np

from dataprep.linter import Summary, lint_paths
from dataprep.separability import auc, separate
from tests.conftest import LLAMAFACTORY, needs_shared

PREFERENCE = ("PR", "ST05", "CT01")


def _lint(paths, **kwargs):
    summary = Summary()
    found = list(lint_paths([str(p) for p in paths], None, summary, **kwargs))
    assert not summary.errors
    return found, summary


def test_auc_is_the_mann_whitney_statistic_with_ties_halved():
    assert auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1])) == 1.0
    assert auc(np.array([0.9, 0.1]), np.array([0, 1])) == 0.0
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75


@needs_shared
def test_demo_dpo_files_have_no_preference_errors():
    paths = [LLAMAFACTORY / "dpo_en_demo.json", LLAMAFACTORY / "dpo_zh_demo.json"]
    found, summary = _lint(paths)
    assert [f for f in found if f.severity == "error"] == []
    assert not [f for f in found if f.name == "length-bias"]  # 43% and 62% chosen-longer
    assert any("chosen longer in 43%" in note for note in summary.notes)


@needs_shared
def test_chosen_from_the_sft_distribution_is_not_reported():
    sft = json.loads((LLAMAFACTORY / "alpaca_en_demo.json").read_text())
    first, second = [r["output"] for r in sft[::2]], [r["output"] for r in sft[1::2]]
    assert 0.4 < separate(first, second).auc < 0.6


@needs_shared
def test_chinese_chosen_after_english_sft_is_reported_with_the_reason():
    found, summary = _lint(
        [LLAMAFACTORY / "dpo_zh_demo.json"], sft=[str(LLAMAFACTORY / "alpaca_en_demo.json")]
    )
    off = [f for f in found if f.name == "off-policy-chosen"]
    assert off[0].line is None and "mostly Chinese in" in off[0].message
    assert "AUC 1.00" in off[0].message
    assert len(off) == 6 and all(f.line for f in off[1:])  # the dataset, then the top 5 pairs
    assert any("classifier AUC" in note for note in summary.notes)


@needs_shared
def test_english_dpo_demo_against_english_sft_is_measured_not_reported():
    found, summary = _lint(
        [LLAMAFACTORY / "dpo_en_demo.json"], sft=[str(LLAMAFACTORY / "alpaca_en_demo.json")]
    )
    assert not [f for f in found if f.name == "off-policy-chosen"]
    (note,) = [n for n in summary.notes if "classifier AUC" in n]
    assert "median length" in note  # chosen answers are three times as long


def test_cli_sft_must_exist(cli, tmp_path):
    data = tmp_path / "dpo.jsonl"
    data.write_text('{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}\n')
    code, _, err = cli("lint", str(data), "--sft", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "--sft" in err
