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
    """A training run. Each field's docstring is what `train run --help-config` prints."""

    model_name_or_path: str = ""
    """The base model: a hub id or a local folder (required)."""
    method: str = "sft"
    """sft (supervised), dpo (preference pairs) or llava (images and text)."""
    finetuning_type: str = "lora"
    """lora (default: adapters on a frozen base, a fraction of full fine-tuning's memory),
    qlora (LoRA on a 4-bit base) or full (every weight)."""
    quantization_bit: int | None = None
    """4 or 8: load the base model quantised (bitsandbytes, CUDA only); qlora means 4."""
    dataset: str = ""
    """A `dataprep build` folder, or a data file, which is built first with this model's
    tokenizer and template (required)."""
    output_dir: str = ""
    """Where the adapter or model, checkpoints, trainer_log.jsonl and the config go
    (required)."""
    tokenizer: str | None = None
    """The tokenizer, when not the model's own (e.g. one with <image> added for llava)."""
    template: str = "auto"
    """The chat template: auto (the tokenizer's own, so training renders as inference will)
    or a name (chatml, llama3, alpaca, default)."""
    cutoff_len: int | None = None
    """Tokens per sequence when dataset is a data file built here (default: the recommended
    cutoff_len of its token lengths); a build folder keeps its own."""
    per_device_train_batch_size: int = 4
    """Rows per device per micro-batch."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step: a larger effective batch without the memory."""
    learning_rate: float | None = None
    """Peak learning rate (default by method: 2e-4 LoRA SFT, 1e-5 full SFT, 5e-6 DPO, the
    troubleshooting chapter's starting points)."""
    num_train_epochs: float = 1.0
    """Passes over the training rows (fractions allowed)."""
    max_steps: int = -1
    """Optimizer steps; above 0 it overrides num_train_epochs."""
    warmup_ratio: float = 0.03
    """Share of the steps the learning rate rises over (a short warm-up keeps the first
    steps of a fresh adapter from overshooting)."""
    lr_scheduler_type: str = "cosine"
    """cosine (default, as LLaMA-Factory's examples), linear or constant after warm-up."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay (0: LoRA adapters rarely need it)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm (1.0, transformers' default)."""
    lora_rank: int = 8
    """LoRA's rank r (8: enough for most instruction tuning; raise it for new knowledge)."""
    lora_alpha: int | None = None
    """LoRA's scale alpha (default 2 x lora_rank)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA inputs (0: short runs rarely overfit through the adapter)."""
    lora_target: str = "all"
    """all (every linear layer of the LM, as LLaMA-Factory's default) or comma-separated
    module names (q_proj,v_proj)."""
    flash_attn: str = "auto"
    """Attention kernel: auto (FlashAttention-2 when installed on CUDA, else SDPA), fa2,
    sdpa or eager."""
    bf16: bool = False
    """Train in bfloat16 (Ampere or newer): half the activations, no loss scaling."""
    fp16: bool = False
    """Train in float16 with loss scaling (older GPUs); bf16 is safer where it exists."""
    tf32: bool = False
    """Allow TF32 matmuls on Ampere or newer (faster fp32, slightly less precise)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: much less memory for ~30% more time."""
    pref_beta: float = 0.1
    """DPO's beta: how far the policy may move from the reference (0.1, the DPO paper's)."""
    pref_loss: str = "sigmoid"
    """DPO's loss: sigmoid (the DPO paper), ipo or hinge."""
    pref_ftx: float = 0.0
    """DPO: weight of an SFT loss on the chosen answers (keeps the chosen likelihood from
    falling)."""
    pack_pairs: bool = True
    """DPO: a pair's two sequences (prompt+chosen, prompt+rejected) in one row, with less
    padding than a row each."""
    val_size: float = 0.0
    """Share of the data held out for evaluation when the dataset is built here."""
    eval_steps: int | None = None
    """Evaluate every N steps on the build's validation split, keeping the best model in
    output_dir/best (default: never)."""
    save_steps: int | None = None
    """Save a resumable checkpoint-N every N steps (default: only at the end)."""
    logging_steps: int = 10
    """Log loss, learning rate, gradient norm and speed every N steps."""
    seed: int = 42
    """Seed of the row order, dropout and new weights."""
    deepspeed: str | None = None
    """A DeepSpeed config (JSON file, or a bundled ZeRO preset name) to shard across GPUs."""
    vision_tower: str | None = None
    """llava: a CLIP vision model to join to the LM with a new projector (default: the
    model is already a LLaVA checkpoint)."""
    projector_type: str = "mlp"
    """llava: the new projector, mlp (LLaVA-1.5's two layers with GELU) or linear."""
    freeze_vision_tower: bool = True
    """llava: keep the vision tower's weights fixed (LLaVA's recipe)."""
    freeze_projector: bool = False
    """llava: keep the projector fixed."""
    freeze_llm_module: bool = False
    """llava: keep the LM fixed (stage 1, projector pre-training)."""
    fsdp: str | None = None
    """PyTorch FSDP across GPUs: full_shard or shard_grad_op."""
    fsdp_offload: bool = False
    """FSDP: keep parameters, gradients and optimizer states in CPU memory."""
    resume_from_checkpoint: str | None = None
    """A checkpoint-N folder to continue from (optimizer, scheduler and row order too)."""
    group_by_length: bool = True
    """Batch rows of similar length together (less padding; the order stays seeded)."""
    dataloader_num_workers: int = 0
    """llava: threads loading images ahead of the step (0: one)."""
    overwrite_output_dir: bool = False
    """Replace a non-empty output_dir (as --overwrite)."""
    source: str = field(default="", repr=False)
    """Where the config came from (not a setting)."""

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


def field_docs() -> dict[str, str]:
    """Each field's docstring (the string under it in TrainConfig), by name."""
    import ast
    import inspect
    import itertools

    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body
    docs = {}
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def help_text() -> str:
    """Every setting with its type, default and docstring: `train run --help-config`."""
    import textwrap

    docs = field_docs()
    lines = []
    for f in dataclasses.fields(TrainConfig):
        if f.name == "source":
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{f.name}: {f.type} = {default!r}")
        lines += textwrap.wrap(docs[f.name], 88, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"


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
