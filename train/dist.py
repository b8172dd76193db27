"""Several processes, through torch.distributed (torchrun / DDP): gloo on CPU, NCCL on GPUs.

`train run` under `torchrun --nproc_per_node N` (or `python -m torch.distributed.run`) trains
with N processes; alone, every function here is the identity."""

from __future__ import annotations

import os


def setup(device: str) -> str:
    """Join the process group torchrun describes; returns this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    import torch
    import torch.distributed as td

    if not td.is_initialized():
        td.init_process_group("nccl" if device == "cuda" else "gloo")
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def world() -> int:
    import torch.distributed as td

    return td.get_world_size() if td.is_available() and td.is_initialized() else 1


def rank() -> int:
    import torch.distributed as td

    return td.get_rank() if td.is_available() and td.is_initialized() else 0


def total(value: float) -> float:
    """The sum of `value` over every process."""
    if world() == 1:
        return value
    import torch
    import torch.distributed as td

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    td.all_reduce(tensor)
    return float(tensor.item())


def wrap(model, device: str):
    """DDP around the model when several processes train it."""
    if world() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.split(":")[1])] if device.startswith("cuda:") else None
    return DistributedDataParallel(model, device_ids=ids)


def finish() -> None:
    import torch.distributed as td

    if td.is_available() and td.is_initialized():
        td.destroy_process_group()
