"""Supervised fine-tuning, top to bottom: data, model, loop, save."""

from __future__ import annotations

from dataprep.errors import DataprepError
from train import dist, loop, recipe
from train import engine as engines
from train import model as models
from train.log import Log


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


def run(config, overwrite: bool = False, quiet: bool = False):
    out = recipe.prepare_output(config, overwrite)
    model_tok, template = recipe.model_tokenizer(config)
    build = recipe.dataset(config, model_tok, template)
    if build.kind not in ("sft", "packed"):
        raise DataprepError(
            f"{build.path} holds preference pairs; method sft trains on SFT builds",
            fix="set method: dpo, or build SFT data",
        )
    loop.seed_everything(config.seed)
    device = dist.setup(recipe.device(), single_group=bool(config.deepspeed or config.fsdp))
    ds = recipe.deepspeed(config)
    vocab = model_tok.backend.get_vocab_size()
    model, _ = models.load(config, vocab, device, ds)
    total = loop.total_steps(config, len(build.train) // dist.world())
    engine = engines.make(config, model, device, total, ds)
    pad = model_tok.backend.token_to_id(model_tok.special.get("pad_token") or "") or 0
    log = Log(out, quiet or dist.rank() > 0)
    try:
        state = loop.run(config, build, engine, step, pad, device, log)
    finally:
        log.close()
    recipe.finish(config, engine, out, model_tok, state, build)
    dist.finish()
    return state
