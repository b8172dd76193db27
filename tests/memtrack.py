"""Peak tensor memory of CPU code, measured: every tensor storage an operation creates is
counted while it lives (a TorchDispatchMode sees each op's outputs; a weak finaliser sees
each storage freed). The CPU stand-in for torch.cuda.max_memory_allocated."""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class PeakMemory(TorchDispatchMode):
    def __init__(self, baseline: int = 0):
        super().__init__()
        self.live: dict[int, int] = {}
        self.now = baseline
        self.peak = baseline

    def _freed(self, key: int) -> None:
        self.now -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key in self.live or storage.nbytes() == 0:
                    continue
                self.live[key] = storage.nbytes()
                self.now += storage.nbytes()
                self.peak = max(self.peak, self.now)
                weakref.finalize(storage, self._freed, key)
        return out
