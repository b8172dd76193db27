"""The training loop both recipes share: accumulate, clip, step, log, evaluate, save, resume.

A recipe gives `step(model, batch) -> (loss, metrics)`; this module does the rest, and stops
at once on a NaN/inf loss or gradient with the step, the batch's rows and what to try.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from dataprep.errors import DataprepError
from train import data, dist


class NonFinite(DataprepError):
    pass


@dataclass
class State:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch: int = 0  # micro-batches done in this epoch
    best_eval: float | None = None


def schedule(config, optimizer, total: int):
    import torch

    warmup = max(0, int(config.warmup_ratio * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_scheduler_type == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if config.lr_scheduler_type == "linear":
            return max(0.0, 1 - progress)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def total_steps(config, rows: int) -> int:
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(rows / config.per_device_train_batch_size)
    return max(
        1, math.ceil(per_epoch * config.num_train_epochs / config.gradient_accumulation_steps)
    )


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _global_batches(config, build, epoch: int, world: int) -> list[list[int]]:
    """Row indices of each global batch (per_device x world rows; with several processes the
    last, incomplete one is dropped so that every process has rows)."""
    size = config.per_device_train_batch_size * world
    order = list(data.batches(build.train, build.kind, size, config.seed, epoch,
                              config.group_by_length))  # fmt: skip
    return [b for b in order if len(b) == size] if world > 1 else order


def run(
    config, build: data.Build, engine, step, pad_id: int, device: str, log, collate=None
) -> State:
    """Train until max_steps or the epochs are done; returns the final state.

    The loss of an optimizer step is the sum over every label token (SFT) or pair (DPO) of its
    accumulated micro-batches on every process, divided by their number: the same gradient
    whatever the split into processes and accumulation steps."""
    import torch

    world, rank = dist.world(), dist.rank()
    model = engine.model
    collate = collate or data.collate  # LLaVA's also loads the rows' images
    total = total_steps(config, len(build.train) // world)
    state = State()
    out = Path(config.output_dir)
    if config.resume_from_checkpoint:
        path = Path(config.resume_from_checkpoint)
        if not (path / "trainer_state.json").is_file():
            raise DataprepError(f"{path}: not a checkpoint", fix="name a checkpoint-N folder")
        state = State(**engine.resume(path))
    if rank == 0:
        log.start(config, total, len(build.train))
    accum = config.gradient_accumulation_steps
    window = _window()
    started = time.perf_counter()
    model.train()
    while state.step < total:
        order = _global_batches(config, build, state.epoch, world)
        per = config.per_device_train_batch_size
        steps = [order[i : i + accum] for i in range(0, len(order), accum)]
        for number, group in enumerate(steps):
            if number * accum < state.batch:  # resumed: trained before
                continue
            wait = time.perf_counter()
            batches = [
                collate([build.train[i] for i in rows[rank * per : (rank + 1) * per]],
                        build.kind, pad_id)
                for rows in group
            ]  # fmt: skip
            window["wait"] += time.perf_counter() - wait
            # at least 1: a group whose rows were all masked (failed images) adds nothing
            weight = max(1.0, dist.total(sum(b["weight"] for b in batches)))
            step_loss = 0.0
            for index, (rows, batch) in enumerate(zip(group, batches, strict=True)):
                moved = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
                loss_sum, metrics = step(model, moved)
                if not torch.isfinite(loss_sum):
                    raise _stop(state, rows, "loss", float(loss_sum), log)
                # DDP and ZeRO average gradients over processes: scale back up to a plain sum.
                engine.backward(loss_sum * world / weight, boundary=index == len(group) - 1)
                step_loss += float(loss_sum.detach())
                window["tokens"] += batch["tokens"]
                window["padding"] += batch["padding"]
                window["batches"] += 1
                for key, value in metrics.items():
                    window["metrics"][key] = window["metrics"].get(key, 0.0) + value
            state.batch = (number + 1) * accum
            norm = engine.step()
            if not math.isfinite(norm):
                raise _stop(state, group[0], "gradient norm", norm, log)
            state.step += 1
            window["loss"] += dist.total(step_loss) / weight
            window["weight"] += weight
            window["steps"] += 1
            if state.step % config.logging_steps == 0 or state.step == total:
                window["metrics"] = {k: dist.total(v) for k, v in window["metrics"].items()}
                window["tokens"] = dist.total(window["tokens"])
                if rank == 0:
                    elapsed = time.perf_counter() - started
                    log.step(state, window, norm, engine.lr(), elapsed, device)
                window = _window()
                started = time.perf_counter()
            if (
                config.eval_steps
                and build.validation is not None
                and state.step % config.eval_steps == 0
            ):
                value = evaluate(config, build, model, step, pad_id, device, collate)
                if rank == 0:
                    log.eval(state, value)
                if state.best_eval is None or value < state.best_eval:
                    state.best_eval = value
                    engine.save_model(out / "best")
                model.train()
            if config.save_steps and state.step % config.save_steps == 0:
                engine.save(out / f"checkpoint-{state.step}", state.__dict__)
            if state.step >= total:
                break
        else:
            state.epoch += 1
            state.batch = 0
            continue
        break
    return state


def _window() -> dict:
    return {"loss": 0.0, "tokens": 0, "padding": 0.0, "batches": 0, "wait": 0.0, "metrics": {},
            "weight": 0.0, "steps": 0}  # fmt: skip


def evaluate(config, build, model, step, pad_id: int, device: str, collate=None) -> float:
    import torch

    model.eval()
    losses, weights = [], []
    with torch.no_grad():
        for rows in data.batches(build.validation, build.kind, config.per_device_train_batch_size,
                                 config.seed, 0, False):  # fmt: skip
            batch = (collate or data.collate)([build.validation[i] for i in rows], build.kind,
                                              pad_id)  # fmt: skip
            loss_sum, _ = step(model, {k: v.to(device) if hasattr(v, "to") else v
                                       for k, v in batch.items()})  # fmt: skip
            losses.append(float(loss_sum))
            weights.append(batch["weight"])
    return sum(losses) / max(1, sum(weights))


def _stop(state: State, rows: list[int], what: str, value: float, log) -> NonFinite:
    if dist.rank() == 0:
        log.stopped(state.step + 1, what, value, rows)
    return NonFinite(
        f"step {state.step + 1}: the {what} is {value} (build rows {rows[:8]})",
        fix="lower the learning rate 10x; with fp16 switch to bf16 (or fp32); check these rows "
        "for extreme lengths or repeated tokens",
    )
