"""After training: merge an adapter into its base, and sample from a trained model with the
same chat template (the "does it babble?" check)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dataprep import templates, tokenizer
from dataprep.errors import DataprepError


def _load(run: str):
    """(model, run folder's config) for a trained run: a PEFT adapter on its base, or a model."""
    from transformers import AutoModelForCausalLM

    folder = Path(run)
    summary = folder / "run.json"
    if not summary.is_file():
        raise DataprepError(f"{run}: not a `train run` output folder (no run.json)")
    config = json.loads(summary.read_text())["config"]
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(config["model_name_or_path"])
        return PeftModel.from_pretrained(base, folder), config
    return AutoModelForCausalLM.from_pretrained(folder), config


def merge(run: str, out: str) -> Path:
    """The base model with the run's adapter folded into its weights, with the tokenizer."""
    model, config = _load(run)
    if not hasattr(model, "merge_and_unload"):
        raise DataprepError(f"{run} holds a full model, not an adapter: nothing to merge")
    if config.get("quantization_bit"):
        raise DataprepError(
            "this adapter was trained on a quantised base; merge into the full-precision base",
            fix="set model_name_or_path to the unquantised model (the default) and merge again",
        )
    merged = model.merge_and_unload()
    target = Path(out)
    merged.save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (Path(run) / name).is_file():
            shutil.copyfile(Path(run) / name, target / name)
    return target


def generate(run: str, prompt: str, max_new_tokens: int = 64, system: str | None = None,
             images: list[str] | None = None) -> str:  # fmt: skip
    """One greedy answer to `prompt`, rendered with the run's tokenizer and template; a LLaVA
    run also sees `images` (each `<image>` in the prompt, or one per image in front)."""
    import torch

    llava_run = (Path(run) / "llava.json").is_file()
    if images and not llava_run:
        raise DataprepError(f"{run} is not a LLaVA run: it cannot look at images")
    if llava_run:
        from train import llava

        model, model_tok = llava.load_trained(run)
        config = json.loads((Path(run) / "run.json").read_text())["config"]
    else:
        model, config = _load(run)
        model_tok = tokenizer.load(config.get("tokenizer") or config["model_name_or_path"])
    template = templates.resolve(config.get("template", "auto"), model_tok.chat_template,
                                 model_tok.special)  # fmt: skip
    if template is None:
        raise DataprepError("the run's tokenizer has no chat template and none was named")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    if images and "<image>" not in prompt:
        messages[-1]["content"] = "<image>" * len(images) + prompt
    text = template.render(messages, add_generation_prompt=True)
    extra = {}
    if llava_run:
        from train import llava

        parts = text.split("<image>")
        if len(parts) - 1 != len(images or []):
            raise DataprepError(
                f"the prompt has {len(parts) - 1} <image> placeholder(s) for "
                f"{len(images or [])} image(s)", fix="one --image per <image>")  # fmt: skip
        per_image = json.loads((Path(run) / "llava.json").read_text())["tokens_per_image"]
        image_id = llava.image_token_id(model_tok)
        tokens: list[int] = []
        for k, part in enumerate(parts):
            tokens += model_tok.backend.encode(part, add_special_tokens=False).ids
            if k < len(parts) - 1:
                tokens += [image_id] * per_image
        ids = torch.tensor([tokens])
        if images:
            extra["pixel_values"] = llava.pixels(run, images).to(model.dtype)
    else:
        ids = torch.tensor([model_tok.backend.encode(text, add_special_tokens=False).ids])
    stops = [model_tok.backend.token_to_id(t) for t in (model_tok.eos, "<|im_end|>", "<|eot_id|>")]
    model.eval()
    with torch.no_grad():
        output = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
            **extra,
            do_sample=False, eos_token_id=[s for s in stops if s is not None] or None,
            pad_token_id=model_tok.backend.token_to_id(model_tok.special.get("pad_token") or "")
            or 0,
        )  # fmt: skip
    return model_tok.backend.decode(output[0, ids.shape[1] :].tolist(), skip_special_tokens=True)
