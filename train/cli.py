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
    merge = sub.add_parser(
        "merge",
        help="fold a run's LoRA adapter into its base model",
        description="Write the base model with the run's adapter merged into its weights.",
        epilog="Example:\n  train merge runs/tiny_sft runs/tiny_sft_merged",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("run", metavar="RUN_DIR")
    merge.add_argument("out", metavar="OUT_DIR")
    generate = sub.add_parser(
        "generate",
        help="answer a prompt with a trained model (does it babble?)",
        description="Render the prompt with the run's chat template and answer it greedily.",
        epilog='Example:\n  train generate runs/tiny_sft "What is 2 plus 2?"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("run", metavar="RUN_DIR")
    generate.add_argument("prompt")
    generate.add_argument("--max-new-tokens", type=int, default=64)
    generate.add_argument("--system", help="a system prompt")
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


def _needs_training_packages() -> None:
    import importlib.util

    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise DataprepError(
            f"training needs {', '.join(missing)}",
            fix="pip install torch (on a CPU machine: torch==2.13.0 first), then "
            "pip install 'llm-dataprep[train]'",
        )


def _run(args) -> int:
    if args.command != "run" or not args.print_config:
        _needs_training_packages()
    if args.command == "merge":
        from train import infer

        print(f"merged into {infer.merge(args.run, args.out)}")
        return 0
    if args.command == "generate":
        from train import infer

        print(infer.generate(args.run, args.prompt, args.max_new_tokens, args.system))
        return 0
    from train import config as configs

    config = configs.load(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(config.resolved(), indent=2))
        return 0
    from train import dpo, sft

    recipe = dpo if config.method == "dpo" else sft
    state = recipe.run(config, overwrite=args.overwrite)
    print(
        f"trained {state.step:,} steps; adapter/model and trainer_log.jsonl in {config.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
