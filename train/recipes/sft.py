"""Supervised fine-tuning, top to bottom: tokenizer, data, model, loop, save.

The loss is the summed cross-entropy of the label tokens (the answers, as the build masked
them); the loop divides it by their number over the whole optimizer step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataprep.errors import DataprepError
from train import blocks, dist, loop
from train import engine as engines
from train import model as models
from train.log import Log

if TYPE_CHECKING:
    from train.config import TrainConfig


def step(model, batch):
    """The summed cross-entropy of the label tokens (the loop divides by their number)."""
    import torch.nn.functional as F

    logits = model(**models.inputs(model, batch)).logits
    logits = logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return loss, {}


def main(cfg: TrainConfig, overwrite: bool = False, quiet: bool = False) -> loop.State:
    out = blocks.output_dir(cfg, overwrite)
    model_tok, template = blocks.model_tokenizer(cfg)
    build = blocks.dataset(cfg, model_tok, template)
    if build.kind not in ("sft", "packed"):
        raise DataprepError(
            f"{build.path} holds preference pairs; method sft trains on SFT builds",
            fix="set method: dpo, or build SFT data",
        )
    loop.seed_everything(cfg.seed)  # the new weights, dropout and the row order
    device = dist.setup(blocks.device(), single_group=bool(cfg.deepspeed or cfg.fsdp))
    ds = blocks.deepspeed(cfg)
    model, _ = models.load(cfg, model_tok.backend.get_vocab_size(), device, ds)
    total = loop.total_steps(cfg, len(build.train) // dist.world())
    engine = engines.make(cfg, model, device, total, ds)
    with Log(out, quiet or dist.rank() > 0) as log:
        state = loop.run(cfg, build, engine, step, blocks.pad_id(model_tok), device, log)
    blocks.save(cfg, engine, out, model_tok, state, build)
    dist.finish()
    return state
