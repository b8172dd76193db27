"""The GPU numbers for `train run`: QLoRA SFT and DPO on a randomly initialised ~1B-parameter
Llama-architecture model at cutoff_len 1024 and 2048, SDPA against eager attention; LLaVA
(a random CLIP-L/336-sized tower + that model) at batch 1, 4 and 8.

Prints one table: peak GPU memory (and `train plan`'s estimate beside it), tokens/s, padding
fraction per run. `--tiny` runs the same flow with a small model on any device, to test the script.

Run: python scripts/gpu_check.py --out DIR [--tiny] [--steps 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_model(folder: Path, tiny: bool) -> Path:
    import gzip
    import shutil
    from importlib import resources

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    packed = resources.files("dataprep._tokenizer")
    (folder / "tokenizer.json").write_bytes(
        gzip.decompress(packed.joinpath("tokenizer.json.gz").read_bytes())
    )
    shutil.copyfile(str(packed.joinpath("tokenizer_config.json")), folder / "tokenizer_config.json")
    size = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2) if tiny else dict(
        hidden_size=2048, intermediate_size=5504, num_hidden_layers=16, num_attention_heads=16,
        num_key_value_heads=8)  # fmt: skip
    config = LlamaConfig(vocab_size=151_665, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=151_645, pad_token_id=151_643,
                         **size)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    print(f"model: {params / 1e9:.2f}B parameters", flush=True)
    return folder


def make_data(folder: Path, kind: str, records: int = 400) -> Path:
    rng = random.Random(0)
    words = [
        "the",
        "model",
        "learns",
        "from",
        "data",
        "when",
        "the",
        "answers",
        "are",
        "clear",
        "and",
        "the",
        "prompts",
        "vary",
    ]
    rows = []
    for i in range(records):
        prompt = " ".join(rng.choices(words, k=rng.randint(50, 400))) + f" ({i})?"
        answer = " ".join(rng.choices(words, k=rng.randint(100, 900))) + "."
        if kind == "dpo":
            rows.append(
                {"prompt": prompt, "chosen": answer, "rejected": answer[: len(answer) // 3]}
            )
        else:
            rows.append({"instruction": prompt, "input": "", "output": answer})
    path = folder / f"{kind}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_one(model: Path, data: Path, out: Path, method: str, cutoff: int, attention: str,
            steps: int) -> dict:  # fmt: skip
    from train.cli import main

    config = out.with_suffix(".yaml")
    keys = {"model_name_or_path": str(model), "method": method, "finetuning_type": "qlora",
            "dataset": str(data), "output_dir": str(out), "cutoff_len": cutoff,
            "max_steps": steps, "per_device_train_batch_size": 4, "logging_steps": 1,
            "flash_attn": attention, "bf16": True, "gradient_checkpointing": True,
            "overwrite_output_dir": True}  # fmt: skip
    config.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items()))
    started = time.perf_counter()
    code = main(["run", str(config)])
    if code != 0:
        return {"error": f"exit {code}"}
    log = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    log = [r for r in log if "loss" in r]
    steady = log[2:] or log
    from train import config as configs
    from train import plan

    planned = configs.load(str(config), planning=True)
    # The planner's estimate at the longest row of the build it trained on (the peak batch).
    builds = (data.parent / ".dataprep-builds").glob(f"{data.stem}-*")
    build = next(b for b in builds if (b / "manifest.json").is_file())
    longest = min(cutoff, plan.build_lengths(str(build)).longest)
    estimate = plan.estimate(planned, plan.shape_of(str(model)), longest)
    return {
        "plan_gb": estimate.allocated / 2**30,
        "seconds": time.perf_counter() - started,
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
        "peak_gb": max(r.get("gpu_memory_gb", 0.0) for r in log),
        "padding": statistics.mean(r["padding"] for r in log),
        "loss": log[-1]["loss"],
    }


def make_tower(folder: Path, tiny: bool) -> Path:
    """A random CLIP vision tower: CLIP-L/336's shape (576 tokens per image), or a tiny one."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    size = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                image_size=28, patch_size=14) if tiny else dict(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=336, patch_size=14)  # fmt: skip
    torch.manual_seed(1)
    CLIPVisionModel(CLIPVisionConfig(**size)).save_pretrained(folder)
    edge = size["image_size"]
    crop = {"height": edge, "width": edge}
    CLIPImageProcessor(size={"shortest_edge": edge}, crop_size=crop).save_pretrained(folder)
    return folder


def make_images(folder: Path, records: int = 64) -> Path:
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    rows = []
    for i in range(records):
        image = Image.new("RGB", (400, 300), "white")
        colour = rng.choice(["red", "green", "blue", "orange"])
        ImageDraw.Draw(image).ellipse((50, 40, 350, 260), fill=colour)
        image.save(folder / f"image{i}.png")
        question = "<image>" + "What colour is it? " * 3
        rows.append({"messages": [{"role": "user", "content": question},
                                  {"role": "assistant", "content": f"It is {colour}. " * 10}],
                     "images": [f"image{i}.png"]})  # fmt: skip
    path = folder / "llava.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_llava(model: Path, tower: Path, data: Path, out: Path, batch: int, steps: int) -> dict:
    from train.cli import main

    config = out.with_suffix(".yaml")
    keys = {"model_name_or_path": str(model), "vision_tower": str(tower), "method": "llava",
            "finetuning_type": "lora", "dataset": str(data), "output_dir": str(out),
            "cutoff_len": 2048, "max_steps": steps, "per_device_train_batch_size": batch,
            "logging_steps": 1, "bf16": True, "dataloader_num_workers": 4,
            "overwrite_output_dir": True}  # fmt: skip
    config.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items()))
    if main(["run", str(config)]) != 0:
        return {"error": "failed"}
    log = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    log = [r for r in log if "loss" in r]
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(log[1:])] or [1.0]
    return {"samples_per_s": batch / statistics.median(gaps),
            "peak_gb": max(r.get("gpu_memory_gb", 0.0) for r in log)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()))
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    import torch

    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"device: {device}", flush=True)
    model = make_model(args.out / "model", args.tiny)
    cases = [("sft", 1024, "sdpa"), ("sft", 1024, "eager"), ("sft", 2048, "sdpa"),
             ("sft", 2048, "eager"), ("dpo", 1024, "sdpa"), ("dpo", 2048, "sdpa")]  # fmt: skip
    rows = []
    for method, cutoff, attention in cases:
        data = make_data(args.out, method)
        name = f"{method}-{cutoff}-{attention}"
        result = run_one(model, data, args.out / name, method, cutoff, attention, args.steps)
        rows.append((name, result))
        print(name, json.dumps(result), flush=True)
    print(
        "\n| run | tokens/s | peak GPU GB | train plan GB | padding | final loss |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    for name, r in rows:
        if "error" in r:
            print(f"| {name} | {r['error']} | | | | |")
        else:
            print(f"| {name} | {r['tokens_per_s']:,.0f} | {r['peak_gb']:.1f} | "
                  f"{r['plan_gb']:.1f} | {r['padding']:.1%} | {r['loss']:.3f} |")  # fmt: skip
    tower = make_tower(args.out / "tower", args.tiny)
    images = make_images(args.out)
    print("\n| LLaVA (CLIP-L/336-sized tower + the LLM, LoRA) | samples/s | peak GPU GB |\n"
          "|---|---:|---:|")  # fmt: skip
    for batch in (1, 4, 8):
        name = f"llava-batch{batch}"
        result = run_llava(model, tower, images, args.out / name, batch, args.steps)
        rows.append((name, result))
        if "error" in result:
            print(f"| batch {batch} | {result['error']} | |", flush=True)
        else:
            print(f"| batch {batch} | {result['samples_per_s']:.2f} | {result['peak_gb']:.1f} |",
                  flush=True)  # fmt: skip
    (args.out / "gpu_check.json").write_text(json.dumps(dict(rows), indent=2))


if __name__ == "__main__":
    main()
