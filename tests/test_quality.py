"""The labelled quality set (bench/quality.py): per-rule recall stays at the issue's bar."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import SHARED, needs_shared

ROOT = Path(__file__).resolve().parent.parent


def _quality():
    spec = importlib.util.spec_from_file_location("quality", ROOT / "bench" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_shared
def test_recall_and_untouched_rate_on_the_labelled_set():
    quality = _quality()
    records, labels = quality.build(SHARED, per_rule=40, seed=0)
    result = quality.evaluate(records, labels)
    for rule, (hit, total) in result["recall"].items():
        bar = 0.8 if rule == "style-inconsistent" else 0.95
        assert hit / total >= bar, f"{rule}: recall {hit}/{total}"
    # Untouched demo records carry real defects of their own (disclaimers, duplicates); the
    # rate stays where it was measured, so a new false-positive source shows up here.
    assert result["flagged"] / result["untouched"] <= 0.045
