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
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from dataprep import validate
from dataprep.builder import ENGINES, FIX, LAYOUTS, TRUNCATION, Input, Options
from dataprep.errors import ConfigError, DataprepError
from dataprep.lengths import LengthSetup
from dataprep.rulepack import PackArgs
from dataprep.spec import Spec, resolve_format

DATASET_KEYS = {"path", "paths", "name", "format", "num_samples", "probability", "image_root"}


@dataclass(frozen=True)
class Settings:
    """A build's settings, from flags or from a build.yaml: the one place their defaults live
    (the shard options' own defaults, and the length defaults of LengthSetup)."""

    tokenizer: str | None = None
    template: str = "auto"
    cutoff_len: int | str = "auto"  # or a number of tokens, at least 8
    truncation: str = Options.truncation
    train_on_prompt: bool = Options.train_on_prompt
    mask_history: bool = Options.mask_history
    label_turn_end: bool = Options.label_turn_end
    label_pair_history: bool = Options.label_pair_history
    packing: bool = Options.packing
    val_size: float = Options.val_size
    seed: int = Options.seed
    mix: str = Options.mix
    image_tokens: int | None = None
    rules: str | None = None
    select: str | list[str] | None = None
    ignore: str | list[str] | None = None
    coverage: float = LengthSetup.coverage
    round: int = LengthSetup.round
    shard_size: int = Options.shard_size
    fix: str = Options.fix
    layout: str = Options.layout
    tokenizer_engine: str = Options.tokenizer_engine


FLAGS = tuple(f.name for f in fields(Settings))
FROM_FLAGS = "flags"


@dataclass
class BuildConfig:
    inputs: list[Input]
    out: str
    setup: LengthSetup
    pack: PackArgs
    options: Options
    total: int = 0  # records to read, when known cheaply (for the progress bar)


def declared_kind(item: Input) -> str | None:
    """The kind of record a dataset_info.json entry says it holds (ranking: dpo, a kto_tag
    column: kto, else sft); None for files whose kind each record decides."""
    spec = item.spec
    if spec is None or not spec.strict:
        return None
    return "dpo" if spec.ranking else "kto" if spec.kto_tag else "sft"


def by_kind(config: BuildConfig) -> list[tuple[str | None, BuildConfig]]:
    """One build per kind: a dataset_info.json naming SFT, preference and KTO datasets
    builds each kind into its own folder under `out` (`out/sft`, `out/dpo`, `out/kto`), in
    one command, as each trains apart. Inputs of one kind build into `out` itself."""
    kinds = {declared_kind(item) for item in config.inputs}
    if len(kinds) < 2:
        return [(None, config)]
    if None in kinds:
        plain = ", ".join(p for i in config.inputs if declared_kind(i) is None for p in i.paths)
        declared = ", ".join(sorted(k for k in kinds if k))
        raise DataprepError(
            f"{plain}: plain files beside dataset_info.json datasets of several kinds "
            f"({declared}), which build into a folder each: which one would they join?",
            fix="build the plain files apart, or give them dataset_info.json entries",
        )
    order = [k for k in ("sft", "dpo", "kto") if k in kinds]
    return [
        (kind, replace(config, inputs=[i for i in config.inputs if declared_kind(i) == kind],
                       out=str(Path(config.out) / kind), total=0))
        for kind in order
    ]  # fmt: skip


def _paths(pattern: str) -> list[str]:
    if any(c in pattern for c in "*?["):
        import glob  # a cached build of plain paths never needs it

        found = sorted(glob.glob(pattern))
    else:
        found = [pattern]
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
        from dataprep import dataset_info

        entries, _ = dataset_info.load(args.dataset_info, _split(args.dataset))
        inputs += [Input(tuple(str(f) for f in e.files), e.name, e.spec,
                         image_root=args.image_root or str(Path(e.info_path).parent))
                   for e in entries]  # fmt: skip
    if not inputs:
        raise DataprepError(
            "nothing to build", fix="name data files, a build.yaml, or --dataset-info"
        )
    # Flags left unset are None (store_true ones False): the defaults are Settings'.
    given = {k: getattr(args, k, None) for k in FLAGS}
    settings = {k: v for k, v in given.items() if v is not None and v is not False}  # 0 stays 0
    return _config(inputs, args.out, settings, FROM_FLAGS)


def from_yaml(path: str, args: argparse.Namespace | None = None) -> BuildConfig:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataprepError(f"{path}: cannot read the build config ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}: a build config is a mapping of settings"])
    problems: list[str] = []
    settings = {k: v for k, v in data.items() if k not in ("datasets", "out")}
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
        problems += [validate.unknown_key(where, k, sorted(DATASET_KEYS)) for k in item
                     if k not in DATASET_KEYS]  # fmt: skip
        counts = {"num_samples": int | None, "probability": float | None}
        picked = {}
        for key, expected in counts.items():
            picked[key] = validate.typed(item.get(key), expected)
            if picked[key] is validate.BAD:
                problems.append(validate.wrong_type(where, key, item[key], expected))
                picked[key] = None
            elif picked[key] is not None and picked[key] <= 0:
                problems.append(f"{where}: {key} must be above 0, not {picked[key]:g}")
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
                            picked["num_samples"], picked["probability"],
                            str(base / root) if root else None))  # fmt: skip
    return _config(inputs, str(base / str(data.get("out"))), settings, path, problems)


def _split(value) -> list[str] | None:
    if not value:
        return None
    items = value if isinstance(value, list) else [value]
    return [v.strip() for item in items for v in str(item).split(",") if v.strip()]


def _config(
    inputs: list[Input], out: str, given: dict, where: str, problems: list[str] | None = None
) -> BuildConfig:
    """Every setting checked at once (types, choices, ranges; with the config file's own
    `problems`), then the config."""
    from dataprep import templates, tokenizer

    problems = problems if problems is not None else []
    s = Settings(**validate.fields(Settings, given, where, problems))
    cutoff = None if s.cutoff_len == "auto" else s.cutoff_len
    if isinstance(cutoff, str):
        try:
            cutoff = int(cutoff)  # a flag's text
        except ValueError:
            problems.append(f"{where}: cutoff_len must be a number of tokens or auto: {cutoff!r}")
            cutoff = None
    if cutoff is not None and cutoff < 8:
        problems.append(f"{where}: cutoff_len must be at least 8 tokens, not {cutoff}")
    validate.one_of(where, "truncation", s.truncation, TRUNCATION, problems)
    validate.one_of(where, "mix", s.mix, ("concat", "interleave"), problems)
    validate.one_of(where, "fix", s.fix, FIX, problems)
    validate.one_of(where, "layout", s.layout, LAYOUTS, problems)
    validate.one_of(where, "tokenizer_engine", s.tokenizer_engine, ENGINES, problems)
    if s.layout == "trl" and s.packing:
        problems.append(f"{where}: packing with layout trl: TRL packs rows itself")
    if not 0 <= s.val_size < 1:
        problems.append(f"{where}: val_size must be in [0, 1), not {s.val_size:g}")
    if not 0 < s.coverage <= 1:
        problems.append(f"{where}: coverage must be in (0, 1], not {s.coverage:g}")
    for key in ("round", "shard_size"):
        if getattr(s, key) < 1:
            problems.append(f"{where}: {key} must be at least 1, not {getattr(s, key)}")
    if s.image_tokens is not None and s.image_tokens < 1:
        problems.append(f"{where}: image_tokens must be at least 1, not {s.image_tokens}")
    if problems and where == FROM_FLAGS:  # name the flag the user typed: --cutoff-len
        problems = [re.sub(rf"^{FROM_FLAGS}: (\w+)", lambda m: "--" + m[1].replace("_", "-"), p)
                    for p in problems]  # fmt: skip
        raise ConfigError("dataprep build", problems)
    if problems:
        raise ConfigError(where, problems)
    model = tokenizer.load(s.tokenizer)
    # Compiled only when a build runs: a cached build never needs Jinja.
    template = templates.resolve(s.template, model.chat_template, model.special, check=False)
    if template is None:
        raise DataprepError(
            f"{model.name} has no chat_template",
            fix="name the template training will use: --template chatml|llama3|alpaca|default",
        )
    image_tokens = s.image_tokens if s.image_tokens is not None else model.image_tokens
    setup = LengthSetup(model, template, False, image_tokens, cutoff, s.coverage, s.round)
    select, ignore = _split(s.select), _split(s.ignore)
    pack = PackArgs(s.rules, tuple(select) if select else None,
                    tuple(ignore) if ignore else None)  # fmt: skip
    # Every shard option is a setting of the same name (tested): copied, not listed twice.
    shard = {f.name: getattr(s, f.name) for f in fields(Options) if f.name != "cutoff_len"}
    options = Options(cutoff_len=cutoff, **shard)
    return BuildConfig(inputs, out, setup, pack, options)
