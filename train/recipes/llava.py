"""LLaVA-style multimodal fine-tuning, top to bottom: tokenizer, data with images, model,
loop, save.

The model is a LLaVA checkpoint, or a CLIP vision tower + a causal LM + a new projector
(`train.llava`); the loss is SFT's, on the answers; each batch's images are loaded beside the
step by the collator, and a row whose image cannot be read stays out of the loss, counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataprep.errors import DataprepError
from train import blocks, dist, llava, loop
from train import engine as engines
from train.log import Log
from train.recipes.sft import step

if TYPE_CHECKING:
    from train.config import TrainConfig


def main(cfg: TrainConfig, overwrite: bool = False, quiet: bool = False) -> loop.State:
    out = blocks.output_dir(cfg, overwrite)
    model_tok, template = blocks.model_tokenizer(cfg)
    per_image = llava.tokens_per_image(
        llava.vision_config(cfg.vision_tower or cfg.model_name_or_path)
    )
    build = blocks.dataset(cfg, model_tok, template, image_tokens=per_image)
    if build.kind != "sft":
        raise DataprepError(
            f"{build.path} is not a conversation build (kind {build.kind})",
            fix="build image + conversation data without --packing",
        )
    built = build.manifest.get("image_tokens")
    if built != per_image:
        raise DataprepError(
            f"{build.path} expands each image to {built} tokens; the vision tower makes "
            f"{per_image}",
            fix=f"rebuild with --image-tokens {per_image}",
        )
    loop.seed_everything(cfg.seed)  # the new projector, dropout and the row order
    device = dist.setup(blocks.device())
    model = llava.load(cfg, model_tok, device, scratch=out)
    total = loop.total_steps(cfg, len(build.train) // dist.world())
    engine = engines.make(cfg, model, device, total, None)
    images = llava.Images(cfg, llava.image_token_id(model_tok), per_image)
    with Log(out, quiet or dist.rank() > 0) as log:
        state = loop.run(cfg, build, engine, step, blocks.pad_id(model_tok), device, log,
                         collate=images)  # fmt: skip
    blocks.save(cfg, engine, out, model_tok, state, build)
    if dist.rank() == 0:
        llava.save_parts(model, cfg, out, per_image, images.skipped)
    dist.finish()
    return state
