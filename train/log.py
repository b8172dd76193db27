"""What a run reports: a progress line on a terminal, trainer_log.jsonl, TensorBoard if present."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class Log:
    def __init__(self, out: Path, quiet: bool = False):
        self.out = out
        self.path = out / "trainer_log.jsonl"
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the run)
        self.tty = sys.stderr.isatty() and not quiet
        self.quiet = quiet
        self.total = 0
        self.live = None
        self.board = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(str(out / "runs"))
        except ImportError:  # tensorboard is optional
            pass

    def start(self, config, total: int, rows: int) -> None:
        from train.doctor import Live

        self.total = total
        # The config beside the log from the first step: `train doctor` reads both, even
        # for a run that stopped before writing run.json.
        resolved = config.resolved()
        (self.out / "train_config.json").write_text(json.dumps(resolved, indent=2))
        self.live = Live(resolved, self._warn)
        if not self.quiet:
            print(
                f"training {config.method} ({config.finetuning_type}) on {rows:,} rows: "
                f"{total:,} steps, effective batch {config.effective_batch} "
                f"({config.per_device_train_batch_size} x {config.gradient_accumulation_steps} "
                f"accumulation), learning rate {config.learning_rate:g}",
                file=sys.stderr,
            )

    def _warn(self, message: str) -> None:
        if not self.quiet:
            if self.tty:
                sys.stderr.write("\n")
            print(message, file=sys.stderr)

    def _write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.live is not None:
            self.live.observe(record)
        if self.board is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key != "step":
                    self.board.add_scalar(key, value, record["step"])

    def step(self, state, window, grad_norm: float, lr: float, device) -> None:
        """One log line from a `loop.Window` of sums since the last."""
        import torch

        elapsed = time.perf_counter() - window.started
        batches = max(1, window.batches)
        pairs = max(1.0, window.weight)
        record = {
            "step": state.step,
            "epoch": state.epoch,
            "loss": window.loss / max(1, window.steps),
            "grad_norm": grad_norm,
            "lr": lr,
            "tokens_per_s": window.tokens / max(elapsed, 1e-9),
            "padding": window.padding / batches,
            "data_wait_s": window.wait,
            "time": time.time(),
        }
        record.update({k: v / pairs for k, v in window.metrics.items()})  # sums over pairs
        if str(device).startswith("cuda"):
            record["gpu_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
            record["gpu_total_gb"] = torch.cuda.get_device_properties(0).total_memory / 2**30
        self._write(record)
        if self.tty:
            sys.stderr.write(
                f"\rstep {state.step:,}/{self.total:,}  loss {record['loss']:.4f}  "
                f"{record['tokens_per_s']:,.0f} tokens/s  padding {record['padding']:.0%}\033[K"
            )
            sys.stderr.flush()

    def stopped(self, step: int, what: str, value: float, rows: list[int]) -> None:
        """A non-finite loss or gradient: the record `train doctor` diagnoses from."""
        self._write({"step": step, "nonfinite": what, "value": str(value), "rows": rows[:8],
                     "time": time.time()})  # fmt: skip

    def eval(self, state, value: float) -> None:
        self._write({"step": state.step, "eval_loss": value, "time": time.time()})

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
        self.file.close()
        if self.board is not None:
            self.board.close()
