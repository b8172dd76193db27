"""`train`: fine-tune from `dataprep build` shards. Errors print once, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from dataprep.errors import ConfigError, DataprepError


class _HelpConfig(argparse.Action):
    """Like --help: prints and exits before the config file is asked for."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from train.config import help_text

        sys.stdout.write(help_text())
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train",
        description="Fine-tune from `dataprep build` shards: LoRA/QLoRA/full SFT and DPO; plan the "
        "memory first, diagnose the run after.",
        epilog="Example:\n  dataprep build data.jsonl --out build/ --tokenizer MODEL\n"
        "  train run config.yaml learning_rate=1e-4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _run_command(sub)
    _plan_command(sub)
    _image_token_command(sub)
    _doctor_command(sub)
    _merge_command(sub)
    _generate_command(sub)
    return parser


def _run_command(sub) -> None:
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
    run.add_argument(
        "--help-config", action=_HelpConfig, help="every config key: type, default, meaning"
    )
    run.add_argument("--overwrite", action="store_true", help="replace a non-empty output_dir")


def _plan_command(sub) -> None:
    plan = sub.add_parser(
        "plan",
        help="estimate peak GPU memory, and what to change if it does not fit",
        description=textwrap.dedent(
            """\
            Estimate the peak GPU memory per device of a training config from the model's
            config alone (no weights loaded), item by item; if it does not fit, walk the
            troubleshooting chapter's OOM ladder until it does. With dataset set to a build
            folder, its token lengths give cutoff_len suggestions and steps per epoch."""
        ),
        epilog="Examples:\n  train plan config.yaml --gpu RTX4090\n"
        "  train plan config.yaml cutoff_len=4096 --gpu-memory 24GiB --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("config", metavar="CONFIG.yaml")
    plan.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    memory = plan.add_mutually_exclusive_group()
    memory.add_argument("--gpu-memory", metavar="SIZE", help="e.g. 24GiB (default: this GPU)")
    memory.add_argument("--gpu", metavar="NAME", help="a known card: RTX4090, A100-80GB, H100, ...")
    plan.add_argument("--world", type=int, default=1, help="GPUs (processes) training together")
    plan.add_argument("--tokens-per-s", type=float, help="a measured speed, for the wall time")
    plan.add_argument("--format", choices=("text", "json"), default="text")


def _image_token_command(sub) -> None:
    image_token = sub.add_parser(
        "image-token",
        help="a copy of a model's tokenizer with <image> added (for LLaVA)",
        description="Write the model's tokenizer files with <image> added as a special token: "
        "build LLaVA data with it (dataprep build --tokenizer OUT_DIR --image-tokens N) and set "
        "`tokenizer: OUT_DIR` in the training config.",
        epilog="Example:\n  train image-token meta-llama/Llama-3.2-1B-Instruct tok-with-image",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    image_token.add_argument("model", metavar="MODEL")
    image_token.add_argument("out", metavar="OUT_DIR")


def _doctor_command(sub) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="diagnose a run from its logged numbers (the chapter's checklists)",
        description=textwrap.dedent(
            """\
            Read a run's trainer_log.jsonl and config and diagnose it: NaN or flat loss,
            diverging or very slowly falling loss, overfitting, DPO that learns nothing, a data
            pipeline that starves the GPU, slow settings, padding waste. Each diagnosis names
            its evidence (steps, numbers), the advice and the config change to make. Exit 1
            when an error or warning is found."""
        ),
        epilog="Examples:\n  train doctor runs/tiny_sft\n"
        "  train doctor runs/tiny_sft --format html --out doctor.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("run", metavar="RUN_DIR")
    doctor.add_argument("--format", choices=("text", "json", "html"), default="text")
    doctor.add_argument("--out", metavar="FILE", help="write there instead of stdout")


def _merge_command(sub) -> None:
    merge = sub.add_parser(
        "merge",
        help="fold a run's LoRA adapter into its base model",
        description="Write the base model with the run's adapter merged into its weights.",
        epilog="Example:\n  train merge runs/tiny_sft runs/tiny_sft_merged",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("run", metavar="RUN_DIR")
    merge.add_argument("out", metavar="OUT_DIR")


def _generate_command(sub) -> None:
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
    generate.add_argument("--image", action="append", metavar="PATH",
                          help="an image for a LLaVA run (repeat for several)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
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


def _plan(args) -> int:
    from train import config as configs
    from train import plan

    config = configs.load(args.config, args.overrides, planning=True)
    assumed = False
    if args.gpu_memory:
        limit = plan.parse_size(args.gpu_memory)
    elif args.gpu:
        limit = plan.gpu_memory(args.gpu)
    else:
        import torch

        if torch.cuda.is_available():
            limit = torch.cuda.get_device_properties(0).total_memory
        else:
            limit, assumed = 24 * plan.GIB, True
    result = plan.plan(config, limit, args.world, args.tokens_per_s)
    result["gpu_memory_assumed"] = assumed
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        if assumed:
            print("no GPU here and none named: planning for 24 GiB (--gpu or --gpu-memory)")
        print(plan.text(result))
    return 0 if result["fits"] else 1


def _doctor(args) -> int:
    from train import doctor, runlog

    records, config = runlog.read_run(args.run)
    found = doctor.diagnose_run(records, config)
    if args.format == "json":
        output = json.dumps({"run": args.run, "diagnoses": runlog.as_json(found)}, indent=2)
    elif args.format == "html":
        output = runlog.html(found, records, args.run)
    else:
        output = runlog.text(found, args.run)
    if args.out:
        Path(args.out).write_text(output + "\n", encoding="utf-8")
        print(f"wrote {args.out}: {len(found)} diagnosis(es)")
    else:
        print(output)
    return 1 if any(d.severity in ("error", "warning") for d in found) else 0


def _run(args) -> int:
    if args.command == "image-token":
        from train import llava

        out, image_id = llava.add_image_token(args.model, args.out)
        print(f"wrote {out}: <image> is token {image_id}")
        return 0
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "plan":
        _needs_training_packages()
    if args.command != "run" or not args.print_config:
        _needs_training_packages()
    if args.command == "merge":
        from train import infer

        print(f"merged into {infer.merge(args.run, args.out)}")
        return 0
    if args.command == "generate":
        from train import infer

        print(infer.generate(args.run, args.prompt, args.max_new_tokens, args.system,
                             args.image))  # fmt: skip
        return 0
    from train import config as configs

    if args.command == "plan":
        return _plan(args)
    config = configs.load(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(config.resolved(), indent=2))
        return 0
    from train.recipes import RECIPES

    state = RECIPES[config.method](config, overwrite=args.overwrite)
    print(
        f"trained {state.step:,} steps; adapter/model and trainer_log.jsonl in {config.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
