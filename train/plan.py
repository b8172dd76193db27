"""`train plan`: will this config fit the GPU, and if not, what to change first.

Peak GPU memory per device is estimated from the model's config (no weights loaded) and the
training config, item by item: weights (by quantisation), LoRA parameters, gradients,
optimizer states, activations (by tokens, hidden and MLP sizes, layers, attention kernel,
gradient checkpointing), logits (the vocabulary, upcast to fp32 for the loss), the DPO
reference pass, ZeRO/FSDP sharding and CPU offload. The activation and logits coefficients
are bytes per token and dimension measured from real training steps of Llama-architecture
models (see tests/test_plan.py, which checks the estimate against measured peaks).

When it does not fit, the troubleshooting chapter's ladder is walked in its order (QLoRA,
`cutoff_len` from the build's 95th percentile, batch size 1 with accumulation keeping the
effective batch, FlashAttention-2, gradient checkpointing, ZeRO-3 with CPU offload), each step
with its saving, stopping at the first combination that fits.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from dataprep.errors import DataprepError

GIB = 2**30

# Usable memory of common cards (what torch sees), for --gpu NAME.
GPUS = {
    "T4": 15 * GIB,
    "V100-16GB": 16 * GIB,
    "V100-32GB": 32 * GIB,
    "RTX3060": 12 * GIB,
    "RTX3090": 24 * GIB,
    "RTX4090": 24 * GIB,
    "A10G": 24 * GIB,
    "L4": 24 * GIB,
    "A100-40GB": 40 * GIB,
    "L40S": 48 * GIB,
    "A100-80GB": 80 * GIB,
    "H100": 80 * GIB,
    "H200": 141 * GIB,
}

# Activation bytes per token and per layer, per unit of hidden size / MLP size / key-value
# width, by the size of an activation element (fp32: 4; bf16/fp16: 2, where RMSNorm still
# upcasts to fp32). Logits: bytes per token and vocabulary entry (the model's logits, their
# fp32 copy, log-softmax and its gradient).
PER_HIDDEN = {4: 41.6, 2: 46.4}
PER_MLP = {4: 16.9, 2: 11.0}
PER_KV = {4: 4.5, 2: 1.8}
PER_LOGIT = {4: 12.8, 2: 12.4}
# Eager attention's score matrix: bytes per token, key and head, per layer.
PER_SCORE = {4: 2.4, 2: 2.4}
# nf4 with double quantisation: 4 bits plus one 8-bit absmax per 64 weights, plus fp32
# constants per 256 blocks.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
# The CUDA context and allocator slack: outside torch.cuda.max_memory_allocated, but on the card.
RUNTIME = int(0.75 * GIB)


@dataclass(frozen=True)
class Shape:
    """A decoder-only transformer's dimensions, read from its config."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    qkv_bias: bool = False

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer in one decoder layer: q, k, v, o, gate, up, down."""
        h, i = self.hidden, self.intermediate
        return [(h, self.q_width), (h, self.kv_width), (h, self.kv_width), (self.q_width, h),
                (h, i), (h, i), (i, h)]  # fmt: skip

    def linear_parameters(self) -> int:
        per = sum(a * b for a, b in self.linears())
        if self.qkv_bias:
            per += self.q_width + 2 * self.kv_width
        return per * self.layers

    def other_parameters(self) -> int:
        """Embeddings, the output head (unless tied) and the norms."""
        embed = self.vocab * self.hidden
        return embed * (1 if self.tied else 2) + self.hidden * (2 * self.layers + 1)

    def parameters(self) -> int:
        return self.linear_parameters() + self.other_parameters()


@dataclass(frozen=True)
class Vision:
    """A CLIP vision tower's dimensions (LLaVA), read from its config."""

    hidden: int
    intermediate: int
    layers: int
    image_size: int
    patch_size: int

    @property
    def patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def parameters(self) -> int:
        h, i = self.hidden, self.intermediate
        embeddings = h + 3 * self.patch_size**2 * h + (self.patches + 1) * h
        layer = 4 * (h * h + h) + 4 * h + (h * i + i) + (i * h + h)
        return embeddings + 4 * h + self.layers * layer  # + the pre and post layer norms

    def projector(self, text_hidden: int, kind: str) -> int:
        first = self.hidden * text_hidden + text_hidden
        return first if kind == "linear" else first + text_hidden * text_hidden + text_hidden


def vision_of(tower: str) -> Vision:
    from train.model import read_config

    config = read_config(tower, "vision tower", "vision_tower: a CLIP folder or hub id")
    config = getattr(config, "vision_config", None) or config
    return Vision(config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                  config.image_size, config.patch_size)  # fmt: skip


def shape_of(model: str) -> Shape:
    """The model's dimensions from its config.json: a local folder or a hub id (only the
    config is fetched, never weights)."""
    from train.model import read_config

    config = read_config(model, "config of", "name a local model folder with config.json, or "
                         "a hub id (online)")  # fmt: skip
    text = getattr(config, "text_config", None) or config
    need = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    missing = [k for k in need if getattr(text, k, None) is None]
    if missing:
        raise DataprepError(
            f"{model}: its config has no {', '.join(missing)} (not a decoder-only transformer "
            "this planner knows)",
            fix="plan with a Llama-, Qwen-, Mistral- or Gemma-style model",
        )
    heads = text.num_attention_heads
    return Shape(
        name=model,
        hidden=text.hidden_size,
        intermediate=text.intermediate_size,
        layers=text.num_hidden_layers,
        heads=heads,
        kv_heads=getattr(text, "num_key_value_heads", None) or heads,
        head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads,
        vocab=text.vocab_size,
        tied=bool(getattr(config, "tie_word_embeddings", False)),
        qkv_bias=bool(getattr(text, "attention_bias", False))
        or getattr(text, "model_type", "") == "qwen2",
    )


def parse_size(text: str) -> int:
    """`24GiB`, `24GB`, `80G`, `16000MiB` or bytes."""
    found = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?B?)\s*", text, re.IGNORECASE)
    if not found:
        raise DataprepError(f"{text!r} is not a memory size", fix="write e.g. 24GiB or 80GB")
    number, unit, binary = found.groups()
    scale = {"": 1, "K": 1, "M": 2, "G": 3, "T": 4}[unit.upper()]
    base = 1024 if binary.lower().startswith("i") or binary == "" else 1000
    return int(float(number) * base**scale) if unit else int(float(number))


def gpu_memory(name: str) -> int:
    key = name.upper().replace(" ", "").replace("NVIDIA", "")
    for gpu, size in GPUS.items():
        if gpu.upper().replace("-", "") == key.replace("-", ""):
            return size
    raise DataprepError(
        f"unknown GPU {name!r}", fix=f"use --gpu-memory, or one of: {', '.join(GPUS)}"
    )


@dataclass(frozen=True)
class Estimate:
    breakdown: dict[str, int]
    cpu_bytes: int  # offloaded to CPU memory

    @property
    def peak(self) -> int:
        return sum(self.breakdown.values())

    @property
    def allocated(self) -> int:
        """What torch's allocator would report at its peak (no runtime slack)."""
        return self.peak - self.breakdown.get("runtime", 0)


def _zero_stage(config) -> tuple[int, bool, bool]:
    """(stage, optimizer offloaded, parameters offloaded) of the config's sharding."""
    if config.fsdp and not config.deepspeed:
        stage = 3 if config.fsdp == "full_shard" else 2
        return stage, config.fsdp_offload, config.fsdp_offload and stage == 3
    if not config.deepspeed:
        return 0, False, False
    from train.engine import offloads_optimizer, read_deepspeed, stage

    ds = read_deepspeed(config.deepspeed)
    params = ds.get("zero_optimization", {}).get("offload_param", {}).get("device") == "cpu"
    return stage(ds), offloads_optimizer(ds), params


def lora_parameters(config, shape: Shape) -> int:
    if not config.lora:
        return 0
    wanted = None if config.lora_target == "all" else {
        t.strip() for t in config.lora_target.split(",") if t.strip()
    }  # fmt: skip
    names = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    per = sum(config.lora_rank * (a + b) for name, (a, b) in zip(names, shape.linears(),
              strict=True) if wanted is None or name in wanted)  # fmt: skip
    return per * shape.layers


def estimate(config, shape: Shape, cutoff_len: int, world: int = 1, gpu: bool = True,
             vision: Vision | None = None) -> Estimate:  # fmt: skip
    """Peak memory per device of one training step at full length (every row cutoff_len);
    LLaVA: plus the tower and the projector (one image per row, its tokens inside cutoff_len)."""
    act = base_bytes = 2 if config.bf16 or config.fp16 else 4
    if config.quantization_bit:  # embeddings, head and norms stay in the compute dtype
        per_weight = NF4_BYTES if config.quantization_bit == 4 else 1 + 4 / 4096
        weights = shape.linear_parameters() * per_weight + shape.other_parameters() * base_bytes
    else:
        weights = shape.parameters() * base_bytes
    lora = lora_parameters(config, shape)
    trainable, train_bytes = (lora, 4) if config.lora else (shape.parameters(), base_bytes)
    gradients = trainable * train_bytes
    optimizer = 2 * trainable * train_bytes  # AdamW: two moments, in the parameters' dtype
    stage, offload_opt, offload_params = _zero_stage(config)
    cpu = 0
    if stage >= 1:
        optimizer /= world
    if stage >= 2:
        gradients /= world
    if stage >= 3:
        layer = weights / max(1, shape.layers)  # one layer gathered at a time
        weights = weights / world + 2 * layer
    if offload_opt:
        cpu += optimizer + (gradients if config.deepspeed else 0)
        optimizer = 0
    if offload_params:
        cpu += weights
        weights = 2 * (shape.parameters() * base_bytes / max(1, shape.layers))
    sequences = config.per_device_train_batch_size * (2 if config.method == "dpo" else 1)
    tokens = sequences * cutoff_len
    per_layer = (PER_HIDDEN[act] * shape.hidden + PER_MLP[act] * shape.intermediate
                 + PER_KV[act] * shape.kv_width)  # fmt: skip
    if config.gradient_checkpointing:  # layer inputs kept, one layer recomputed at a time
        activations = tokens * (shape.layers * shape.hidden * act + per_layer)
    else:
        activations = tokens * shape.layers * per_layer
    if config.flash_attn == "eager":  # the attention matrix, per layer
        scores = tokens * cutoff_len * shape.heads * PER_SCORE[act]
        activations += scores * (1 if config.gradient_checkpointing else shape.layers)
    logits = tokens * shape.vocab * PER_LOGIT[act]
    breakdown = {
        "weights": int(weights),
        "lora": lora * 4,
        "gradients": int(gradients),
        "optimizer": int(optimizer),
        "activations": int(activations),
        "logits": int(logits),
    }
    if config.method == "dpo" and config.finetuning_type == "full":
        breakdown["reference"] = shape.parameters() * base_bytes  # the frozen copy
    if vision is not None:
        # weights, plus gradients and two AdamW moments where trained; the frozen tower keeps
        # no activations for the backward, only one layer's at a time
        trained = 4 if not config.freeze_vision_tower else 1
        per_image = (vision.patches + 1) * vision.hidden * act * 12
        breakdown["vision_tower"] = int(vision.parameters() * base_bytes * trained
                                        + sequences * per_image)  # fmt: skip
        projector = vision.projector(shape.hidden, config.projector_type)
        breakdown["projector"] = projector * base_bytes * (1 if config.freeze_projector else 4)
    if gpu:
        breakdown["runtime"] = RUNTIME
    return Estimate(breakdown, int(cpu))


@dataclass(frozen=True)
class Step:
    change: dict
    why: str
    saves: int
    peak_after: int


def ladder(config, shape: Shape, cutoff_len: int, limit: int, world: int = 1,
           p95: int | None = None, vision: Vision | None = None) -> list[Step]:  # fmt: skip
    """The chapter's OOM ladder, in order, each step on top of the ones before, until the
    estimate fits in `limit` bytes; steps that would save nothing are left out."""
    steps = []
    current, length = config, cutoff_len
    peak = estimate(current, shape, length, world, vision=vision).peak
    candidates = [
        ({"finetuning_type": "qlora", "quantization_bit": 4},
         "QLoRA: the base weights in 4-bit NF4 (about a quarter of 16-bit)"),
        ({"cutoff_len": p95} if p95 and p95 < cutoff_len else None,
         "cutoff_len: the smallest length that keeps 95% of this build's rows whole"),
        ({"per_device_train_batch_size": 1,
          "gradient_accumulation_steps": config.effective_batch},
         "batch size 1, with gradient accumulation keeping the effective batch"),
        ({"flash_attn": "fa2"}, "FlashAttention-2: no attention matrix in memory"),
        ({"gradient_checkpointing": True},
         "gradient checkpointing: keep layer inputs, recompute the rest in the backward"),
        ({"deepspeed": "zero3_offload"},
         "DeepSpeed ZeRO-3 with CPU offload: parameters, gradients and optimizer states in "
         "CPU memory (the last resort: slower)"),
    ]  # fmt: skip
    for change, why in candidates:
        if peak <= limit:
            break
        if change is None:
            continue
        if "deepspeed" in change and current.method == "llava":
            continue  # LLaVA trains on one process or DDP here
        if "deepspeed" in change and current.quantization_bit:
            # ZeRO-3 shards 16-bit weights; a 4-bit base is not sharded (train run refuses it)
            change = {**change, "finetuning_type": "lora", "quantization_bit": None}
        settings = {k: v for k, v in change.items() if k != "cutoff_len"}
        trial = dataclasses.replace(current, **settings)
        new_length = change.get("cutoff_len", length)
        after = estimate(trial, shape, new_length, world, vision=vision).peak
        if after >= peak:  # already so, or no saving here
            continue
        steps.append(Step(change, why, peak - after, after))
        current, length, peak = trial, new_length, after
    return steps


def throughput(config, rows: int | None, mean_tokens: float | None, cutoff_len: int,
               world: int, tokens_per_s: float | None) -> dict:  # fmt: skip
    """Tokens per optimizer step, steps per epoch and, given a measured speed, wall time."""
    # the build's rows as trained (a pair: both sequences), or the bound: every sequence at
    # cutoff_len, two per DPO pair
    per_row = mean_tokens or cutoff_len * (2 if config.method == "dpo" else 1)
    rows_per_step = config.effective_batch * world
    basis = "the build's mean row length" if mean_tokens else "an upper bound: rows at cutoff_len"
    out = {"tokens_per_step": int(rows_per_step * per_row), "tokens_are": basis}
    if rows:
        steps = math.ceil(rows / rows_per_step)
        total = config.max_steps if config.max_steps > 0 else math.ceil(
            steps * config.num_train_epochs)  # fmt: skip
        out |= {"rows": rows, "steps_per_epoch": steps, "total_steps": total}
        if tokens_per_s:
            out["wall_time_s"] = total * out["tokens_per_step"] / tokens_per_s
    return out


@dataclass(frozen=True)
class BuildLengths:
    rows: int
    cutoff_len: int
    p95: int  # the smallest length keeping 95% of the rows whole
    longest: int
    mean_tokens: float  # per row as trained (a pair: both sequences)


def build_lengths(path) -> BuildLengths:
    """Row lengths of a build's train split, read from its Arrow columns (no rows decoded)."""
    import json
    from pathlib import Path

    import numpy as np

    from train.data import Rows, row_lengths

    root = Path(path)
    if not (root / "manifest.json").is_file():
        raise DataprepError(f"{root} is not a build folder", fix="run `dataprep build` first")
    manifest = json.loads((root / "manifest.json").read_text())
    rows = Rows(root / "train")
    if rows.table is None or len(rows) == 0:
        raise DataprepError(f"{root}: the train split is empty", fix="build with more data")

    kind = "dpo" if "chosen_input_ids" in rows.column_names else "sft"
    longest = row_lengths(rows, kind)  # cutoff_len applies to each sequence
    total = row_lengths(rows, "pairs" if kind == "dpo" else kind)  # what a row trains on
    return BuildLengths(
        rows=len(rows),
        cutoff_len=int(manifest.get("cutoff_len") or longest.max()),
        p95=int(np.ceil(np.percentile(longest, 95))),
        longest=int(longest.max()),
        mean_tokens=float(total.mean()),
    )


def plan(config, gpu_bytes: int, world: int = 1, tokens_per_s: float | None = None) -> dict:
    """The contract object `train plan --format json` prints."""
    from pathlib import Path

    shape = shape_of(config.model_name_or_path)
    lengths = None
    if config.dataset and Path(config.dataset).is_dir():
        lengths = build_lengths(config.dataset)
    cutoff = config.cutoff_len or (lengths.cutoff_len if lengths else None)
    if not cutoff:
        raise DataprepError(
            f"{config.source or 'the config'}: train plan needs a length: set cutoff_len, or "
            "dataset to a build folder",
            fix="add cutoff_len=2048 (or your value), or dataset=BUILD_DIR",
        )
    llava = config.method == "llava" and config.vision_tower
    vision = vision_of(config.vision_tower) if llava else None
    found = estimate(config, shape, cutoff, world, vision=vision)
    steps = ladder(config, shape, cutoff, gpu_bytes, world, lengths.p95 if lengths else None,
                   vision)  # fmt: skip
    fits_after = steps[-1].peak_after <= gpu_bytes if steps else found.peak <= gpu_bytes
    return {
        "model": shape.name,
        "parameters": shape.parameters(),
        "method": config.method,
        "finetuning_type": config.finetuning_type,
        "cutoff_len": cutoff,
        "world": world,
        "peak_bytes": found.peak,
        "allocated_bytes": found.allocated,
        "fits": found.peak <= gpu_bytes,
        "gpu_memory_bytes": gpu_bytes,
        "breakdown": found.breakdown,
        "cpu_offload_bytes": found.cpu_bytes,
        "suggestions": [
            {
                "change": s.change,
                "why": s.why,
                "saves_bytes": s.saves,
                "peak_bytes_after": s.peak_after,
            }
            for s in steps
        ],
        "fits_after_suggestions": fits_after,
        "build": {"rows": lengths.rows, "p95": lengths.p95, "mean_tokens": lengths.mean_tokens}
        if lengths
        else None,
        "throughput": throughput(
            config,
            lengths.rows if lengths else None,
            lengths.mean_tokens if lengths else None,
            cutoff,
            world,
            tokens_per_s,
        ),
    }


def gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def text(result: dict) -> str:
    """The plan for a terminal: the verdict, the items, the ladder, the throughput."""
    verdict = "fits" if result["fits"] else "does NOT fit"
    lines = [
        f"{result['model']}: {result['parameters'] / 1e9:.2f}B parameters, "
        f"{result['method']} ({result['finetuning_type']}), cutoff_len {result['cutoff_len']}",
        f"peak GPU memory per device: {gib(result['peak_bytes'])} — {verdict} in "
        f"{gib(result['gpu_memory_bytes'])}",
    ]
    for item, size in result["breakdown"].items():
        lines.append(f"  {item:<12} {gib(size):>12}")
    if result["cpu_offload_bytes"]:
        lines.append(f"  offloaded to CPU memory: {gib(result['cpu_offload_bytes'])}")
    if result["suggestions"]:
        lines.append("to make it fit, in the troubleshooting chapter's order:")
        for n, s in enumerate(result["suggestions"], 1):
            change = ", ".join(f"{k}: {v}" for k, v in s["change"].items() if v is not None)
            lines.append(f"  {n}. {change}  (saves {gib(s['saves_bytes'])}, peak "
                         f"{gib(s['peak_bytes_after'])}): {s['why']}")  # fmt: skip
        if not result["fits_after_suggestions"]:
            lines.append("  still too large: a smaller model, or more GPUs (world) with ZeRO-3")
    t = result["throughput"]
    line = f"tokens per optimizer step: {t['tokens_per_step']:,} ({t['tokens_are']})"
    if "steps_per_epoch" in t:
        line += f"; {t['steps_per_epoch']:,} steps per epoch, {t['total_steps']:,} in all"
    if "wall_time_s" in t:
        line += f"; about {t['wall_time_s'] / 3600:.1f} h at the given tokens/s"
    lines.append(line)
    return "\n".join(lines)
