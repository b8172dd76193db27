"""A model's tokenizer for measuring lengths: the `tokenizers` backend plus its chat template.

Loaded without transformers (3 s to import): `tokenizer.json` goes to the Rust `tokenizers`
library, `tokenizer_config.json` (or `chat_template.jinja` / `chat_template.json`, where newer
checkpoints keep the template) gives the special tokens and the chat template. A local folder
works offline; anything else is taken as a Hugging Face hub id and fetched (network needed).
Without a name, the bundled Qwen2.5 tokenizer is used and labelled an estimate.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dataprep.errors import DataprepError

DEFAULT_NAME = "Qwen2.5 (bundled default)"
SPECIAL_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token")
HUB_FILES = ("tokenizer_config.json", "chat_template.jinja", "chat_template.json",
             "processor_config.json", "preprocessor_config.json")  # fmt: skip


@dataclass
class ModelTokenizer:
    """A tokenizer's settings, read at once; its vocabulary (the Rust backend, ~0.5 s to load)
    only when something is encoded, so a cached build never loads it."""

    name: str
    loader: Callable[[], Any]  # -> tokenizers.Tokenizer
    chat_template: str | None
    special: dict[str, str] = field(default_factory=dict)  # bos_token, eos_token, ...
    estimate: bool = False  # the bundled default, standing in for the real model's tokenizer
    image_tokens: int | None = None  # from a processor config, when the model has one
    files: tuple[Path, ...] = ()  # what it was read from (hashed into build cache keys)
    _backend: Any = field(default=None, repr=False)

    def __reduce__(self):
        # Pickled (to a Ray worker) as how to load it again: its loader is a closure, and
        # its vocabulary is better read from the files than shipped.
        return load, (None if self.estimate else self.name,)

    @property
    def backend(self) -> Any:
        if self._backend is None:
            self._backend = self.loader()
        return self._backend

    @property
    def eos(self) -> str | None:
        return self.special.get("eos_token")

    def fingerprint(self) -> str:
        """A hash of the files the tokenizer was read from: a build records it, and training
        refuses a build whose tokenizer differs from the model's."""
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(Path(path).name.encode())
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        return digest.hexdigest()


def load(name: str | None) -> ModelTokenizer:
    """The tokenizer named (a local folder, a tokenizer.json, or a hub id), or the default."""
    if name is None:
        return _bundled()
    path = Path(name)
    if path.is_file() and path.name.endswith(".json"):
        return _from_folder(path.parent, name, path)
    if path.is_dir():
        if not (path / "tokenizer.json").is_file():
            raise DataprepError(
                f"{name}: no tokenizer.json in this folder",
                fix="point --tokenizer at a folder with tokenizer.json (a fast tokenizer), "
                "e.g. a saved Hugging Face model, or save one with tokenizer.save_pretrained()",
            )
        return _from_folder(path, name)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise DataprepError(f"--tokenizer {name!r}: no such folder", fix="check the path")
    return _from_hub(name)


def _bundled() -> ModelTokenizer:
    folder = resources.files("dataprep._tokenizer")
    packed = folder.joinpath("tokenizer.json.gz")
    config = json.loads(folder.joinpath("tokenizer_config.json").read_text(encoding="utf-8"))

    def loader():
        from tokenizers import Tokenizer

        return Tokenizer.from_str(gzip.decompress(packed.read_bytes()).decode("utf-8"))

    files = (Path(str(packed)), Path(str(folder.joinpath("tokenizer_config.json"))))
    tokenizer = ModelTokenizer(DEFAULT_NAME, loader, None, estimate=True, files=files)
    _configure(tokenizer, config)
    return tokenizer


def _from_folder(folder: Path, name: str, file: Path | None = None) -> ModelTokenizer:
    main = file or folder / "tokenizer.json"

    def loader():
        from tokenizers import Tokenizer

        try:
            return Tokenizer.from_file(str(main))
        except Exception as exc:  # the Rust library raises its own exception type
            raise DataprepError(
                f"{name}: tokenizer.json cannot be read ({exc})",
                fix="regenerate it with a recent transformers (tokenizer.save_pretrained())",
            ) from None

    extras = [folder / n for n in HUB_FILES if (folder / n).is_file()]
    tokenizer = ModelTokenizer(name, loader, None, files=(main, *extras))
    config_path = folder / "tokenizer_config.json"
    config = _json(config_path) if config_path.is_file() else {}
    _configure(tokenizer, config)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        tokenizer.chat_template = jinja.read_text(encoding="utf-8")
    elif (folder / "chat_template.json").is_file():
        tokenizer.chat_template = _json(folder / "chat_template.json").get("chat_template")
    for processor in ("processor_config.json", "preprocessor_config.json"):
        if (folder / processor).is_file() and tokenizer.image_tokens is None:
            tokenizer.image_tokens = _image_tokens(_json(folder / processor))
    return tokenizer


def _from_hub(name: str) -> ModelTokenizer:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:  # tokenizers depends on it, so this is a broken install
        raise DataprepError(
            "huggingface_hub is needed to fetch a tokenizer from the hub",
            fix="pip install huggingface_hub",
        ) from None
    try:
        main = Path(hf_hub_download(name, "tokenizer.json"))
    except Exception as exc:
        raise DataprepError(
            f"--tokenizer {name!r}: not a local folder, and the hub did not give its "
            f"tokenizer.json ({type(exc).__name__})",
            fix="check the name or your network, or download the model and pass its folder",
        ) from None
    for extra in HUB_FILES:
        try:
            hf_hub_download(name, extra)
        except (EntryNotFoundError, Exception):  # optional files: most models lack some
            continue
    return _from_folder(main.parent, name)


def _configure(tokenizer: ModelTokenizer, config: dict) -> None:
    template = config.get("chat_template")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    tokenizer.chat_template = template if isinstance(template, str) else None
    decoder = config.get("added_tokens_decoder") or {}
    for key in SPECIAL_KEYS:
        value = config.get(key)
        if isinstance(value, dict):  # {"content": "<s>", ...} in older configs
            value = value.get("content")
        if isinstance(value, str):
            tokenizer.special[key] = value
        elif isinstance(value, int) and str(value) in decoder:
            tokenizer.special[key] = decoder[str(value)].get("content")


def _image_tokens(config: dict) -> int | None:
    for key in ("image_seq_length", "num_image_tokens", "image_seq_len"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataprepError(f"{path}: not valid JSON ({exc})", fix="repair or remove it") from None
    return value if isinstance(value, dict) else {}
