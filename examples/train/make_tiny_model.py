"""Write a tiny random Llama-architecture model with the bundled Qwen2.5 tokenizer, and a tiny
random CLIP vision tower beside it (for tiny_llava.yaml), for trying `train run` on a CPU in
seconds (it learns the example data's shape, not language).

Run: python examples/train/make_tiny_model.py [runs/tiny-model]   (the tower: runs/tiny-clip)
"""

from __future__ import annotations

import gzip
import shutil
import sys
from importlib import resources
from pathlib import Path


def main(folder: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    packed = resources.files("dataprep._tokenizer")
    (folder / "tokenizer.json").write_bytes(
        gzip.decompress(packed.joinpath("tokenizer.json.gz").read_bytes())
    )
    shutil.copyfile(str(packed.joinpath("tokenizer_config.json")), folder / "tokenizer_config.json")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=151_665, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        tie_word_embeddings=True, eos_token_id=151_645, pad_token_id=151_643,
        initializer_range=0.5,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    print(f"wrote a tiny random model to {folder}")
    tower = folder.parent / "tiny-clip"
    write_tower(tower)
    print(f"wrote a tiny random CLIP vision tower to {tower} (4 tokens per image)")


def write_tower(folder: Path) -> None:
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(1)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, image_size=28, patch_size=14)  # fmt: skip
    CLIPVisionModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 28},
                       crop_size={"height": 28, "width": 28}).save_pretrained(folder)  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny-model"))
