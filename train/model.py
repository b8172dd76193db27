"""The model to train: base weights (maybe 4-bit), LoRA adapters or full, the attention kernel."""

from __future__ import annotations

import copy
import importlib.util

from dataprep.errors import DataprepError


def attention(choice: str, device: str) -> str:
    """auto: FlashAttention-2 when installed on a CUDA device, else PyTorch's SDPA."""
    has_fa2 = importlib.util.find_spec("flash_attn") is not None
    if choice == "fa2":
        if not has_fa2 or device != "cuda":
            raise DataprepError(
                "flash_attn: fa2 needs the flash-attn package and a CUDA GPU",
                fix="use flash_attn: auto (sdpa), or pip install flash-attn on a GPU machine",
            )
        return "flash_attention_2"
    if choice == "auto":
        return "flash_attention_2" if has_fa2 and device == "cuda" else "sdpa"
    return choice


def precision(config, device: str):
    import torch

    if config.fsdp_offload and device != "cuda":
        raise DataprepError(
            "fsdp_offload moves shards from the GPU to CPU memory; there is no GPU here",
            fix="drop fsdp_offload (fsdp alone shards on the CPU too)",
        )
    if config.bf16:
        if device == "cuda" and not torch.cuda.is_bf16_supported():
            raise DataprepError("bf16 is not supported by this GPU", fix="use fp16: true")
        return torch.bfloat16
    if config.fp16:
        if device != "cuda":
            raise DataprepError("fp16 training needs a CUDA GPU", fix="drop fp16 (or use bf16)")
        return torch.float16
    if config.tf32:
        if device != "cuda":
            raise DataprepError("tf32 is a CUDA (Ampere or newer) setting", fix="drop tf32")
        torch.backends.cuda.matmul.allow_tf32 = True
    return torch.float32


def inputs(model, batch: dict) -> dict:
    """The forward arguments for a collated batch. Rows holding several sequences carry
    position ids and a 4D mask, cast to the model's compute dtype; flash-attn takes no mask
    and finds the sequences from the position ids (varlen)."""
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if "pixel_values" in batch:  # LLaVA: the rows' images, in order
        kwargs["pixel_values"] = batch["pixel_values"].to(_dtype(model))
    if "position_ids" in batch:
        inner = getattr(model, "module", model)
        kwargs["position_ids"] = batch["position_ids"]
        if getattr(inner.config, "_attn_implementation", "") == "flash_attention_2":
            kwargs["attention_mask"] = None
        else:
            kwargs["attention_mask"] = batch["attention_mask"].to(_dtype(model))
    return kwargs


def read_config(name: str, what: str, fix: str):
    """A model's config.json (local folder or hub id: only the config is fetched)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise DataprepError(f"cannot read the {what} {name!r}: {exc}", fix=fix) from None


def _dtype(model):
    return getattr(model, "module", model).get_input_embeddings().weight.dtype


def load(config, vocab_size: int, device: str, ds: dict | None = None):
    """(model, frozen reference or None). The reference is needed only for full-DPO: LoRA and
    QLoRA runs use the same model with its adapters disabled. With a DeepSpeed config the
    engine places the model (under ZeRO-3 it is sharded as it loads)."""
    import torch
    from transformers import AutoModelForCausalLM

    from train import engine

    dtype = precision(config, device)
    kwargs = {"attn_implementation": attention(config.flash_attn, device), "dtype": dtype}
    if config.quantization_bit:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise DataprepError(
                "quantization_bit needs bitsandbytes", fix="pip install bitsandbytes"
            )
        from transformers import BitsAndBytesConfig

        compute = (
            torch.bfloat16 if device != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
        )
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=config.quantization_bit == 4,
            load_in_8bit=config.quantization_bit == 8,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
    sharded = engine.loading_context(ds)  # noqa: F841 (lives while the model loads)
    try:
        model = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, **kwargs)
    except OSError as exc:
        raise DataprepError(
            f"cannot load the model {config.model_name_or_path!r}: {exc}",
            fix="check model_name_or_path (a local folder or a hub id)",
        ) from None
    weight = model.get_input_embeddings().weight
    if getattr(weight, "ds_shape", weight.shape)[0] < vocab_size:  # ZeRO-3: the full shape
        model.resize_token_embeddings(vocab_size)
    if not config.quantization_bit and ds is None:
        model.to(device)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    reference = None
    if config.lora:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if config.quantization_bit:
            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=config.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
            if dtype != torch.float32:
                # peft upcast the embeddings, head and norms to fp32: the hidden states would
                # then be fp32 throughout, doubling the activations. Back to bf16/fp16.
                for param in model.parameters():
                    if param.dtype == torch.float32:
                        param.data = param.data.to(dtype)
        targets = "all-linear" if config.lora_target == "all" else [
            t.strip() for t in config.lora_target.split(",") if t.strip()
        ]  # fmt: skip
        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout, target_modules=targets,
                          task_type="CAUSAL_LM")  # fmt: skip
        model = get_peft_model(model, lora)
    elif config.method == "dpo":
        reference = copy.deepcopy(model).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
    return model, reference
