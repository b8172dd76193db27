"""The build's configuration: from flags or from a build.yaml, validated in one place.

# build.yaml
out: build/qwen-sft
tokenizer: ./Qwen2.5-7B-Instruct   # or a hub id; default: the bundled Qwen2.5 (estimate)
template: auto
cutoff_len: 2048                    # or auto
truncation: truncate-answer         # drop | truncate-prompt | truncate-answer
train_on_prompt: false
mask_history: false
packing: false
val_size: 0.05
seed: 42
mix: interleave                     # or concat
datasets:
  - path: data/sft.jsonl
    probability: 0.7
  - path: data/more/*.jsonl
    num_samples: 5000
    format: sharegpt
    image_root: data/images
"""

from __future__ import annotations

import argparse
import glob
from dataclasses import dataclass
from pathlib import Path

from dataprep import dataset_info
from dataprep.build import Input, Options
from dataprep.errors import ConfigError, DataprepError
from dataprep.formats import Spec, resolve_format
from dataprep.lengths import LengthSetup
from dataprep.rulepack import PackArgs

KEYS = {"out", "tokenizer", "template", "cutoff_len", "truncation", "train_on_prompt",
        "label_turn_end",
        "mask_history", "packing", "val_size", "seed", "mix", "datasets", "image_tokens",
        "rules", "select", "ignore", "coverage", "round", "fix"}  # fmt: skip
DATASET_KEYS = {"path", "paths", "name", "format", "num_samples", "probability", "image_root"}


@dataclass
class BuildConfig:
    inputs: list[Input]
    out: str
    setup: LengthSetup
    pack: PackArgs
    options: Options
    total: int = 0  # records to read, when known cheaply (for the progress bar)


def _paths(pattern: str) -> list[str]:
    found = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
    if not found:
        raise DataprepError(f"{pattern!r} matches no file", fix="check the glob")
    return found


def from_args(args: argparse.Namespace) -> BuildConfig:
    """The config of `dataprep build ...`: a build.yaml, or flags."""
    if len(args.paths) == 1 and args.paths[0].endswith((".yaml", ".yml")):
        return from_yaml(args.paths[0], args)
    if not args.out:
        raise DataprepError("--out is required", fix="name the build folder: --out build/")
    spec = None
    if args.input_format:
        name = resolve_format(args.input_format)
        if name is None:
            raise DataprepError(f"unknown input format {args.input_format!r}")
        spec = Spec(formatting=name)
    inputs = [Input(tuple(_paths(p)), p, spec, image_root=args.image_root) for p in args.paths]
    if args.dataset_info:
        entries, _ = dataset_info.load(args.dataset_info, _split(args.dataset))
        inputs += [Input(tuple(str(f) for f in e.files), e.name, e.spec,
                         image_root=args.image_root or str(Path(e.info_path).parent))
                   for e in entries]  # fmt: skip
    if not inputs:
        raise DataprepError(
            "nothing to build", fix="name data files, a build.yaml, or --dataset-info"
        )
    settings = {
        "tokenizer": args.tokenizer, "template": args.template, "cutoff_len": args.cutoff_len,
        "truncation": args.truncation, "train_on_prompt": args.train_on_prompt,
        "mask_history": args.mask_history, "label_turn_end": args.label_turn_end,
        "packing": args.packing, "val_size": args.val_size,
        "seed": args.seed, "mix": args.mix, "image_tokens": args.image_tokens,
        "rules": args.rules, "select": args.select, "ignore": args.ignore,
        "coverage": args.coverage, "round": args.round, "shard_size": args.shard_size,
        "fix": args.fix,
    }  # fmt: skip
    return _config(inputs, args.out, settings)


def from_yaml(path: str, args: argparse.Namespace | None = None) -> BuildConfig:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataprepError(f"{path}: cannot read the build config ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}: a build config is a mapping of settings"])
    problems = [f"{path}: unknown key {k!r}" for k in data if k not in KEYS]
    datasets = data.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        problems.append(f"{path}: 'datasets' must list at least one dataset")
        datasets = []
    if not data.get("out"):
        problems.append(f"{path}: 'out' (the build folder) is required")
    inputs = []
    base = Path(path).parent
    for i, item in enumerate(datasets):
        where = f"{path}: datasets[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: a mapping with 'path'")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in item if k not in DATASET_KEYS]
        raw = item.get("paths") or item.get("path")
        raw = [raw] if isinstance(raw, str) else raw
        if not raw:
            problems.append(f"{where}: 'path' is required")
            continue
        spec = None
        if item.get("format"):
            name = resolve_format(str(item["format"]))
            if name is None:
                problems.append(f"{where}: unknown format {item['format']!r}")
            else:
                spec = Spec(formatting=name)
        try:
            files = [f for p in raw for f in _paths(str(base / p))]
        except DataprepError as exc:
            problems.append(f"{where}: {exc}")
            continue
        root = item.get("image_root")
        inputs.append(Input(tuple(files), str(item.get("name", raw[0])), spec,
                            item.get("num_samples"), item.get("probability"),
                            str(base / root) if root else None))  # fmt: skip
    if problems:
        raise ConfigError(path, problems)
    settings = {k: data.get(k) for k in KEYS - {"datasets", "out"}}
    defaults = {"template": "auto", "cutoff_len": "auto", "truncation": "truncate-answer",
                "val_size": 0.0, "seed": 42, "mix": "concat", "coverage": 0.95, "round": 64,
                "shard_size": 10_000}  # fmt: skip
    for key, value in defaults.items():
        if settings.get(key) is None:
            settings[key] = value
    return _config(inputs, str(base / data["out"]), settings)


def _split(value) -> list[str] | None:
    if not value:
        return None
    items = value if isinstance(value, list) else [value]
    return [v.strip() for item in items for v in str(item).split(",") if v.strip()]


def _config(inputs: list[Input], out: str, s: dict) -> BuildConfig:
    from dataprep import templates, tokenizer

    cutoff = s.get("cutoff_len")
    if cutoff in (None, "auto"):
        cutoff = None
    else:
        try:
            cutoff = int(cutoff)
        except (TypeError, ValueError):
            raise DataprepError(f"cutoff_len {cutoff!r} is not a number or auto") from None
        if cutoff < 8:
            raise DataprepError("cutoff_len must be at least 8 tokens")
    model = tokenizer.load(s.get("tokenizer"))
    # Compiled only when a build runs: a cached build never needs Jinja.
    template = templates.resolve(
        s.get("template") or "auto", model.chat_template, model.special, check=False
    )
    if template is None:
        raise DataprepError(
            f"{model.name} has no chat_template",
            fix="name the template training will use: --template chatml|llama3|alpaca|default",
        )
    image_tokens = s.get("image_tokens")
    image_tokens = image_tokens if image_tokens is not None else model.image_tokens
    setup = LengthSetup(model, template, False, image_tokens, cutoff,
                        float(s.get("coverage") or 0.95), int(s.get("round") or 64))  # fmt: skip
    select, ignore = _split(s.get("select")), _split(s.get("ignore"))
    pack = PackArgs(s.get("rules"), tuple(select) if select else None,
                    tuple(ignore) if ignore else None)  # fmt: skip
    if s.get("mix") not in ("concat", "interleave"):
        raise DataprepError(f"mix {s.get('mix')!r}: use concat or interleave")
    options = Options(
        cutoff_len=cutoff,
        truncation=str(s.get("truncation")),
        train_on_prompt=bool(s.get("train_on_prompt")),
        mask_history=bool(s.get("mask_history")),
        label_turn_end=bool(s.get("label_turn_end")),
        packing=bool(s.get("packing")),
        val_size=float(s.get("val_size") or 0.0),
        seed=int(s.get("seed") or 42),
        mix=str(s.get("mix")),
        shard_size=int(s.get("shard_size") or 10_000),
        fix=str(s.get("fix") or "safe"),
    )
    return BuildConfig(inputs, out, setup, pack, options)
