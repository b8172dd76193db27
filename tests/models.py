"""Tiny random models for training tests: a Llama-architecture config, random weights, and the
bundled Qwen2.5 tokenizer (its vocabulary sizes the embeddings). Nothing comes from a hub."""

from __future__ import annotations

import gzip
import shutil
from importlib import resources
from pathlib import Path


def tiny_llama(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    packed = resources.files("dataprep._tokenizer")
    (folder / "tokenizer.json").write_bytes(
        gzip.decompress(packed.joinpath("tokenizer.json.gz").read_bytes())
    )
    shutil.copyfile(str(packed.joinpath("tokenizer_config.json")), folder / "tokenizer_config.json")
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=151_665, hidden_size=hidden, intermediate_size=hidden * 2,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=2048, tie_word_embeddings=True,
        eos_token_id=151_645, pad_token_id=151_643,
        # Large enough embeddings that a normalised hidden state can move the logits: with
        # the usual 0.02 a random model cannot learn much through adapters alone.
        initializer_range=0.5,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def tiny_clip(folder: Path, image_size: int = 28, patch_size: int = 14, seed: int = 1) -> Path:
    """A tiny random CLIP vision tower ((28/14)^2 = 4 image tokens) with its image processor."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, image_size=image_size, patch_size=patch_size,
                              projection_dim=32)  # fmt: skip
    CLIPVisionModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size},
                       crop_size={"height": image_size, "width": image_size}).save_pretrained(folder)  # fmt: skip
    return folder
