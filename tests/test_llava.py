"""train run, method llava: a tiny random CLIP tower + tiny random Llama assembled from configs,
real demo images (LLaMA-Factory's mllm_demo) and Pillow-made ones, built then trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.models import tiny_clip, tiny_llama
from tests.test_train import _config
from train.cli import main as train_main

DATA = Path(__file__).parent / "data"
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("llava")
    return tiny_llama(root / "lm"), tiny_clip(root / "clip")


def _data(tmp_path: Path) -> Path:
    """The mllm demo (3 photos, several <image> turns) plus records with Pillow-made images."""
    from PIL import Image, ImageDraw

    folder = tmp_path / "data"
    shutil.copytree(DATA / "mllm_demo_data", folder / "mllm_demo_data")
    rows = json.loads((DATA / "mllm_demo.json").read_text())
    for colour in ("red", "blue", "green", "yellow"):
        image = Image.new("RGB", (48, 40), "white")
        ImageDraw.Draw(image).ellipse((8, 6, 40, 34), fill=colour)
        image.save(folder / f"{colour}.png")
        rows.append({"messages": [{"role": "user", "content": "<image>Which colour?"},
                                  {"role": "assistant", "content": f"It is {colour}."}],
                     "images": [f"{colour}.png"]})  # fmt: skip
    path = folder / "mm.json"
    path.write_text(json.dumps(rows))
    return path


def _build(data: Path, lm: Path, out: Path, image_tokens: int = 4) -> Path:
    from dataprep.cli import main as dataprep_main

    assert dataprep_main(["build", str(data), "--out", str(out), "--tokenizer", str(lm),
                          "--cutoff-len", "512", "--image-tokens", str(image_tokens)]) == 0  # fmt: skip
    return out


def _log(out: Path) -> list[dict]:
    lines = (out / "trainer_log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "loss" in r]


def test_build_then_train_lowers_the_loss_and_trains_only_what_is_asked(tmp_path, parts, capsys):
    from types import SimpleNamespace

    from peft.utils import load_peft_weights
    from safetensors.torch import load_file
    from transformers import CLIPVisionModel

    from dataprep import tokenizer
    from train import llava

    lm, clip = parts
    build = _build(_data(tmp_path), lm, tmp_path / "build")
    out = tmp_path / "run"
    config = _config(tmp_path, model_name_or_path=str(lm), vision_tower=str(clip),
                     method="llava", dataset=str(build), output_dir=str(out), max_steps=30,
                     learning_rate=0.01, per_device_train_batch_size=2, logging_steps=5,
                     dataloader_num_workers=2)  # fmt: skip
    assert train_main(["run", str(config)]) == 0
    log = _log(out)
    assert log[-1]["loss"] < 0.85 * log[0]["loss"]
    # The adapter is on the language model only: peft's all-linear would have hit the tower.
    adapter = load_peft_weights(str(out))
    assert adapter and all("language_model" in k for k in adapter)
    model, _ = llava.load_trained(str(out))
    tower = CLIPVisionModel.from_pretrained(clip)
    for key, value in tower.state_dict().items():  # frozen: unchanged
        assert torch.equal(model.get_base_model().model.vision_tower.state_dict()[key], value)
    # The projector trained in full, was saved, and loads back.
    saved = load_file(str(out / "projector.safetensors"))
    run_config = SimpleNamespace(**json.loads((out / "run.json").read_text())["config"])
    image_id = llava.image_token_id(tokenizer.load(str(out)))
    initial = llava.assemble(run_config, image_id, torch.float32).model.multi_modal_projector
    initial = initial.state_dict()  # the same seed: the projector before training
    assert set(saved) == set(initial)
    assert any(not torch.equal(saved[k], initial[k]) for k in saved)
    loaded = model.get_base_model().model.multi_modal_projector.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    # ...and generates, looking at an image.
    image = str(DATA / "mllm_demo_data" / "1.jpg")
    assert train_main(["generate", str(out), "Who are they?", "--image", image,
                       "--max-new-tokens", "5"]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip()


def test_a_wrong_image_token_count_is_refused_with_the_fix(tmp_path, parts, capsys):
    from dataprep.errors import DataprepError
    from train import llava
    from train.config import TrainConfig

    lm, clip = parts
    build = _build(_data(tmp_path), lm, tmp_path / "build3", image_tokens=3)
    config = _config(tmp_path, model_name_or_path=str(lm), vision_tower=str(clip),
                     method="llava", dataset=str(build), output_dir=str(tmp_path / "r"))  # fmt: skip
    assert train_main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "expands each image to 3 tokens; the vision tower makes 4" in err
    assert "--image-tokens 4" in err and "Traceback" not in err
    # A row whose image tokens do not match its images never reaches the model.
    images = llava.Images(TrainConfig(vision_tower=str(clip)), image_id=7, per_image=4)
    row = {"input_ids": [1, 7, 7, 7, 2], "labels": [1, 7, 7, 7, 2], "images": ["x.png"]}
    with pytest.raises(DataprepError, match="3 image tokens for 1 image"):
        images([row], "sft", 0)


def test_an_image_that_fails_at_train_time_is_skipped_and_counted(tmp_path, parts):
    lm, clip = parts
    data = _data(tmp_path)
    build = _build(data, lm, tmp_path / "build")
    (data.parent / "red.png").write_bytes(b"not a png any more")  # broken after the build
    out = tmp_path / "run"
    config = _config(tmp_path, model_name_or_path=str(lm), vision_tower=str(clip),
                     method="llava", dataset=str(build), output_dir=str(out), max_steps=8,
                     learning_rate=0.01, per_device_train_batch_size=2, logging_steps=4)  # fmt: skip
    assert train_main(["run", str(config)]) == 0
    skipped = json.loads((out / "llava.json").read_text())["skipped_images"]
    assert skipped and all("red.png" in s for s in skipped)


def test_two_stages_projector_pretraining_then_instruction_tuning(tmp_path, parts):
    """Stage 1 trains the projector alone (LLM and tower frozen) and saves a LLaVA checkpoint;
    stage 2 starts from it (no vision_tower: a checkpoint) with LoRA on the LM."""
    lm, clip = parts
    build = _build(_data(tmp_path), lm, tmp_path / "build")
    stage1 = tmp_path / "stage1"
    config = _config(tmp_path, model_name_or_path=str(lm), vision_tower=str(clip),
                     method="llava", dataset=str(build), output_dir=str(stage1), max_steps=6,
                     learning_rate=0.01, freeze_llm_module=True, per_device_train_batch_size=2,
                     finetuning_type="full", logging_steps=3)  # fmt: skip
    assert train_main(["run", str(config)]) == 0
    assert (stage1 / "config.json").is_file() and _log(stage1)
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    checkpoint = LlavaForConditionalGeneration.from_pretrained(stage1)
    base = AutoModelForCausalLM.from_pretrained(lm)
    for key, value in base.model.state_dict().items():  # the LLM stayed frozen
        assert torch.equal(checkpoint.model.language_model.state_dict()[key], value)
    stage2 = tmp_path / "stage2"
    config = _config(tmp_path, model_name_or_path=str(stage1), method="llava",
                     dataset=str(build), output_dir=str(stage2), max_steps=6,
                     learning_rate=0.01, per_device_train_batch_size=2, logging_steps=3)  # fmt: skip
    assert train_main(["run", str(config)]) == 0
    assert (stage2 / "adapter_model.safetensors").is_file()


def test_llava_settings_are_validated(tmp_path, capsys):
    config = _config(tmp_path, model_name_or_path="m", dataset="d", output_dir="o",
                     vision_tower="clip", projector_type="conv")  # fmt: skip
    assert train_main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "projector_type must be mlp or linear" in err
    assert "vision_tower, projector_type: LLaVA settings, and method is sft" in err
    config = _config(tmp_path, model_name_or_path="m", dataset="d", output_dir="o",
                     method="llava", projector_type="linear", deepspeed="zero2")  # fmt: skip
    assert train_main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no deepspeed/fsdp" in err and "projector_type linear builds a new projector" in err


def test_qlora_quantizes_the_language_model_only(tmp_path, parts):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    from dataprep import tokenizer
    from train import config as configs
    from train import llava

    lm, clip = parts
    config = configs.load(None, [f"model_name_or_path={lm}", f"vision_tower={clip}",
                                 "method=llava", "finetuning_type=qlora", "dataset=d",
                                 "output_dir=o"])  # fmt: skip
    model = llava.load(config, tokenizer.load(str(lm)), "cpu", scratch=tmp_path)
    inner = model.get_base_model().model
    four_bit = [n for n, m in inner.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and all(n.startswith("language_model.") for n in four_bit)
    assert inner.vision_tower.encoder.layers[0].mlp.fc1.weight.dtype == torch.float32
    trainable = {n.split(".lora_")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert any("multi_modal_projector" in n for n in trainable)
    assert not any("vision_tower" in n for n in trainable)
    build = _build(_data(tmp_path), lm, tmp_path / "build")
    out = tmp_path / "run"
    path = _config(tmp_path, model_name_or_path=str(lm), vision_tower=str(clip), method="llava",
                   finetuning_type="qlora", dataset=str(build), output_dir=str(out),
                   max_steps=4, learning_rate=0.01, per_device_train_batch_size=2,
                   logging_steps=2)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    assert (out / "adapter_model.safetensors").is_file() and (
        out / "projector.safetensors"
    ).is_file()


def test_a_tokenizer_without_an_image_token_gets_one_and_trains(tmp_path, parts, capsys):
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests import tokenizers

    _, clip = parts
    chatml = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
              "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")  # fmt: skip
    model = tokenizers.make(tmp_path / "plain", chat_template=chatml, eos_token="<|im_end|>",
                            specials=("<|im_start|>", "<|endoftext|>"))  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=400, hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2)).save_pretrained(model)  # fmt: skip
    data = _data(tmp_path)
    build = _build(data, model, tmp_path / "plain-build")
    config = _config(tmp_path, model_name_or_path=str(model), vision_tower=str(clip),
                     method="llava", dataset=str(build), output_dir=str(tmp_path / "r"))  # fmt: skip
    assert train_main(["run", str(config)]) == 2
    assert "has no image token" in capsys.readouterr().err
    assert train_main(["image-token", str(model), str(tmp_path / "tok")]) == 0
    assert "<image> is token 400" in capsys.readouterr().out
    build = _build(data, tmp_path / "tok", tmp_path / "image-build")
    config = _config(tmp_path, model_name_or_path=str(model), tokenizer=str(tmp_path / "tok"),
                     vision_tower=str(clip), method="llava", dataset=str(build),
                     output_dir=str(tmp_path / "run"), max_steps=4, learning_rate=0.01,
                     per_device_train_batch_size=2, logging_steps=2)  # fmt: skip
    assert train_main(["run", str(config)]) == 0
    assert _log(tmp_path / "run")
