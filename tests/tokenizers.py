"""Small real tokenizers for tests, trained with the `tokenizers` library (no hub, no download)."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Water evaporates, condenses into clouds and falls back as rain.",
    "What is two plus two? Two plus two is four.",
    "请介绍一下长城。长城是中国古代的军事防御工程。",
    "Hello! How can I help you today? Goodbye.",
]


def make(folder: Path, *, chat_template: str | None = None, eos_token: str | None = None,
         specials: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """A byte-level BPE tokenizer folder (tokenizer.json + tokenizer_config.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    from tokenizers import decoders

    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(specials)
        + ([eos_token] if eos_token and eos_token not in specials else []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    config: dict = {"tokenizer_class": "PreTrainedTokenizerFast"}
    if chat_template is not None:
        config["chat_template"] = chat_template
    if eos_token is not None:
        config["eos_token"] = eos_token
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
