"""The training loop both recipes share: accumulate, clip, step, log, evaluate, save, resume.

A recipe gives `step(model, batch) -> (loss, metrics)`; this module does the rest, and stops
at once on a NaN/inf loss or gradient with the step, the batch's rows and what to try.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass
class Window:
    """What happened since the last log line, summed; `Log.step` turns it into averages."""

    loss: float = 0.0  # the optimizer steps' losses
    weight: float = 0.0  # label tokens (SFT) or pairs (DPO) they were divided by
    steps: int = 0
    batches: int = 0
    tokens: int = 0
    padding: float = 0.0  # the batches' padding shares
    wait: float = 0.0  # seconds spent collating (loading images, for LLaVA)
    metrics: dict = field(default_factory=dict)  # a recipe's own sums (DPO's rewards)
    started: float = field(default_factory=time.perf_counter)

    def add(self, batch: dict, metrics: dict) -> None:
        self.tokens += batch["tokens"]
        self.padding += batch["padding"]
        self.batches += 1
        for key, value in metrics.items():
            self.metrics[key] = self.metrics.get(key, 0.0) + value

    def totals(self) -> Window:
        """The sums over every process (the log line is rank 0's)."""
        self.metrics = {k: dist.total(v) for k, v in self.metrics.items()}
        self.tokens = dist.total(self.tokens)
        return self


def run(
    config, build: data.Build, engine, step, pad_id: int, device: str, log, collate=None
) -> State:
    """Train until max_steps or the epochs are done; returns the final state.

    The loss of an optimizer step is the sum over every label token (SFT) or pair (DPO) of its
    accumulated micro-batches on every process, divided by their number: the same gradient
    whatever the split into processes and accumulation steps."""
    collate = collate or data.collate  # LLaVA's also loads the rows' images
    total = total_steps(config, len(build.train) // dist.world())
    state = _resumed(config, engine)
    if dist.rank() == 0:
        log.start(config, total, len(build.train))
    window = Window()
    engine.model.train()
    while state.step < total:
        for group in _remaining_groups(config, build, state):
            wait = time.perf_counter()
            batches = [collate(rows, build.kind, pad_id) for rows in _local(group, build, config)]
            window.wait += time.perf_counter() - wait
            norm = _optimizer_step(engine, step, group, batches, state, window, device, log)
            state.step += 1
            state.batch += config.gradient_accumulation_steps
            if state.step % config.logging_steps == 0 or state.step == total:
                if dist.rank() == 0:
                    log.step(state, window.totals(), norm, engine.lr(), device)
                else:
                    window.totals()  # every process takes part in the sums
                window = Window()
            _evaluate_and_save(config, build, engine, step, pad_id, device, collate, state, log)
            if state.step >= total:
                return state
        state.epoch += 1
        state.batch = 0
    return state


def _resumed(config, engine) -> State:
    if not config.resume_from_checkpoint:
        return State()
    path = Path(config.resume_from_checkpoint)
    if not (path / "trainer_state.json").is_file():
        raise DataprepError(f"{path}: not a checkpoint", fix="name a checkpoint-N folder")
    return State(**engine.resume(path))


def _remaining_groups(config, build: data.Build, state: State) -> Iterator[list[list[int]]]:
    """This epoch's optimizer steps not yet trained (a resumed run skips the ones it did),
    each a list of global batches: the rows of every process's micro-batch."""
    order = _global_batches(config, build, state.epoch, dist.world())
    accum, done = config.gradient_accumulation_steps, state.batch
    for start in range(0, len(order), accum):
        if start >= done:
            yield order[start : start + accum]


def _local(group: list[list[int]], build: data.Build, config) -> list[list[dict]]:
    """This process's rows of each global batch in the group."""
    per, rank = config.per_device_train_batch_size, dist.rank()
    return [[build.train[i] for i in rows[rank * per : (rank + 1) * per]] for rows in group]


def _optimizer_step(engine, step, group, batches, state: State, window: Window, device, log):
    """Accumulate the group's micro-batches and step the optimizer; the gradient norm."""
    import torch

    world = dist.world()
    # at least 1: a group whose rows were all masked (failed images) adds nothing
    weight = max(1.0, dist.total(sum(b["weight"] for b in batches)))
    step_loss = 0.0
    for index, (rows, batch) in enumerate(zip(group, batches, strict=True)):
        moved = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        loss_sum, metrics = step(engine.model, moved)
        if not torch.isfinite(loss_sum):
            raise _stop(state, rows, "loss", float(loss_sum), log)
        # DDP and ZeRO average gradients over processes: scale back up to a plain sum.
        engine.backward(loss_sum * world / weight, boundary=index == len(group) - 1)
        step_loss += float(loss_sum.detach())
        window.add(batch, metrics)
    norm = engine.step()
    if not math.isfinite(norm):
        raise _stop(state, group[0], "gradient norm", norm, log)
    window.loss += dist.total(step_loss) / weight
    window.weight += weight
    window.steps += 1
    return norm


def _evaluate_and_save(config, build, engine, step, pad_id, device, collate, state, log):
    """eval_steps: the validation loss, and the best model so far in output_dir/best;
    save_steps: a checkpoint to resume from."""
    out = Path(config.output_dir)
    if config.eval_steps and build.validation is not None and state.step % config.eval_steps == 0:
        value = evaluate(config, build, engine.model, step, pad_id, device, collate)
        if dist.rank() == 0:
            log.eval(state, value)
        if state.best_eval is None or value < state.best_eval:
            state.best_eval = value
            engine.save_model(out / "best")
        engine.model.train()
    if config.save_steps and state.step % config.save_steps == 0:
        engine.save(out / f"checkpoint-{state.step}", state.__dict__)


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
