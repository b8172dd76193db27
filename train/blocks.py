"""The blocks every recipe is made of, as plain functions: the output folder, the tokenizer
and template, the dataset (built first when it is a data file), the device and DeepSpeed
config, the padding id, and what a finished run leaves behind."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dataprep import templates, tokenizer
from dataprep.errors import DataprepError
from train import data


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def output_dir(config, overwrite: bool) -> Path:
    """output_dir, created; a non-empty one only with --overwrite or when resuming."""
    out = Path(config.output_dir)
    replace = overwrite or config.overwrite_output_dir
    resuming = bool(config.resume_from_checkpoint)
    if out.exists() and any(out.iterdir()) and not replace and not resuming:
        raise DataprepError(
            f"output_dir {out} is not empty",
            fix="choose another output_dir, pass --overwrite, or resume_from_checkpoint",
        )
    if (
        out.exists()
        and (overwrite or config.overwrite_output_dir)
        and not config.resume_from_checkpoint
    ):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def model_tokenizer(config):
    name = config.tokenizer or config.model_name_or_path
    model_tok = tokenizer.load(name)
    template = templates.resolve(config.template, model_tok.chat_template, model_tok.special)
    if template is None:
        raise DataprepError(
            f"{name} has no chat_template", fix="set `template` (chatml, llama3, alpaca, default)"
        )
    return model_tok, template


def dataset(config, model_tok, template, image_tokens: int | None = None) -> data.Build:
    """A build directory as is; a data file or build.yaml is built first (the same cache)."""
    path = Path(config.dataset)
    if path.is_dir():
        return data.open_build(str(path), model_tok, template.source)
    if not path.exists():
        raise DataprepError(f"dataset {config.dataset!r} does not exist", fix="check the path")
    from dataprep import builder
    from dataprep.lengths import LengthSetup
    from dataprep.rulepack import PackArgs

    out = path.parent / ".dataprep-builds" / f"{path.stem}-{model_tok.name.replace('/', '_')[-40:]}"
    setup = LengthSetup(model_tok, template, image_tokens=image_tokens)
    options = builder.Options(cutoff_len=config.cutoff_len, val_size=config.val_size,
                            seed=config.seed)  # fmt: skip
    if path.suffix in (".yaml", ".yml"):
        raise DataprepError(
            "a build.yaml as dataset: run `dataprep build build.yaml` and name its out folder",
            fix="set dataset to the build folder",
        )
    # Under torchrun every rank gets here: the first to take the build's lock builds, the
    # others wait for it and reuse the finished build (one build, the same rows everywhere).
    result = builder.build([builder.Input((str(path),))], str(out), setup, PackArgs(), options,
                         notify=_say)  # fmt: skip
    what = "reused the build" if result.reused else "built"
    _say(f"{what} {result.out} from {path} (key {result.key[:12]})")
    return data.open_build(str(result.out), model_tok, template.source)


def _say(message: str) -> None:
    from train import dist

    print(f"train (rank {dist.rank()}): {message}", file=sys.stderr, flush=True)


def deepspeed(config) -> dict | None:
    """The filled DeepSpeed config, or None without `deepspeed:`."""
    if not config.deepspeed:
        return None
    from train import dist, engine

    engine.start_deepspeed()
    return engine.deepspeed_config(config, dist.world())


def pad_id(model_tok) -> int:
    """The tokenizer's padding token (its id 0 when it names none: padding is masked out)."""
    return model_tok.backend.token_to_id(model_tok.special.get("pad_token") or "") or 0


def save(config, engine, out: Path, model_tok, state, build: data.Build) -> None:
    """The adapter or model, the tokenizer files and run.json (what `train doctor`,
    `train merge` and `train generate` read)."""
    from train import dist

    engine.save_model(out)  # every process: ZeRO gathers the shards
    if dist.rank() > 0:  # one process writes
        return
    for source in model_tok.files:
        if Path(source).name.endswith(".json") and Path(source).is_file():
            shutil.copyfile(source, out / Path(source).name)
    summary = {
        "steps": state.step,
        "epochs": state.epoch,
        "best_eval_loss": state.best_eval,
        "build": str(build.path),
        "build_key": build.manifest.get("key"),
        "config": config.resolved(),
    }
    (out / "run.json").write_text(json.dumps(summary, indent=2))
