"""LLaVA's parts: the vision tower's config, the model assembled or loaded, the collator
that loads each batch's images, and what a run saves besides the adapter (the recipe that
trains with them is `train.recipes.llava`).

The model is a LLaVA checkpoint (`model_name_or_path` alone), or assembled: a CLIP vision tower
(`vision_tower`) + a causal LM (`model_name_or_path`) + a new projector (`projector_type: mlp`,
LLaVA-1.5's GELU MLP, or `linear`). Freezing follows the config (`freeze_vision_tower`, default
true; `freeze_projector`; `freeze_llm_module`: stage 1, projector pre-training). LoRA targets the
language model only (peft's all-linear would also catch the tower and the projector); the
projector trains in full and is saved beside the adapter (`projector.safetensors`), with
`llava.json` saying how to assemble the model again.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataprep import images
from dataprep.errors import DataprepError
from train import data
from train import model as models

IMAGE_TOKENS = ("<image>", "<|image_pad|>")
LLM_LINEARS = r"q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj"


def vision_config(path: str):
    """The vision tower's config (a CLIP vision config, or the vision half of a CLIP config)."""
    config = models.read_config(path, "vision tower", "vision_tower: a CLIP folder or hub id, "
                                "e.g. openai/clip-vit-large-patch14-336")  # fmt: skip
    return getattr(config, "vision_config", None) or config


def tokens_per_image(vision) -> int:
    """LLaVA's default feature selection drops the CLS token: one token per patch."""
    return (vision.image_size // vision.patch_size) ** 2


def image_token_id(model_tok) -> int:
    vocab = model_tok.backend.get_vocab()
    for token in IMAGE_TOKENS:
        if token in vocab:
            return vocab[token]
    raise DataprepError(
        f"{model_tok.name} has no image token ({' or '.join(IMAGE_TOKENS)})",
        fix="add <image> to the tokenizer as a special token, then rebuild the data",
    )


def add_image_token(model: str, out: str) -> tuple[Path, int]:
    """A copy of the model's tokenizer files with `<image>` added as a special token (the
    language model's embeddings grow to it when the LLaVA model is assembled)."""
    import shutil

    from tokenizers import AddedToken, Tokenizer

    from dataprep import tokenizer

    model_tok = tokenizer.load(model)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    for source in model_tok.files:
        if Path(source).is_file():
            shutil.copyfile(source, target / Path(source).name)
    if not (target / "tokenizer.json").is_file():
        raise DataprepError(f"{model}: no tokenizer.json to extend", fix="name a fast tokenizer")
    backend = Tokenizer.from_file(str(target / "tokenizer.json"))
    if backend.token_to_id("<image>") is None:
        backend.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
        backend.save(str(target / "tokenizer.json"))
    image_id = backend.token_to_id("<image>")
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config.setdefault("added_tokens_decoder", {})[str(image_id)] = {
        "content": "<image>", "special": True, "normalized": False, "lstrip": False,
        "rstrip": False, "single_word": False,
    }  # fmt: skip
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))
    return target, image_id


def linear_projector(vision_width: int, text_width: int):
    """`projector_type: linear`: one linear map from vision features to the LM's width."""
    import torch

    class LinearProjector(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(vision_width, text_width)

        def forward(self, image_features):
            return self.linear(image_features)

    return LinearProjector()


def assemble(config, image_id: int, dtype):
    """A LlavaForConditionalGeneration from its parts, or a LLaVA checkpoint as it is."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        CLIPVisionModel,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    if not config.vision_tower:
        return AutoModelForImageTextToText.from_pretrained(config.model_name_or_path, dtype=dtype)
    vision = vision_config(config.vision_tower)
    text = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=dtype)
    if text.get_input_embeddings().weight.shape[0] <= image_id:  # an added <image> token
        text.resize_token_embeddings(image_id + 1)
    llava = LlavaConfig(vision_config=vision, text_config=text.config, image_token_index=image_id,
                        projector_hidden_act="gelu", vision_feature_layer=-2,
                        vision_feature_select_strategy="default",
                        image_seq_length=tokens_per_image(vision))  # fmt: skip
    torch.manual_seed(config.seed)  # the new projector's initialisation
    model = LlavaForConditionalGeneration(llava).to(dtype)
    model.model.language_model.load_state_dict(text.model.state_dict())
    model.lm_head.load_state_dict(text.lm_head.state_dict())
    tower = CLIPVisionModel.from_pretrained(config.vision_tower, dtype=dtype)
    model.model.vision_tower.load_state_dict(tower.state_dict())
    if config.projector_type == "linear":
        projector = linear_projector(vision.hidden_size, text.config.hidden_size).to(dtype)
        model.model.multi_modal_projector = projector
    return model


def quantized(model, config, folder: Path, device: str):
    """The language model in 4/8-bit (QLoRA), the tower, projector and head as they were:
    the assembled model round-trips through a folder and is loaded with bitsandbytes."""
    import torch
    from transformers import BitsAndBytesConfig, LlavaForConditionalGeneration

    projector = model.model.multi_modal_projector
    model.save_pretrained(folder)
    compute = (
        torch.bfloat16 if device != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    )
    kept = ["model.vision_tower", "model.multi_modal_projector", "lm_head"]  # from the root
    quantization = BitsAndBytesConfig(
        load_in_4bit=config.quantization_bit == 4, load_in_8bit=config.quantization_bit == 8,
        bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=kept,
    )  # fmt: skip
    loaded = LlavaForConditionalGeneration.from_pretrained(
        folder, quantization_config=quantization, dtype=model.dtype
    )
    if config.projector_type == "linear":  # not a transformers module: carried over as is
        loaded.model.multi_modal_projector = projector
    return loaded


def load(config, model_tok, device: str, scratch: Path | None = None):
    """The model with exactly the configured parts trainable, and LoRA on the LM only."""
    dtype = models.precision(config, device)
    model = assemble(config, image_token_id(model_tok), dtype)
    model.set_attn_implementation(models.attention(config.flash_attn, device))
    if config.quantization_bit:
        import importlib.util
        import tempfile

        if importlib.util.find_spec("bitsandbytes") is None:
            raise DataprepError(
                "quantization_bit needs bitsandbytes", fix="pip install bitsandbytes"
            )
        with tempfile.TemporaryDirectory(dir=scratch) as folder:
            model = quantized(model, config, Path(folder), device)
    for p in model.parameters():
        p.requires_grad_(False)
    inner = model.model
    if not config.freeze_projector:
        for p in inner.multi_modal_projector.parameters():
            p.requires_grad_(True)
    if not config.freeze_vision_tower:
        for p in inner.vision_tower.parameters():
            p.requires_grad_(True)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if not config.freeze_llm_module:
        if config.lora:
            from peft import LoraConfig, get_peft_model

            wanted = [t.strip() for t in config.lora_target.split(",") if t.strip()]
            names = LLM_LINEARS if config.lora_target == "all" else "|".join(map(re.escape, wanted))
            lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                              lora_dropout=config.lora_dropout,
                              target_modules=rf".*language_model.*\.({names})")  # fmt: skip
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            model = get_peft_model(model, lora)
            for name, p in model.named_parameters():  # peft froze the projector again
                if any(name.endswith(t) for t in trainable):
                    p.requires_grad_(True)
        else:
            for p in inner.language_model.parameters():
                p.requires_grad_(True)
            for p in model.lm_head.parameters():
                p.requires_grad_(True)
    return model if config.quantization_bit else model.to(device)


def _base(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class Images:
    """Collates LLaVA rows: loads and preprocesses their images (threads: the loader's
    workers), checks that every row's image tokens match the images it names, and keeps a row
    whose image fails out of the loss (a black image, every label masked), counted."""

    def __init__(self, config, image_id: int, per_image: int):
        self.processor = processor(config)
        self.image_id = image_id
        self.per_image = per_image
        self.pool = ThreadPoolExecutor(max(1, config.dataloader_num_workers))
        self.skipped: list[str] = []

    def __call__(self, rows: list[dict], kind: str, pad_id: int) -> dict:
        from PIL import Image

        for r in rows:
            found = r["input_ids"].count(self.image_id)
            expected = len(r.get("images") or []) * self.per_image
            if found != expected:
                named = r.get("images") or []
                raise DataprepError(
                    f"a build row (images: {', '.join(named) or 'none'}) has {found} image tokens "
                    f"for {len(named)} image(s) of {self.per_image} tokens each",
                    fix=f"rebuild with --image-tokens {self.per_image} (the vision tower's "
                    "patches)",
                )
        paths = [p for r in rows for p in (r.get("images") or [])]
        opened = list(self.pool.map(lambda p: images.load(Path(p)), paths))
        size = self.processor.crop_size["height"]
        at = 0
        for r in rows:
            count = len(r.get("images") or [])
            for k in range(at, at + count):
                if isinstance(opened[k], images.ImageInfo):  # why it could not be loaded
                    self.skipped.append(f"{paths[k]}: {opened[k].detail}")
                    opened[k] = Image.new("RGB", (size, size))
                    r["labels"] = [data.IGNORE] * len(r["labels"])  # out of the loss
            at += count
        batch = data.collate(rows, kind, pad_id)
        if opened:
            batch["pixel_values"] = self.processor(images=opened, return_tensors="pt")[
                "pixel_values"
            ]
        return batch


def save_parts(model, config, out: Path, per_image: int, skipped: list[str]) -> None:
    """The projector (trained in full) and how to assemble the model again."""
    from safetensors.torch import save_file

    projector = _base(model).model.multi_modal_projector
    save_file({k: v.detach().cpu().contiguous() for k, v in projector.state_dict().items()},
              str(out / "projector.safetensors"))  # fmt: skip
    (out / "llava.json").write_text(json.dumps({
        "model_name_or_path": config.model_name_or_path, "vision_tower": config.vision_tower,
        "projector_type": config.projector_type, "tokens_per_image": per_image,
        "lora": bool(config.lora and not config.freeze_llm_module),
        "skipped_images": skipped,
    }, indent=2))  # fmt: skip


def load_trained(run_dir: str, device: str = "cpu"):
    """A trained LLaVA run, assembled again: base parts, projector, adapter."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from dataprep import tokenizer

    root = Path(run_dir)
    parts = json.loads((root / "llava.json").read_text())
    saved = json.loads((root / "run.json").read_text())["config"]
    config = SimpleNamespace(**saved)
    model_tok = tokenizer.load(str(root))
    model = assemble(config, image_token_id(model_tok), models.precision(config, device))
    model.model.multi_modal_projector.load_state_dict(
        load_file(str(root / "projector.safetensors"))
    )
    if parts["lora"]:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(root))
    return model.to(device).eval(), model_tok


def processor(config):
    """The image processor of the tower (or checkpoint); CLIP's own at its size if none."""
    from transformers import CLIPImageProcessor

    source = config.vision_tower or config.model_name_or_path
    try:
        return CLIPImageProcessor.from_pretrained(source)
    except OSError:
        size = vision_config(source).image_size
        return CLIPImageProcessor(size={"shortest_edge": size},
                                  crop_size={"height": size, "width": size})  # fmt: skip


def pixels(run_dir: str, paths: list[str]):
    """Pixel values for images at `paths`, as the run's processor prepares them."""
    from types import SimpleNamespace

    saved = json.loads((Path(run_dir) / "run.json").read_text())["config"]
    opened = []
    for path in paths:
        image = images.load(Path(path))
        if isinstance(image, images.ImageInfo):
            raise DataprepError(
                f"{path}: {image.status}: {image.detail}", fix="pass a readable image"
            )
        opened.append(image)
    return processor(SimpleNamespace(**saved))(images=opened, return_tensors="pt")["pixel_values"]
