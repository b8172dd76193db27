"""train plan: parameter counts from configs, the memory estimate against peaks measured in
real training steps, the OOM ladder, the CLI contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.memtrack import PeakMemory
from train.cli import main as train_main

torch = pytest.importorskip("torch")


def _save(folder: Path, kind: str = "llama", **dims) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM),
                                 "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[kind]  # fmt: skip
    base = dict(vocab_size=6000, hidden_size=160, intermediate_size=432, num_hidden_layers=3,
                num_attention_heads=5, num_key_value_heads=1, tie_word_embeddings=False,
                max_position_embeddings=1024)  # fmt: skip
    base.update(dims)
    torch.manual_seed(0)
    model_class(config_class(**base)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("kind", "dims"), [("llama", {}), ("llama", {"tie_word_embeddings": True}),
                                            ("qwen2", {})])  # fmt: skip
def test_parameters_counted_from_the_config_equal_the_models(tmp_path, kind, dims):
    from transformers import AutoModelForCausalLM

    from train.plan import shape_of

    folder = _save(tmp_path / "m", kind, **dims)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert shape_of(str(folder)).parameters() == sum(p.numel() for p in model.parameters())


def _measured_peak(config, folder: Path, cutoff: int, vocab: int = 6000) -> int:
    """Peak tensor bytes of a real training step (the trainer's model, step and engine),
    every row cutoff_len long, after a first step has created the optimizer states."""
    from train import data, engine
    from train import model as models
    from train.recipes import dpo, sft

    model, reference = models.load(config, vocab, "cpu")
    eng = engine.Plain(config, model, "cpu", 10)
    model.train()  # as the loop does (gradient checkpointing acts only in training mode)
    step = dpo.make_step(config, reference) if config.method == "dpo" else sft.step
    generator = torch.Generator().manual_seed(0)

    def row() -> list[int]:
        return torch.randint(0, vocab, (cutoff,), generator=generator).tolist()

    if config.method == "dpo":
        rows = [{"chosen_input_ids": (c := row()), "chosen_labels": c,
                 "rejected_input_ids": (r := row()), "rejected_labels": r}
                for _ in range(config.per_device_train_batch_size)]  # fmt: skip
        batch = data.collate(rows, "dpo", 0)
    else:
        rows = [{"input_ids": (x := row()), "labels": x}
                for _ in range(config.per_device_train_batch_size)]  # fmt: skip
        batch = data.collate(rows, "sft", 0)

    def train_step() -> None:
        loss, _ = step(eng.model, batch)
        eng.backward(loss / batch["weight"], boundary=True)
        eng.step()

    train_step()
    held = sum(p.numel() * p.element_size() for p in model.parameters())
    held += sum(t.numel() * t.element_size() for s in eng.optimizer.state.values()
                for t in s.values() if torch.is_tensor(t) and t.dim() > 0)  # fmt: skip
    with PeakMemory(baseline=held) as meter:
        train_step()
    return meter.peak


CASES = {
    "lora fp32": {},
    "full fp32": {"finetuning_type": "full"},
    "lora bf16": {"bf16": True},
    "lora, gradient checkpointing": {"gradient_checkpointing": True},
    "lora, eager attention": {"flash_attn": "eager"},
    "lora rank 32 on attention only": {
        "lora_rank": 32,
        "lora_target": "q_proj,k_proj,v_proj,o_proj",
    },
    "dpo lora": {"method": "dpo", "per_device_train_batch_size": 2},
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_estimate_is_within_15_percent_of_the_measured_peak(tmp_path, case):
    """Shapes unlike the ones the coefficients were measured on (hidden 160, MLP 432, 5 heads,
    1 key-value head, 3 layers, vocabulary 6,000, 384 tokens per row)."""
    from train import config as configs
    from train.plan import estimate, shape_of

    folder = _save(tmp_path / "m")
    keys = {"per_device_train_batch_size": 3, "flash_attn": "sdpa", **CASES[case]}
    config = configs.load(None, [f"{k}={v}" for k, v in {
        "model_name_or_path": str(folder), **keys}.items()], planning=True)  # fmt: skip
    measured = _measured_peak(config, folder, 384)
    estimated = estimate(config, shape_of(str(folder)), 384, gpu=False).allocated
    assert abs(estimated - measured) / measured < 0.15, (case, estimated, measured)


def test_the_ladder_follows_the_chapter_and_stops_at_the_first_fit(tmp_path):
    from train import config as configs
    from train.plan import GIB, Shape, estimate, ladder

    seven_b = Shape("7b", hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4,
                    head_dim=128, vocab=152064, tied=False, qkv_bias=True)  # fmt: skip
    config = configs.load(None, ["model_name_or_path=m", "bf16=true",
                                 "per_device_train_batch_size=4",
                                 "gradient_accumulation_steps=2"], planning=True)  # fmt: skip
    assert seven_b.parameters() == 7_615_616_512  # Qwen2.5-7B's published count
    start = estimate(config, seven_b, 4096).peak
    steps = ladder(config, seven_b, 4096, 24 * GIB, p95=900)
    order = [next(iter(s.change)) for s in steps]
    assert order == ["finetuning_type", "cutoff_len", "per_device_train_batch_size"]
    assert steps[1].change == {"cutoff_len": 900}  # the build's 95th percentile
    assert steps[2].change["gradient_accumulation_steps"] == 8  # the effective batch kept
    assert steps[-1].peak_after <= 24 * GIB < steps[-2].peak_after
    assert start - sum(s.saves for s in steps) == steps[-1].peak_after
    # Without the build's lengths there is no cutoff step, and the ladder goes further down.
    more = ladder(config, seven_b, 4096, 24 * GIB)
    assert "cutoff_len" not in [next(iter(s.change)) for s in more]
    assert more[-1].peak_after <= 24 * GIB
    # What cannot fit at all ends on ZeRO-3 with offload and still says how far it got.
    tiny = ladder(dataclasses.replace(config, finetuning_type="full"), seven_b, 4096, GIB)
    assert next(iter(tiny[-1].change)) == "deepspeed" and tiny[-1].peak_after > GIB
    # ZeRO-3 cannot shard the 4-bit base the first step chose: back to 16-bit LoRA under it.
    assert tiny[0].change["finetuning_type"] == "qlora"
    assert (
        tiny[-1].change["finetuning_type"] == "lora" and tiny[-1].change["quantization_bit"] is None
    )


def test_zero3_shards_over_processes_and_offload_moves_states_to_the_cpu():
    from train import config as configs
    from train.plan import Shape, estimate

    shape = Shape("1b", hidden=2048, intermediate=5632, layers=22, heads=32, kv_heads=4,
                  head_dim=64, vocab=32000, tied=False)  # fmt: skip
    full = configs.load(None, ["model_name_or_path=m", "finetuning_type=full", "bf16=true"],
                        planning=True)  # fmt: skip
    alone = estimate(full, shape, 1024)
    zero3 = estimate(dataclasses.replace(full, deepspeed="zero3"), shape, 1024, world=8)
    offload = estimate(dataclasses.replace(full, deepspeed="zero3_offload"), shape, 1024, world=8)
    assert zero3.breakdown["optimizer"] == alone.breakdown["optimizer"] // 8
    assert zero3.breakdown["weights"] < alone.breakdown["weights"] / 4
    assert offload.breakdown["optimizer"] == 0 and offload.cpu_bytes > 0
    assert offload.peak < zero3.peak < alone.peak


def _plan_config(tmp_path: Path, **keys) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items()))
    return path


def test_plan_json_is_the_contract_and_the_exit_code_says_whether_it_fits(tmp_path, capsys):
    folder = _save(tmp_path / "m")
    config = _plan_config(tmp_path, model_name_or_path=str(folder), cutoff_len=512,
                          per_device_train_batch_size=8)  # fmt: skip
    assert train_main(["plan", str(config), "--gpu-memory", "80GiB", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"peak_bytes", "fits", "gpu_memory_bytes", "breakdown", "suggestions"} <= set(out)
    assert (
        out["fits"] is True and out["suggestions"] == [] and out["gpu_memory_bytes"] == 80 * 2**30
    )
    assert out["peak_bytes"] == sum(out["breakdown"].values())
    assert train_main(["plan", str(config), "--gpu-memory", "200MiB", "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["fits"] is False and out["suggestions"]
    for s in out["suggestions"]:
        assert {"change", "saves_bytes", "peak_bytes_after"} <= set(s) and s["saves_bytes"] > 0
    assert train_main(["plan", str(config), "--gpu", "RTX4090", "--tokens-per-s", "1000"]) == 0
    text = capsys.readouterr().out
    assert "fits in 24.00 GiB" in text and "activations" in text


def test_plan_reads_lengths_and_rows_from_a_build(tmp_path, capsys):
    from dataprep.cli import main as dataprep_main
    from tests.models import tiny_llama

    model = tiny_llama(tmp_path / "tiny")
    data = tmp_path / "d.jsonl"
    rows = [{"instruction": "Say hi " * (1 + i % 7), "output": "hi " * (1 + i % 13)}
            for i in range(40)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    build = tmp_path / "b"
    assert dataprep_main(["build", str(data), "--out", str(build), "--tokenizer", str(model),
                          "--cutoff-len", "256"]) == 0  # fmt: skip
    capsys.readouterr()
    config = _plan_config(tmp_path, model_name_or_path=str(model), dataset=str(build),
                          per_device_train_batch_size=2, gradient_accumulation_steps=2,
                          num_train_epochs=3)  # fmt: skip
    assert train_main(["plan", str(config), "--gpu-memory", "80GiB", "--format", "json",
                       "--tokens-per-s", "100"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["cutoff_len"] == 256 and out["build"]["rows"] == 40
    assert out["build"]["p95"] < 256
    assert out["throughput"]["steps_per_epoch"] == 10 and out["throughput"]["total_steps"] == 30
    expected = 30 * out["throughput"]["tokens_per_step"] / 100
    assert out["throughput"]["wall_time_s"] == pytest.approx(expected)


def test_plan_errors_are_clear(tmp_path, capsys):
    folder = _save(tmp_path / "m")
    config = _plan_config(tmp_path, model_name_or_path=str(folder))
    assert train_main(["plan", str(config), "--gpu", "RTX4090"]) == 2
    assert "set cutoff_len, or dataset to a build folder" in capsys.readouterr().err
    assert train_main(["plan", str(config), "cutoff_len=512", "--gpu", "GTX9999"]) == 2
    assert "unknown GPU 'GTX9999'" in capsys.readouterr().err
    config = _plan_config(tmp_path, model_name_or_path=str(tmp_path / "nowhere"), cutoff_len=64)
    assert train_main(["plan", str(config), "--gpu", "H100"]) == 2
    assert "cannot read the config" in capsys.readouterr().err


def test_llava_plans_count_the_tower_and_the_projector(tmp_path, capsys):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from tests.models import tiny_clip
    from train.plan import Vision, vision_of

    clip = tiny_clip(tmp_path / "clip")
    real = sum(p.numel() for p in CLIPVisionModel.from_pretrained(clip).parameters())
    assert vision_of(str(clip)).parameters() == real
    large = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                             num_attention_heads=16, image_size=336, patch_size=14)  # fmt: skip
    with torch.device("meta"):
        count = sum(p.numel() for p in CLIPVisionModel(large).parameters())
    assert Vision(1024, 4096, 24, 336, 14).parameters() == count  # CLIP-L/336: 303M
    assert Vision(1024, 4096, 24, 336, 14).patches == 576
    folder = _save(tmp_path / "m")
    config = _plan_config(tmp_path, model_name_or_path=str(folder), vision_tower=str(clip),
                          method="llava", cutoff_len=256)  # fmt: skip
    assert train_main(["plan", str(config), "--gpu-memory", "80MiB", "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["breakdown"]["vision_tower"] > 0 and out["breakdown"]["projector"] > 0
    assert all("deepspeed" not in s["change"] for s in out["suggestions"])  # refused for llava
