"""Direct preference optimisation, top to bottom: tokenizer, pairs, model, loop, save.

The reference policy is the model itself with its adapters disabled (LoRA/QLoRA: no second
copy in memory), or a frozen copy for full fine-tuning. Losses: sigmoid (DPO), ipo (on
per-token averages), hinge; `pref_ftx` adds the SFT loss on the chosen answers.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from typing import TYPE_CHECKING

from dataprep.errors import DataprepError
from train import blocks, dist, loop
from train import engine as engines
from train import model as models
from train.log import Log

if TYPE_CHECKING:
    from train.config import TrainConfig


def sequence_logps(model, batch):
    """Sum of the log-probabilities of each sequence's label tokens, and their count: chosen
    sequences first, then rejected (pairs in one row are split by their segment numbers)."""
    import torch

    logits = model(**models.inputs(model, batch)).logits
    logits = logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    picked = torch.gather(logits.log_softmax(-1), 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    picked = picked * mask
    if "segments" not in batch:
        return picked.sum(-1), mask.sum(-1)
    segments = batch["segments"][:, 1:]
    sums = [(picked * (segments == s)).sum(-1) for s in (1, 2)]
    counts = [(mask & (segments == s)).sum(-1) for s in (1, 2)]
    return torch.cat(sums), torch.cat(counts)


def preference_loss(policy_c, policy_r, ref_c, ref_r, beta: float, kind: str):
    import torch.nn.functional as F

    logits = (policy_c - policy_r) - (ref_c - ref_r)
    if kind == "ipo":
        return (logits - 1 / (2 * beta)) ** 2
    if kind == "hinge":
        return F.relu(1 - beta * logits)
    return -F.logsigmoid(beta * logits)


def make_step(config, reference):
    import torch

    def step(model, batch):
        policy, counts = sequence_logps(model, batch)
        with torch.no_grad():
            if reference is not None:
                ref, _ = sequence_logps(reference, batch)
            else:  # the inner model: DDP and DeepSpeed wrappers hide disable_adapter
                inner = getattr(model, "module", model)
                with (
                    inner.disable_adapter() if hasattr(inner, "disable_adapter") else nullcontext()
                ):
                    ref, _ = sequence_logps(inner, batch)
        n = policy.shape[0] // 2
        # IPO compares per-token averages (as TRL and LLaMA-Factory do): a squared loss on
        # summed log-probabilities would grow with the answers' length.
        scale = counts.clamp(min=1) if config.pref_loss == "ipo" else 1
        p_avg, r_avg = policy / scale, ref / scale
        losses = preference_loss(p_avg[:n], p_avg[n:], r_avg[:n], r_avg[n:], config.pref_beta,
                                 config.pref_loss)  # fmt: skip
        loss = losses.sum()
        if config.pref_ftx:
            loss = loss + config.pref_ftx * (-policy[:n] / counts[:n].clamp(min=1)).sum()
        chosen = config.pref_beta * (policy[:n] - ref[:n]).detach()
        rejected = config.pref_beta * (policy[n:] - ref[n:]).detach()
        return loss, {
            "rewards/chosen": float(chosen.sum()),
            "rewards/rejected": float(rejected.sum()),
            "rewards/margins": float((chosen - rejected).sum()),
            "rewards/accuracies": float((chosen > rejected).float().sum()),
        }

    return step


def main(cfg: TrainConfig, overwrite: bool = False, quiet: bool = False) -> loop.State:
    out = blocks.output_dir(cfg, overwrite)
    model_tok, template = blocks.model_tokenizer(cfg)
    build = blocks.dataset(cfg, model_tok, template)
    if build.kind != "dpo":
        raise DataprepError(
            f"{build.path} holds SFT rows; method dpo trains on preference builds",
            fix="build chosen/rejected data, or set method: sft",
        )
    if cfg.pack_pairs:
        build = dataclasses.replace(build, kind="pairs")
    loop.seed_everything(cfg.seed)  # the new weights, dropout and the row order
    device = dist.setup(blocks.device(), single_group=bool(cfg.deepspeed or cfg.fsdp))
    ds = blocks.deepspeed(cfg)
    model, reference = models.load(cfg, model_tok.backend.get_vocab_size(), device, ds)
    total = loop.total_steps(cfg, len(build.train) // dist.world())
    engine = engines.make(cfg, model, device, total, ds)
    step = make_step(cfg, reference)
    with Log(out, quiet or dist.rank() > 0) as log:
        state = loop.run(cfg, build, engine, step, blocks.pad_id(model_tok), device, log)
    blocks.save(cfg, engine, out, model_tok, state, build)
    dist.finish()
    return state
