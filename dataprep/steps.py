"""Optimizer steps from a row count, as Hugging Face's Trainer counts them (transformers 5).

A streaming dataset has no length, so its users must set `max_steps` themselves; a build's
rows (packed rows when packed) and a file's records give it exactly. Each of `world`
processes takes ceil(rows / (per_device_batch * world)) batches an epoch (the last one short),
and an optimizer step takes `grad_accum` of them, a short tail making one more step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dataprep.errors import DataprepError


@dataclass(frozen=True)
class Batching:
    per_device_batch: int
    grad_accum: int = 1
    world: int = 1  # processes (GPUs) training together
    epochs: float = 1.0

    def __post_init__(self) -> None:
        for name in ("per_device_batch", "grad_accum", "world"):
            if getattr(self, name) < 1:
                raise DataprepError(f"--{name.replace('_', '-')} must be 1 or more")
        if not self.epochs > 0:
            raise DataprepError("--epochs must be more than 0", fix="e.g. --epochs 3")


def steps(rows: int, batching: Batching) -> dict:
    """Steps per epoch, `max_steps` for the epochs, and the global batch, for `rows` rows."""
    b = batching
    batches = -(-rows // (b.per_device_batch * b.world))  # per process
    per_epoch = max(-(-batches // b.grad_accum), 1)
    return {
        "rows": rows,
        "global_batch": b.per_device_batch * b.grad_accum * b.world,
        "per_epoch": per_epoch,
        "epochs": b.epochs,
        "max_steps": math.ceil(b.epochs * per_epoch),
    }


def describe(found: dict) -> str:
    return (
        f"{found['per_epoch']:,} optimizer step{'s' if found['per_epoch'] != 1 else ''} per "
        f"epoch over {found['rows']:,} rows "
        f"(global batch {found['global_batch']:,}); max_steps {found['max_steps']:,} for "
        f"{found['epochs']:g} epoch{'s' if found['epochs'] != 1 else ''}"
    )
