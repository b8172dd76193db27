"""The batched engine against the reference path (every check on every record, one at a time).

A rule's prefilter must be a necessary condition of its check, and the batch keys of the
dataset checks must have the equality of the per-record keys: then both paths give the same
findings, in the same order. Inputs: the rules' own case files (each rule's bad and good
records, edge cases included), the bundled test data, records made to sit on the seams between
Python's and Rust's text semantics, and, where it is present, every file of ../shared/corpus.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from dataprep import engine
from dataprep.linter import Summary, lint_paths
from dataprep.rulepack import load

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"


def both(paths: list[str], **kwargs) -> tuple[list, list]:
    pack = load()
    new = list(lint_paths(paths, pack, Summary(), reference=False, **kwargs))
    old = list(lint_paths(paths, pack, Summary(), reference=True, **kwargs))
    return new, old


def case_lines() -> list[str]:
    """Every record line of every rule's case file, in order."""
    lines = []
    for path in sorted((HERE / "checks" / "cases").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            lines.extend(case.get("lines", []))
    return lines


# Records on the seams between Python's str methods and re, and Rust's regex and string
# kernels: U+001C..U+001F are whitespace to Python only, U+0130 lowers to two characters,
# code spans hide text from rules, and a blank system prompt is no system prompt.
SEAMS = [
    {"instruction": "Say it.", "input": "", "output": "\x1c\x1d "},
    {"instruction": "\x1f", "input": "", "output": "ok then"},
    {"instruction": "Who made you?", "input": "", "output": "As an AI language model, I cannot."},
    {"instruction": "Who made you?", "input": "", "output": "I was trained by OpenAİ to help."},
    {"instruction": "Show me.", "input": "", "output": "Use `<b>` like <b>this</b> please."},
    {"instruction": "Show me.", "input": "", "output": "<İmg src=x onerror=alert(1)>"},
    {"instruction": "Show me.", "input": "", "output": "<a`x`onclick=run()>go</a>"},
    {"instruction": "Loop.", "input": "", "output": "One two three four.\x1c " * 6},
    {"instruction": "Loop.", "input": "", "output": "Same line here `c` ok. " * 5 + "end"},
    {"instruction": "Loop.", "input": "", "output": "```\nx = 1\n```\nRepeat this line.\n" * 6},
    {
        "instruction": "你好吗？请告诉我你今天过得怎么样。",
        "input": "",
        "output": "I am fine, thank you very much.",
    },
    {
        "instruction": "Answer in one sentence please, my friend.",
        "input": "",
        "output": "我很好，谢谢你的关心。",
    },
    {"instruction": "Repeat after me", "input": "hello there", "output": "hello there"},
    {
        "instruction": "Describe the sky in one line.",
        "input": "",
        "output": "Describe the sky in one line.",
    },
    {
        "instruction": "Summarize this text.",
        "input": "The cat sat on the mat.",
        "output": "The cat sat on the mat.",
    },
    # Input placeholders that only NFKC, zero-width removal, squeezing or case make equal.
    *(
        {
            "instruction": "Rewrite it politely.",
            "input": given,
            "output": "Would you please pass me the salt, if it is not too much trouble?",
        }
        for given in (
            "\uff4e\uff4f\u3000\uff49\uff4e\uff50\uff55\uff54",
            "N/A.",
            "no\u200b input",
            "  None  ",
            "\u65e0\u8f93\u5165\u3002",
            "No   Input!",
            "\u2460",
            "(empty)",
            "\u2028null",
            "Not\u00a0Applicable",
        )
    ),
]


def test_rule_cases_give_the_same_findings(tmp_path):
    data = tmp_path / "cases.jsonl"
    data.write_text("\n".join(case_lines()) + "\n")
    new, old = both([str(data)])
    assert len(old) > 200  # the case files hold a few hundred bad records
    assert new == old


def test_seams_and_batch_boundaries_give_the_same_findings(tmp_path, monkeypatch):
    records = []
    for i in range(40):  # duplicates and near-duplicates across batches of 7
        records.extend(SEAMS)
        records.append({"instruction": f"Task {i % 5}", "input": "", "output": f"answer {i}"})
    # The same answer from another role is the same answer: no conflict (a call, then text).
    for role in ("gpt", "function_call"):
        turns = [{"from": "human", "value": "Weather?"}, {"from": role, "value": "Sunny."}]
        records.append({"conversations": turns})
    records.append({"system": "", "instruction": "Hi", "output": "there"})
    records.append({"system": "  ", "instruction": "Hi", "output": "there"})
    data = tmp_path / "seams.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    monkeypatch.setattr(engine, "BATCH", 7)
    monkeypatch.setattr("dataprep.linter.BATCH", 7)
    new, old = both([str(data)])
    names = {f.name for f in old}
    for name in ("empty-output", "ai-disclaimer", "html-markup", "script-content", "repetition",
                 "language-mismatch", "echo-output", "exact-duplicate", "conflicting-duplicate", "placeholder-output"):  # fmt: skip
        assert name in names, name
    assert new == old


def test_bundled_data_gives_the_same_findings():
    files = [
        str(p) for p in sorted((HERE / "data").glob("*.json*")) if p.name != "dataset_info.json"
    ]
    new, old = both(files)
    assert new == old


def test_parallel_chunks_give_the_same_findings(tmp_path):
    data = tmp_path / "big.jsonl"
    line = case_lines()
    with open(data, "w") as f:
        while f.tell() < 9 << 20:  # over the --jobs threshold
            f.write("\n".join(line) + "\n")
    pack = load()
    serial = list(lint_paths([str(data)], pack, Summary(), reference=True))
    parallel = list(lint_paths([str(data)], pack, Summary(), jobs=2, reference=False))
    assert parallel == serial


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in CORPUS.rglob("*")
        if p.name.endswith((".json", ".jsonl", ".jsonl.gz")) and p.name != "dataset_info.json"
    )  # fmt: skip


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_real_datasets_give_the_same_findings(path):
    new, old = both([str(path)])
    assert new == old, json.dumps([f.name for f in new if f not in old][:5])


def test_python_whitespace_is_the_engines():
    from dataprep.columns import PY_WHITESPACE

    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == PY_WHITESPACE


def test_squeezed_is_pythons_split_and_join():
    import random

    import polars as pl

    from dataprep.columns import PY_WHITESPACE, squeezed

    rng = random.Random(7)
    alphabet = [*PY_WHITESPACE, "a", "b", "\u4e00", "\u200b", "-"]
    texts = ["", " ", "a b", *PY_WHITESPACE]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(3000)]
    found = pl.select(squeezed(pl.Series(texts))).to_series().to_list()
    assert found == [" ".join(t.split()) for t in texts]


def test_small_inputs_skip_the_engine(tmp_path):
    """Under a megabyte, records are checked one at a time (no polars import, same findings)."""
    data = tmp_path / "small.jsonl"
    data.write_text("\n".join(case_lines()) + "\n")
    probe = (
        "import sys; from dataprep.linter import Summary, lint_paths; "
        f"n = sum(1 for _ in lint_paths([{str(data)!r}], None, Summary())); "
        "print(n, 'polars' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    count, imported = out.stdout.split()
    assert int(count) > 200 and imported == "False"


STYLE_SEAMS = [
    "Hello there, friend.",
    "  'Quoted' opening here",
    '"Double" quoted',
    "\\backslash first",
    "\u3000全角空格开头的回答。",
    "「引号」开头的回答。",
    "中'文'混合",
    "Café au lait, s'il vous plaît.",
    "Élan vital is a term.",
    "ÅÄÖ letters here",
    "1. First\n2. Second",
    "١. Arabic-Indic digits",
    "\x1c\x1dSeparators first",
    "...",
    "!!!",
    "_under_score start",
    "x" * 500,
    "**bold** start",
    "# Heading\ntext",
    "| a | b |",
    "😀 emoji first",
    "\u200bzero width first",
    "한국어 답변입니다",
    "日本語の回答です。",
    "Ωmega Greek start",
]


def test_style_measurements_in_rust_are_pythons():
    """The batch path's style tuple and task key for each answer equal the per-record path's."""
    from dataprep.checks.consistency import style_inconsistent as style
    from dataprep.columns import Batch
    from dataprep.formats import normalise
    from dataprep.records import Record

    prompts = ["Say hello.", "总结下面的文章。\n文章一", "Ünïcode task?", "", "  spaced  "]
    values = [
        {"instruction": prompts[i % len(prompts)], "input": "", "output": answer}
        for i, answer in enumerate(STYLE_SEAMS)
    ]
    records = [Record("seams.jsonl", i + 1, i, value, b"") for i, value in enumerate(values)]
    samples = [normalise(r, None)[0] for r in records]
    batched, single = style.new_state(None), style.new_state(None)
    style.observe_batch(batched, Batch(samples), records)
    for record, sample in zip(records, samples, strict=True):
        style.observe(single, record, sample)

    def rows(state):
        table = list(state["styles"])
        found = state["rows"]
        return list(
            zip(
                found.column("task").tolist(),
                [table[i] for i in found.column("style").tolist()],
                found.column("line").tolist(),
                strict=True,
            )
        )

    assert rows(batched) == rows(single) and len(rows(single)) == len(STYLE_SEAMS)


def test_ascii_letters_count_what_cjk_share_counts():
    """The numpy count over Arrow's UTF-8 bytes, on nulls, empty strings and slices too."""
    import random

    import polars as pl

    from dataprep.columns import ascii_letters
    from dataprep.text import cjk_share

    rng = random.Random(1)
    alphabet = ["a", "Z", "\u4e2d", "\u00e9", " ", "[", "`", "@", "{", "\U0001f600"]
    for _ in range(300):
        texts = [
            None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randint(0, 6)))
            for _ in range(rng.randint(1, 8))
        ]
        expected = [cjk_share(t or "", 10**6)[1] for t in texts]
        series = pl.Series(texts, dtype=pl.String)
        assert ascii_letters(series).tolist() == expected
        start = rng.randint(0, len(texts) - 1)
        assert ascii_letters(series.slice(start)).tolist() == expected[start:]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
def test_quality_sets_give_the_same_findings(tmp_path, monkeypatch):
    """The labelled sets of bench/quality.py and bench/quality_pairs_images.py (defects
    injected into LLaMA-Factory's demo records, real broken image files)."""
    import random

    monkeypatch.syspath_prepend(str(HERE.parent / "bench"))
    import quality
    import quality_pairs_images

    shared = CORPUS.parent
    records, _ = quality.build(shared, 40, 0)
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    rng = random.Random(0)
    pairs, _ = quality_pairs_images.build_pairs(shared, 40, rng)
    pair_file = tmp_path / "pairs.jsonl"
    pair_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pairs))
    root = tmp_path / "data"
    root.mkdir()
    images, _ = quality_pairs_images.build_images(shared, 40, rng, root)
    image_file = root / "mllm.jsonl"
    image_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in images))
    for path in (labelled, pair_file, image_file):
        new, old = both([str(path)])
        assert len(old) > 40 and new == old, path.name
