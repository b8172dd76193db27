"""`dataprep build --layout trl` with TRL itself: its trainers train on the builds, through the
README's own snippets, and the pairs are split exactly where TRL's own tokenization splits them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dataprep.cli import main as dataprep_main
from tests.conftest import LLAMAFACTORY, child_env, needs_shared, readme_snippet
from tests.models import tiny_llama
from tests.test_train import DPO_ROWS, SFT_ROWS


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


def _build(folder: Path, rows: list[dict], name: str, model_dir: Path, *extra: str) -> Path:
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = folder / "build" / name
    args = ["build", str(data), "--out", str(out), "--layout", "trl", "--tokenizer",
            str(model_dir), "--cutoff-len", "128", *extra]  # fmt: skip
    assert dataprep_main(args) == 0
    return out


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_trls_trainers_train_on_trl_builds_with_the_readmes_lines(tmp_path, model_dir, kind):
    _build(tmp_path, SFT_ROWS if kind == "sft" else DPO_ROWS, kind, model_dir)
    code = readme_snippet(f"trl-{kind}", "python").replace('"MODEL"', repr(str(model_dir)))
    (tmp_path / "snippet.py").write_text(code)
    run = subprocess.run(
        [sys.executable, "-c", "exec(open('snippet.py').read()); "
         "print('steps', trainer.state.global_step, 'loss', trainer.state.log_history[-1])"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "steps 2 loss" in run.stdout
    if kind == "dpo":  # a fresh policy equals its reference: the loss starts at ln 2
        loss = float(re.search(r"'train_loss': ([\d.]+)", run.stdout).group(1))
        assert abs(loss - 0.6931) < 0.01


def _trl_text(path: Path) -> list[dict]:
    """The records of a file as TRL's conversational preference rows (prompt with its history,
    then the two final answers), as our readers understand them."""
    from dataprep import readers
    from dataprep.formats import normalise
    from dataprep.lengths import rendered

    out = []
    for source in readers.expand([str(path)]):
        for record in readers.read_source(source):
            (chosen, _), (rejected, _) = rendered(normalise(record, None)[0])
            out.append({"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]})
    return out


def test_pairs_are_split_where_trls_own_tokenization_splits_them(tmp_path, model_dir):
    rows = [*DPO_ROWS, {"prompt": "Count to three.", "chosen": "One, two, three.",
                        "rejected": "One, two, four."}]  # fmt: skip
    build = _build(tmp_path, rows, "dpo", model_dir, "--fix", "none")
    _assert_split_like_trl(tmp_path, model_dir, build, _trl_text(tmp_path / "dpo.jsonl"))


@needs_shared
def test_dpo_demo_pairs_with_history_are_split_like_trls(tmp_path, model_dir):
    path = LLAMAFACTORY / "dpo_en_demo.json"
    data = tmp_path / "dpo.jsonl"
    data.write_bytes(path.read_bytes())
    out = tmp_path / "build"
    assert dataprep_main(["build", str(path), "--out", str(out), "--layout", "trl",
                          "--tokenizer", str(model_dir), "--cutoff-len", "100000",
                          "--fix", "none"]) == 0  # fmt: skip
    _assert_split_like_trl(tmp_path, model_dir, out, _trl_text(path))


def _assert_split_like_trl(tmp_path, model_dir, build: Path, text_rows: list[dict]) -> None:
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    ours = datasets.load_from_disk(str(build))
    rejected = {json.loads(line)["record"] for line in (build / "rejects.jsonl").open()}
    text_rows = [r for k, r in enumerate(text_rows) if k not in rejected]  # exact duplicates
    text = datasets.Dataset.from_list(text_rows)
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(model_dir)),
        args=DPOConfig(
            output_dir=str(tmp_path / "run"), report_to="none", bf16=False, max_length=None
        ),
        train_dataset=text,
        processing_class=AutoTokenizer.from_pretrained(str(model_dir)),
    )
    theirs = trainer.train_dataset
    assert len(theirs) == len(ours["train"]) == len(text_rows)
    for mine, trl in zip(ours["train"], theirs, strict=True):
        for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
            assert mine[column] == trl[column], column


def test_a_trl_build_is_refused_by_train_run_and_with_packing(tmp_path, model_dir, capsys):
    from train.cli import main as train_main

    build = _build(tmp_path, SFT_ROWS, "sft", model_dir)
    config = tmp_path / "config.yaml"
    config.write_text(f"model_name_or_path: {model_dir}\ndataset: {build}\n"
                      f"output_dir: {tmp_path / 'run'}\nmax_steps: 1\n")  # fmt: skip
    assert train_main(["run", str(config)]) == 2
    assert "was built with --layout trl" in capsys.readouterr().err
    data = tmp_path / "sft.jsonl"
    code = dataprep_main(["build", str(data), "--out", str(tmp_path / "p"), "--layout", "trl",
                          "--packing"])  # fmt: skip
    assert code == 2 and "packing with layout trl" in capsys.readouterr().err
