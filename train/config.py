"""The training config: one validated dataclass, loaded in one place.

Keys are named as people know them from LLaMA-Factory and transformers. `load()` reads a YAML
file plus `key=value` overrides, and reports every problem at once (unknown keys with a "did
you mean", wrong types, impossible combinations) as one ConfigError. Defaults depend on the
method, as the troubleshooting chapter advises: learning rate 2e-4 for LoRA SFT, 5e-6 for DPO,
1e-5 for full SFT.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataprep import validate
from dataprep.errors import ConfigError

METHODS = ("sft", "dpo", "llava")
FINETUNING = ("lora", "qlora", "full")
PREF_LOSSES = ("sigmoid", "ipo", "hinge")
ATTENTION = ("auto", "fa2", "sdpa", "eager")


@dataclass
class TrainConfig:
    model_name_or_path: str = ""
    method: str = "sft"
    finetuning_type: str = "lora"
    quantization_bit: int | None = None  # 4 with qlora
    dataset: str = ""  # a build directory, a build.yaml, or a data file (built first)
    output_dir: str = ""
    tokenizer: str | None = None  # default: the model's own
    template: str = "auto"
    cutoff_len: int | None = None  # default: the build's
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float | None = None  # default: by method and finetuning type
    num_train_epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    warmup_ratio: float = 0.03
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora_rank: int = 8
    lora_alpha: int | None = None  # default: 2 x rank
    lora_dropout: float = 0.0
    lora_target: str = "all"  # all, or comma-separated module names
    flash_attn: str = "auto"
    bf16: bool = False
    fp16: bool = False
    tf32: bool = False
    gradient_checkpointing: bool = False
    pref_beta: float = 0.1
    pref_loss: str = "sigmoid"
    pref_ftx: float = 0.0
    pack_pairs: bool = True  # DPO: a pair in one row (prompt+chosen, prompt+rejected), less padding
    val_size: float = 0.0
    eval_steps: int | None = None
    save_steps: int | None = None
    logging_steps: int = 10
    seed: int = 42
    deepspeed: str | None = None
    # LLaVA (method llava): a CLIP tower + the LM + a new projector, or a LLaVA checkpoint.
    vision_tower: str | None = None
    projector_type: str = "mlp"  # mlp (LLaVA-1.5's GELU MLP) | linear
    freeze_vision_tower: bool = True
    freeze_projector: bool = False
    freeze_llm_module: bool = False  # stage 1: projector pre-training
    fsdp: str | None = None  # full_shard | shard_grad_op (PyTorch FSDP)
    fsdp_offload: bool = False  # FSDP: parameters, gradients, optimizer states in CPU memory
    resume_from_checkpoint: str | None = None
    group_by_length: bool = True
    dataloader_num_workers: int = 0
    overwrite_output_dir: bool = False
    # Where the config came from (not a setting).
    source: str = field(default="", repr=False)

    @property
    def effective_batch(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    @property
    def lora(self) -> bool:
        return self.finetuning_type in ("lora", "qlora")

    def resolved(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out


def default_learning_rate(config: TrainConfig) -> float:
    if config.method == "dpo":
        return 5e-6
    return 1e-5 if config.finetuning_type == "full" else 2e-4


def _parse(value: str) -> Any:
    """A `key=value` override's value, as YAML reads it (numbers, booleans, null)."""
    import yaml

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def load(
    path: str | None, overrides: list[str] | None = None, planning: bool = False
) -> TrainConfig:
    """The validated config; `planning` (train plan) needs no dataset or output_dir."""
    import yaml

    where = path or "<overrides>"
    problems: list[str] = []
    data: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(where, [f"{where}: cannot read ({exc.strerror})"]) from None
        except yaml.YAMLError as exc:
            raise ConfigError(where, [f"{where}: not valid YAML ({exc})"]) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(where, [f"{where}: a training config is a mapping of keys"])
        data.update(raw)
    for item in overrides or []:
        if "=" not in item:
            problems.append(f"override {item!r}: write key=value")
            continue
        key, value = item.split("=", 1)
        data[key.strip()] = _parse(value)
    values = validate.fields(TrainConfig, data, where, problems, skip=("source",))
    config = TrainConfig(**values, source=where)
    problems += _combinations(config, where, planning)
    if problems:
        raise ConfigError(where, problems)
    if config.learning_rate is None:
        config.learning_rate = default_learning_rate(config)
    if config.lora_alpha is None:
        config.lora_alpha = 2 * config.lora_rank
    if config.finetuning_type == "qlora" and config.quantization_bit is None:
        config.quantization_bit = 4
    return config


def _combinations(c: TrainConfig, where: str, planning: bool = False) -> list[str]:
    problems = []
    for key, allowed in (("method", METHODS), ("finetuning_type", FINETUNING),
                         ("pref_loss", PREF_LOSSES), ("flash_attn", ATTENTION),
                         ("lr_scheduler_type", ("cosine", "linear", "constant"))):  # fmt: skip
        validate.one_of(where, key, getattr(c, key), allowed, problems)
    if not c.model_name_or_path:
        problems.append(f"{where}: model_name_or_path is required")
    if not c.dataset and not planning:
        problems.append(f"{where}: dataset is required (a build directory or data file)")
    if not c.output_dir and not planning:
        problems.append(f"{where}: output_dir is required")
    if c.quantization_bit is not None and c.finetuning_type == "full":
        problems.append(
            f"{where}: quantization_bit with finetuning_type full: quantised weights cannot be "
            "trained; use finetuning_type qlora (LoRA on a 4-bit base)"
        )
    if c.quantization_bit not in (None, 4, 8):
        problems.append(f"{where}: quantization_bit must be 4 or 8")
    if c.finetuning_type == "qlora" and c.quantization_bit == 8:
        problems.append(f"{where}: qlora means 4-bit; use quantization_bit 4 (or lora)")
    dpo_only = {"pref_beta": 0.1, "pref_loss": "sigmoid", "pref_ftx": 0.0, "pack_pairs": True}
    set_for_dpo = [k for k, default in dpo_only.items() if getattr(c, k) != default]
    if c.method == "sft" and set_for_dpo:
        problems.append(f"{where}: {', '.join(set_for_dpo)}: DPO settings, and method is sft")
    if c.fsdp not in (None, "full_shard", "shard_grad_op"):
        problems.append(f"{where}: fsdp must be full_shard or shard_grad_op")
    if c.fsdp and c.deepspeed:
        problems.append(f"{where}: fsdp and deepspeed together: choose one sharding engine")
    if c.fsdp_offload and not c.fsdp:
        problems.append(f"{where}: fsdp_offload needs fsdp (full_shard or shard_grad_op)")
    if c.fsdp and (c.quantization_bit or c.finetuning_type == "qlora"):
        problems.append(
            f"{where}: fsdp with quantization_bit: 4/8-bit weights are not sharded here; "
            "use lora with fsdp, or qlora on DDP"
        )
    if c.fsdp and c.method == "dpo" and c.finetuning_type == "full":
        problems.append(
            f"{where}: full-parameter DPO under fsdp would keep a whole reference copy per "
            "process: use LoRA (the reference is the model with its adapters disabled)"
        )
    if c.deepspeed:
        from train.engine import read_deepspeed

        try:
            read_deepspeed(c.deepspeed)
        except ConfigError as exc:
            problems += [f"{where}: {p}" for p in exc.problems]
    if c.projector_type not in ("mlp", "linear"):
        problems.append(f"{where}: projector_type must be mlp or linear")
    llava_keys = [k for k, default in (("vision_tower", None), ("projector_type", "mlp"),
                                       ("freeze_vision_tower", True), ("freeze_projector", False),
                                       ("freeze_llm_module", False))
                  if getattr(c, k) != default]  # fmt: skip
    if c.method != "llava" and llava_keys:
        problems.append(
            f"{where}: {', '.join(llava_keys)}: LLaVA settings, and method is {c.method}"
        )
    if c.method == "llava":
        if c.deepspeed or c.fsdp:
            problems.append(f"{where}: method llava trains on one process or DDP here (no "
                            "deepspeed/fsdp)")  # fmt: skip
        if c.freeze_llm_module and c.freeze_projector and c.freeze_vision_tower:
            problems.append(f"{where}: everything is frozen: unfreeze the projector, the LLM "
                            "or the vision tower")  # fmt: skip
        if c.projector_type == "linear" and not c.vision_tower:
            problems.append(f"{where}: projector_type linear builds a new projector: name "
                            "vision_tower")  # fmt: skip
    if c.bf16 and c.fp16:
        problems.append(f"{where}: bf16 and fp16 together: choose one")
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps", "lora_rank",
                "logging_steps"):  # fmt: skip
        if getattr(c, key) < 1:
            problems.append(f"{where}: {key} must be at least 1")
    if not 0 <= c.val_size < 1:
        problems.append(f"{where}: val_size must be in [0, 1)")
    if c.learning_rate is not None and not 0 < c.learning_rate < 1:
        problems.append(f"{where}: learning_rate {c.learning_rate} is not a learning rate")
    return problems
