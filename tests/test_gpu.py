"""CUDA-only paths, run by scripts/gpu_check.sh on a lent GPU machine (skipped elsewhere)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_qlora_bf16_on_the_gpu_reports_memory_and_learns(tmp_path):
    pytest.importorskip("bitsandbytes")
    from tests.models import tiny_llama
    from tests.test_train import SFT_ROWS, _build, _config, _log
    from train.cli import main

    model = tiny_llama(tmp_path / "model", hidden=64)
    build = _build(tmp_path, SFT_ROWS, model)
    out = tmp_path / "run"
    config = _config(tmp_path, model_name_or_path=str(model), dataset=str(build),
                     output_dir=str(out), finetuning_type="qlora", bf16=True, max_steps=20,
                     per_device_train_batch_size=4, learning_rate=0.02, logging_steps=5,
                     gradient_checkpointing=True)  # fmt: skip
    assert main(["run", str(config)]) == 0
    log = _log(out)
    assert log[-1]["loss"] < log[0]["loss"] and log[-1]["gpu_memory_gb"] > 0
    assert json.loads((out / "run.json").read_text())["config"]["bf16"] is True


def test_attention_auto_picks_a_kernel_that_loads():
    from train.model import attention

    assert attention("auto", "cuda") in ("flash_attention_2", "sdpa")
