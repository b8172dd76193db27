"""Our builds with LLaMA-Factory itself: it trains on them through `tokenized_path`, and with
`--fix none --label-turn-end` its own tokenization of its demo data equals ours.

LLaMA-Factory 0.9.5 pins versions that conflict with ours (transformers, TRL, peft, datasets),
so it goes into a virtual environment of its own, made once per test run as users install it,
on this machine's CPU torch. Two of its dependencies have no build for that torch: torchvision
and torchaudio. Its text stages call neither, but `mm_plugin` imports torchaudio at module
level, so an empty `torchaudio` package stands on its path (the multimodal stages are not
tested here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import venv
from pathlib import Path

import pytest

from dataprep.cli import main as dataprep_main
from tests.conftest import DATA, LLAMAFACTORY, child_env, needs_shared, readme_snippet
from tests.models import tiny_llama

VERSION = "0.9.5"
# Not installed: no build for this torch (vision, audio), or only for its web UI.
LEFT_OUT = {"torchvision", "torchaudio", "gradio", "fastapi", "uvicorn", "sse-starlette"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lf(tmp_path_factory) -> dict:
    """LLaMA-Factory's command and environment, in a venv of its own."""
    root = tmp_path_factory.mktemp("llamafactory")
    venv.create(root / "venv", with_pip=True)
    python = str(root / "venv" / "bin" / "python")

    def pip(*args: str) -> None:
        done = subprocess.run([python, "-m", "pip", "install", "-q", *args],
                              capture_output=True, text=True, timeout=1500, check=False)  # fmt: skip
        if done.returncode:
            message = f"cannot install LLaMA-Factory's environment: {done.stderr[-1500:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)

    pip("torch==2.13.0")  # the CPU wheel first, so nothing pulls a CUDA build
    pip("--no-deps", f"llamafactory=={VERSION}")
    requires = subprocess.run(
        [python, "-c", "import importlib.metadata as m, json; "
         "print(json.dumps(m.requires('llamafactory')))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    needed = [r for r in json.loads(requires.stdout) if "extra ==" not in r
              and re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() not in LEFT_OUT]  # fmt: skip
    pip(*needed)
    stub = root / "stub" / "torchaudio"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stands in for torchaudio: imported, never called."""\n')
    env = child_env(PYTHONPATH=str(root / "stub"), WANDB_DISABLED="true")
    return {"cli": str(root / "venv" / "bin" / "llamafactory-cli"), "env": env}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


def _train(lf: dict, folder: Path, config: str) -> subprocess.CompletedProcess:
    (folder / "config.yaml").write_text(config)
    return subprocess.run([lf["cli"], "train", "config.yaml"], cwd=folder, env=lf["env"],
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip


@pytest.mark.parametrize(("stage", "data"), [("sft", DATA / "identity.json"),
                                             ("dpo", DATA / "v1_dpo_demo.jsonl")])  # fmt: skip
def test_llamafactory_trains_on_our_builds_through_tokenized_path(
    lf, model_dir, tmp_path, stage, data
):
    build = tmp_path / "build" / stage
    assert dataprep_main(["build", str(data), "--out", str(build), "--tokenizer", str(model_dir),
                          "--cutoff-len", "256", "--label-turn-end"]) == 0  # fmt: skip
    config = readme_snippet("llamafactory-sft", "yaml").replace("MODEL", str(model_dir))
    config = config.replace("stage: sft", f"stage: {stage}").replace("build/sft", str(build))
    run = _train(lf, tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    loss = float(re.search(r"train_loss\s+=\s+([\d.]+)", run.stdout).group(1))
    if stage == "dpo":  # a fresh LoRA policy equals its reference: ln 2
        assert abs(loss - 0.6931) < 0.01
    assert (tmp_path / "runs" / "llamafactory-sft" / "adapter_model.safetensors").is_file()


def _both_tokenizations(lf: dict, model_dir: Path, tmp_path: Path, stage: str, name: str):
    """(LLaMA-Factory's rows, ours, the positions of the records we kept in the file) of the
    demo dataset `name` at cutoff 4096: LLaMA-Factory tokenizes, saves, then trains; we build
    with --fix none --label-turn-end."""
    import datasets

    theirs = tmp_path / "theirs"
    config = readme_snippet("llamafactory-sft", "yaml").replace("MODEL", str(model_dir))
    config = config.replace("stage: sft", f"stage: {stage}")
    config = config.replace("dataset: prebuilt", f"dataset: {name}")
    config = config.replace("tokenized_path: build/sft", f"tokenized_path: {theirs}\n"
                            f"dataset_dir: {LLAMAFACTORY}")  # fmt: skip
    config = config.replace("cutoff_len: 2048", "cutoff_len: 4096")
    run = _train(lf, tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    ours = tmp_path / "ours"
    assert dataprep_main(["build", str(LLAMAFACTORY / f"{name}.json"), "--out", str(ours),
                          "--tokenizer", str(model_dir), "--cutoff-len", "4096", "--fix", "none",
                          "--label-turn-end"]) == 0  # fmt: skip
    lf_rows = datasets.load_from_disk(str(theirs))["train"]
    our_rows = datasets.load_from_disk(str(ours))["train"]
    rejected = {json.loads(line)["record"] for line in (ours / "rejects.jsonl").open()}
    kept = [k for k in range(len(lf_rows)) if k not in rejected]  # duplicates, placeholders
    assert len(kept) == len(our_rows)
    assert set(lf_rows.column_names) == set(our_rows.column_names)
    return lf_rows, our_rows, kept


@needs_shared
def test_our_ids_and_labels_equal_llamafactorys_tokenization_of_alpaca_demo(
    lf, model_dir, tmp_path
):
    lf_rows, our_rows, kept = _both_tokenizations(lf, model_dir, tmp_path, "sft", "alpaca_en_demo")
    assert len(kept) > 900
    for row, k in zip(our_rows, kept, strict=True):
        assert row["input_ids"] == lf_rows[k]["input_ids"], k
        assert row["labels"] == lf_rows[k]["labels"], k


@needs_shared
def test_our_kto_build_equals_llamafactorys_feedback_tokenization(lf, model_dir, tmp_path):
    """kto_en_demo tokenized by LLaMA-Factory's feedback processor (its KL completions the
    previous record's answers) and built by us: the same feedback columns on every record."""
    lf_rows, our_rows, kept = _both_tokenizations(lf, model_dir, tmp_path, "kto", "kto_en_demo")
    assert len(lf_rows) == 300 and len(kept) > 250
    columns = ("input_ids", "labels", "kl_input_ids", "kl_labels", "kto_tags")
    for row, k in zip(our_rows, kept, strict=True):
        for column in columns:
            assert row[column] == lf_rows[k][column], (k, column)
