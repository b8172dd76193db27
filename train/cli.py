"""`train`: fine-tune from `dataprep build` shards. Errors print once, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence

from dataprep.errors import ConfigError, DataprepError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="train",
        description="Fine-tune from `dataprep build` shards: LoRA/QLoRA/full SFT and DPO.",
        epilog="Example:\n  dataprep build data.jsonl --out build/ --tokenizer MODEL\n"
        "  train run config.yaml learning_rate=1e-4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="train as a YAML config says",
        description=textwrap.dedent(
            """\
            Train with one YAML config (keys as in LLaMA-Factory and transformers); key=value
            arguments override it. Every problem with the config is listed at once."""
        ),
        epilog="Examples:\n  train run examples/train/tiny_sft.yaml\n"
        "  train run config.yaml max_steps=50 --print-config",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("config", metavar="CONFIG.yaml")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    run.add_argument("--print-config", action="store_true", help="show the resolved config")
    run.add_argument("--overwrite", action="store_true", help="replace a non-empty output_dir")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    except DataprepError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train: interrupted", file=sys.stderr)
        return 130


def _run(args) -> int:
    from train import config as configs

    config = configs.load(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(config.resolved(), indent=2))
        return 0
    if config.method == "llava":
        raise DataprepError("method llava is not part of this release yet", fix="use sft or dpo")
    from train import dpo, sft

    recipe = dpo if config.method == "dpo" else sft
    state = recipe.run(config, overwrite=args.overwrite)
    print(
        f"trained {state.step:,} steps; adapter/model and trainer_log.jsonl in {config.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
