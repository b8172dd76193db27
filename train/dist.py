"""Several processes, through torch.distributed (torchrun / DDP): gloo on CPU, NCCL on GPUs.

`train run` under `torchrun --nproc_per_node N` (or `python -m torch.distributed.run`) trains
with N processes; alone, every function here is the identity."""

from __future__ import annotations

import os


def setup(device: str, single_group: bool = False) -> str:
    """Join the process group torchrun describes; returns this process's device. DeepSpeed
    needs a group even alone (`single_group`): one of one process on a free local port."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        if not single_group:
            return device
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        for key, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(port)),
                           ("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):  # fmt: skip
            os.environ.setdefault(key, value)
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

    # NCCL reduces only tensors on the GPU; gloo only on the CPU.
    on = f"cuda:{torch.cuda.current_device()}" if td.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=on)
    td.all_reduce(tensor)
    return float(tensor.item())


def wrap(model, device: str):
    """DDP around the model when several processes train it."""
    if world() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.split(":")[1])] if device.startswith("cuda:") else None
    return DistributedDataParallel(model, device_ids=ids)


def barrier() -> None:
    if world() > 1:
        import torch.distributed as td

        td.barrier()


def finish() -> None:
    """Leave the process group, unless DeepSpeed adopted it: DeepSpeed keeps its own groups
    for the life of the process, and a later run in the same process reuses them."""
    import sys

    import torch.distributed as td

    adopted = "deepspeed" in sys.modules and sys.modules["deepspeed"].comm.is_initialized()
    if td.is_available() and td.is_initialized() and not adopted:
        td.destroy_process_group()
