"""How an optimizer step is taken: PyTorch's AdamW on one process or under DDP, PyTorch's FSDP
(`fsdp: full_shard | shard_grad_op`, weights, gradients and optimizer states sharded per
decoder layer), or a DeepSpeed ZeRO engine (stages 1-3, optimizer and parameter offload to
the CPU).

`deepspeed:` in the config names a DeepSpeed JSON file or a shipped preset (`zero2`, `zero3`,
`zero3_offload`: the troubleshooting chapter's last resort against OOM). Its "auto" values are
filled from the training config, and values that contradict it are refused. Both engines offer
the loop the same surface: `model` to call, `backward`, `step` (clip, update, schedule), `lr`,
`save`/`resume` of checkpoints, and `save_model`."""

from __future__ import annotations

import json
import os
import random
import shutil
from importlib import resources
from pathlib import Path

from dataprep.errors import ConfigError, DataprepError
from train import dist

PRESETS = ("zero2", "zero3", "zero3_offload")


def preset_path(name: str) -> Path:
    return Path(str(resources.files("train") / "presets" / f"{name}.json"))


def read_deepspeed(value: str) -> dict:
    """The DeepSpeed config a `deepspeed:` value names (a preset or a JSON file)."""
    path = preset_path(value) if value in PRESETS else Path(value)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problem = (
            f"deepspeed: cannot read {path} ({exc.strerror}); name a DeepSpeed JSON file or "
            f"a preset ({', '.join(PRESETS)})"
        )
        raise ConfigError(value, [problem]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(value, [f"deepspeed: {path} is not valid JSON ({exc})"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(value, [f"deepspeed: {path} must hold a JSON object"])
    return raw


def deepspeed_config(config, world: int) -> dict:
    """The DeepSpeed config with its "auto" values filled from the training config; every value
    that contradicts the training config is listed at once."""
    ds = read_deepspeed(config.deepspeed)
    problems: list[str] = []
    wanted = {
        "train_micro_batch_size_per_gpu": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "train_batch_size": config.effective_batch * world,
        "gradient_clipping": config.max_grad_norm,
    }
    for key, value in wanted.items():
        if ds.get(key, "auto") not in ("auto", value):
            problems.append(
                f"deepspeed: {key} is {ds[key]} but the training config gives {value}; set it "
                'to "auto" (the training config decides)'
            )
        ds[key] = value
    for key, on in (("bf16", config.bf16), ("fp16", config.fp16)):
        section = ds.setdefault(key, {})
        if section.get("enabled", "auto") not in ("auto", on):
            problems.append(f"deepspeed: {key}.enabled contradicts {key}: {on} in the config")
        section["enabled"] = on
    optimizer = ds.get("optimizer")
    if optimizer is not None:
        params = optimizer.setdefault("params", {})
        for key, value in (("lr", config.learning_rate), ("weight_decay", config.weight_decay)):
            if params.get(key, "auto") not in ("auto", value):
                problems.append(f"deepspeed: optimizer.params.{key} contradicts {key}")
            params[key] = value
    if "scheduler" in ds:
        problems.append(
            "deepspeed: a scheduler section; the learning-rate schedule comes from the training "
            "config (lr_scheduler_type, warmup_ratio): remove it"
        )
    zero = ds.setdefault("zero_optimization", {})
    for key in list(zero):
        if zero[key] == "auto":  # bucket sizes: DeepSpeed's own defaults
            del zero[key]
    if stage(ds) == 3 and config.quantization_bit:
        problems.append(
            "deepspeed: ZeRO-3 shards the weights, and 4/8-bit quantised weights are not "
            "sharded here: use ZeRO-2 (zero2) with qlora, or lora with zero3"
        )
    if stage(ds) == 3 and config.method == "dpo" and config.finetuning_type == "full":
        problems.append(
            "deepspeed: full-parameter DPO under ZeRO-3 needs a second sharded model as its "
            "reference: use LoRA (the reference is the model with its adapters disabled)"
        )
    ds.setdefault("steps_per_print", 10**9)  # the loop logs; DeepSpeed stays quiet
    if problems:
        raise ConfigError(config.source or "config", problems)
    return ds


def stage(ds: dict) -> int:
    return int(ds.get("zero_optimization", {}).get("stage", 0))


def offloads_optimizer(ds: dict) -> bool:
    return ds.get("zero_optimization", {}).get("offload_optimizer", {}).get("device") == "cpu"


def loading_context(ds: dict | None):
    """Under ZeRO-3, transformers builds the model sharded as it loads (no full copy per
    process) while this object lives."""
    if ds is None or stage(ds) != 3:
        return None
    from transformers.integrations import HfDeepSpeedConfig

    return HfDeepSpeedConfig(ds)


def start_deepspeed() -> None:
    """Import DeepSpeed and let it adopt the process group (ZeRO-3's sharded loading asks
    DeepSpeed, not torch, for the world size)."""
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        raise DataprepError(
            "deepspeed: the DeepSpeed package is not installed",
            fix="pip install deepspeed (with torch installed first), or drop `deepspeed:` "
            "and train with torchrun (DDP)",
        )
    import deepspeed

    deepspeed.init_distributed()


def _adamw(config, params):
    import torch

    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def _schedule(config, total: int):
    from train.loop import schedule

    return lambda optimizer: schedule(config, optimizer, total)


class Plain:
    """AdamW in PyTorch; under torchrun the model is wrapped in DDP."""

    def __init__(self, config, model, device: str, total: int):

        from train.loop import schedule

        self.inner = model
        self.model = dist.wrap(model, device)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = _adamw(config, self.params)
        self.scheduler = schedule(config, self.optimizer, total)
        self.max_grad_norm = config.max_grad_norm

    def backward(self, loss, boundary: bool) -> None:
        loss.backward()

    def step(self) -> float:
        return _clipped_step(self)

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def save_model(self, path: Path) -> None:
        if dist.rank() == 0:
            self.inner.save_pretrained(path)

    def save(self, path: Path, state: dict) -> None:
        import torch

        if dist.rank() > 0:
            return
        tmp = _fresh(path)
        self.inner.save_pretrained(tmp)
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
        _finish_save(tmp, path, state)

    def resume(self, path: Path) -> dict:
        import torch

        _load_weights(self.inner, path)
        self.optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
        return _load_state(path)


class ZeRO:
    """A DeepSpeed engine: gradients reduced (and sharded) by ZeRO, the optimizer DeepSpeed's
    own when the config names one (CPU Adam under offload), else AdamW."""

    def __init__(self, config, model, device: str, total: int, ds: dict):
        import deepspeed

        self.inner = model
        self.ds = ds
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = None
        if "optimizer" not in ds:
            optimizer = _adamw(config, params)
            if offloads_optimizer(ds):  # DeepSpeed would insist on its CPU Adam otherwise
                ds["zero_force_ds_cpu_optimizer"] = False
        self.model, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, model_parameters=params, optimizer=optimizer, config=ds,
            lr_scheduler=_schedule(config, total),
        )  # fmt: skip

    def backward(self, loss, boundary: bool) -> None:
        # The loop scales the loss for accumulation itself; DeepSpeed must not divide again,
        # and the boundary follows the loop's groups (an epoch's last group may be short).
        self.model.set_gradient_accumulation_boundary(boundary)
        self.model.backward(loss, scale_wrt_gas=False)
        if not boundary:
            self.model.step()

    def step(self) -> float:
        self.model.step()
        norm = self.model.get_global_grad_norm()
        return float(norm) if norm is not None else 0.0

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def save_model(self, path: Path) -> None:
        """Gather the sharded weights that are saved (a LoRA run: only its adapters) and let
        the first process write them."""
        import deepspeed

        inner = self.inner
        trainable = [p for p in inner.parameters() if p.requires_grad]
        saved = trainable if hasattr(inner, "peft_config") else list(inner.parameters())
        with deepspeed.zero.GatheredParameters(saved, modifier_rank=None):
            if dist.rank() == 0:
                inner.save_pretrained(path)
        dist.barrier()

    def save(self, path: Path, state: dict) -> None:
        tmp = path.with_name(path.name + ".tmp")
        if dist.rank() == 0:
            _fresh(path)
        dist.barrier()
        self.model.save_checkpoint(str(tmp), tag="zero")  # every process writes its shard
        self.save_model(tmp)
        if dist.rank() == 0:
            _finish_save(tmp, path, state)
        dist.barrier()

    def resume(self, path: Path) -> dict:
        loaded, _ = self.model.load_checkpoint(str(path), tag="zero")
        if loaded is None:
            raise DataprepError(
                f"{path}: no DeepSpeed checkpoint in it",
                fix="resume a run with the deepspeed setting it was saved with",
            )
        return _load_state(path)


class Sharded:
    """PyTorch FSDP (fully_shard): each decoder layer is one shard unit, the model the root.
    `full_shard` frees a layer's gathered weights after its forward (ZeRO-3's memory);
    `shard_grad_op` keeps them until the backward (ZeRO-2's, less communication)."""

    def __init__(self, config, model, device: str, total: int):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard

        from train.loop import schedule

        self.inner = model
        kind = "cuda" if device.startswith("cuda") else "cpu"
        mesh = init_device_mesh(kind, (dist.world(),))
        keep = config.fsdp == "shard_grad_op"
        offload = CPUOffloadPolicy() if config.fsdp_offload else OffloadPolicy()
        layers = set(getattr(_base(model), "_no_split_modules", None) or [])
        for module in model.modules():
            if type(module).__name__ in layers:
                fully_shard(module, mesh=mesh, reshard_after_forward=not keep,
                            offload_policy=offload)  # fmt: skip
        fully_shard(model, mesh=mesh, reshard_after_forward=not keep, offload_policy=offload)
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = _adamw(config, self.params)
        self.scheduler = schedule(config, self.optimizer, total)
        self.max_grad_norm = config.max_grad_norm

    def backward(self, loss, boundary: bool) -> None:
        self.model.set_requires_gradient_sync(boundary)  # reduce-scatter once per step
        loss.backward()

    def step(self) -> float:
        return _clipped_step(self)

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def _weights(self) -> dict:
        """The saved weights, whole, on the first process (a LoRA run: only its adapters)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        frozen_out = hasattr(self.inner, "peft_config")
        options = StateDictOptions(
            full_state_dict=True, cpu_offload=True, ignore_frozen_params=frozen_out
        )
        return get_model_state_dict(self.model, options=options)

    def save_model(self, path: Path) -> None:
        weights = self._weights()  # every process takes part in the gather
        if dist.rank() == 0:
            self.inner.save_pretrained(path, state_dict=weights)
        dist.barrier()

    def save(self, path: Path, state: dict) -> None:
        import torch
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        weights = self._weights()
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        optimizer = get_optimizer_state_dict(self.model, self.optimizer, options=options)
        if dist.rank() == 0:
            tmp = _fresh(path)
            self.inner.save_pretrained(tmp, state_dict=weights)
            torch.save(weights, tmp / "sharded_model.pt")
            torch.save(optimizer, tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            _finish_save(tmp, path, state)
        dist.barrier()

    def resume(self, path: Path) -> dict:
        import torch
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        if not (path / "sharded_model.pt").is_file():
            raise DataprepError(
                f"{path}: not saved by an FSDP run",
                fix="resume a run with the fsdp setting it was saved with",
            )
        options = StateDictOptions(full_state_dict=True, strict=False)
        weights = torch.load(path / "sharded_model.pt", weights_only=False)
        set_model_state_dict(self.model, weights, options=options)
        saved = torch.load(path / "optimizer.pt", weights_only=False)
        set_optimizer_state_dict(self.model, self.optimizer, saved, options=options)
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
        return _load_state(path)


def _clipped_step(engine) -> float:
    """Clip, update, schedule; a non-finite gradient norm is returned before any update."""
    import math

    import torch

    norm = torch.nn.utils.clip_grad_norm_(engine.params, engine.max_grad_norm)
    norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP: DTensor
    if not math.isfinite(norm):
        return norm
    engine.optimizer.step()
    engine.scheduler.step()
    engine.optimizer.zero_grad(set_to_none=True)
    return norm


def _base(model):
    """The transformers model under a PEFT wrapper (it names its decoder layer classes)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def make(config, model, device: str, total: int, ds: dict | None):
    if ds is not None:
        return ZeRO(config, model, device, total, ds)
    if config.fsdp:
        return Sharded(config, model, device, total)
    return Plain(config, model, device, total)


def _fresh(path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _finish_save(tmp: Path, path: Path, state: dict) -> None:
    import torch

    torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, tmp / "rng.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(state))
    if path.exists():  # the same step saved again (a resumed run): replace it whole
        shutil.rmtree(path)
    os.replace(tmp, path)


def _load_weights(model, path: Path) -> None:
    from peft import PeftModel, set_peft_model_state_dict
    from peft.utils import load_peft_weights

    if isinstance(model, PeftModel):
        set_peft_model_state_dict(model, load_peft_weights(str(path)))
    else:
        from transformers import AutoModelForCausalLM

        model.load_state_dict(AutoModelForCausalLM.from_pretrained(path).state_dict())


def _load_state(path: Path) -> dict:
    import torch

    rng = torch.load(path / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads((path / "trainer_state.json").read_text())
