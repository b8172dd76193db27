"""Flags several commands share, and what they turn into (a LengthSetup, a Spec, ...)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dataprep.errors import DataprepError
from dataprep.spec import FORMATS, Spec, resolve_format


def steps(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "training steps",
        "with --per-device-batch: optimizer steps per epoch and max_steps (what a streaming "
        "dataset needs set), counted as Hugging Face's Trainer counts them",
    )
    group.add_argument("--per-device-batch", type=int, metavar="B", help="rows per device batch")
    group.add_argument("--grad-accum", type=int, default=1, metavar="G",
                       help="gradient accumulation steps (default 1)")  # fmt: skip
    group.add_argument("--world", type=int, default=1, metavar="W",
                       help="processes (GPUs) training together (default 1)")  # fmt: skip
    group.add_argument("--epochs", type=float, default=1.0, metavar="E",
                       help="epochs (default 1)")  # fmt: skip


def batching(args: argparse.Namespace):
    """The --per-device-batch flags as a Batching, or None when not asked for."""
    if args.per_device_batch is None:
        return None
    from dataprep.steps import Batching

    return Batching(args.per_device_batch, args.grad_accum, args.world, args.epochs)


def input_format(parser: argparse.ArgumentParser, detected: bool = True) -> None:
    parser.add_argument(
        "--input-format",
        "--data-format",
        dest="input_format",
        metavar="NAME",
        help="read every record as this format" + (" instead of detecting it" if detected else ""),
    )


def lengths(
    parser: argparse.ArgumentParser, cutoff_auto: bool = False, defaults: bool = True
) -> None:
    """The length flags; `defaults` False leaves unset ones None (build's come from
    buildconfig.Settings, shared with build.yaml)."""
    group = parser.add_argument_group("token lengths")
    group.add_argument(
        "--tokenizer",
        metavar="PATH_OR_ID",
        help="the model's tokenizer: a local folder (offline) or a hub id (default: the bundled "
        "Qwen2.5 tokenizer, an estimate)",
    )
    group.add_argument(
        "--template",
        default="auto" if defaults else None,
        metavar="NAME",
        help="auto: the tokenizer's chat_template (default); or chatml, llama3, alpaca, default",
    )
    group.add_argument(
        "--image-tokens",
        type=int,
        metavar="N",
        help="tokens one image takes (576 for LLaVA-1.5; default: the model's processor config)",
    )
    if cutoff_auto:
        group.add_argument(
            "--cutoff-len",
            default="auto" if defaults else None,
            metavar="N|auto",
            help="tokens per sequence (auto: the recommended cutoff_len; default)",
        )
    else:
        group.add_argument(
            "--cutoff-len", type=int, metavar="N", help="report records longer than N tokens"
        )
    group.add_argument(
        "--coverage",
        type=float,
        default=0.95 if defaults else None,
        metavar="F",
        help="share of records the recommended cutoff_len keeps whole (default 0.95)",
    )
    group.add_argument(
        "--round",
        type=int,
        default=64 if defaults else None,
        metavar="N",
        help="cutoff_len is a multiple of N (64)",
    )


def length_setup(args: argparse.Namespace):
    """The run's LengthSetup from the token-length flags."""
    from dataprep.measure import length_setup

    if not 0 < args.coverage <= 1:
        raise DataprepError("--coverage must be in (0, 1]", fix="e.g. --coverage 0.95")
    if args.round < 1 or (args.cutoff_len is not None and args.cutoff_len < 1):
        raise DataprepError("--round and --cutoff-len must be positive")
    if args.image_tokens is not None and args.image_tokens < 0:
        raise DataprepError("--image-tokens must be 0 or more")
    return length_setup(
        args.tokenizer,
        args.template,
        image_tokens=args.image_tokens,
        cutoff_len=args.cutoff_len,
        coverage=args.coverage,
        round=args.round,
    )


def input_spec(input_format: str | None) -> Spec | None:
    """--input-format NAME as a Spec (None: detect each record's format)."""
    if not input_format:
        return None
    name = resolve_format(input_format)
    if name is None:
        raise DataprepError(
            f"unknown input format {input_format!r}", fix=f"use one of {', '.join(FORMATS)}"
        )
    return Spec(formatting=name)


def split(values: str | list[str] | None) -> list[str] | None:
    if not values:
        return None
    if isinstance(values, str):
        values = [values]
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def existing(paths: list[str] | None, flag: str) -> list[str] | None:
    for path in paths or ():
        if not Path(path).exists():
            raise DataprepError(f"{flag} {path!r} does not exist", fix="name an existing file")
    return paths


def image_cache(root: str | None, threads: int, bar=None):
    from dataprep.images import ImageCache

    if root is not None and not Path(root).is_dir():
        raise DataprepError(f"--image-root {root!r} is not a folder", fix="name the image folder")
    if threads < 0:
        raise DataprepError("--image-threads must be 0 (automatic) or more")
    progress = bar.for_count("checking images") if bar else None
    return ImageCache(root=root, threads=threads, progress=progress)


def counts(counter) -> str:
    """`a 3, b 1`: by count, then name, so the output is stable."""
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {n:,}" for name, n in ordered)


def executor(parser: argparse.ArgumentParser, chunks: bool = True) -> None:
    group = parser.add_argument_group(
        "executor", "where the work runs: here (--jobs processes) or on a Ray cluster"
    )
    group.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="ray: run files and byte ranges of large JSONL files as Ray tasks (needs "
        "pip install 'llm-dataprep[ray]'; default local)",
    )
    group.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the cluster (auto, or ray://host:10001; default: start a "
        "local Ray instance with this machine's cores)",
    )
    if chunks:
        group.add_argument(
            "--chunk-size",
            type=byte_size,
            default=None,
            metavar="SIZE",
            help="with --executor ray: bytes of JSONL per task, e.g. 64M (default 32M)",
        )


def byte_size(text: str) -> int:
    """`64M`, `512K`, `1G` or a plain number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    scale = units.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        value = int(float(digits) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64M, 512K)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a size must be positive: {text!r}")
    return value


def own_stdout(args: argparse.Namespace):
    """The stream the command's output goes to. With --executor ray, everything else printed
    to sys.stdout goes to stderr for the rest of the process: Ray's driver prints its workers'
    errors (a retried task) to sys.stdout, and findings in JSON must be alone there."""
    stdout = sys.stdout
    if args.executor == "ray":
        sys.stdout = sys.stderr
    return stdout


def ray_settings(args: argparse.Namespace, bar):
    """--executor ray and its flags as a `cluster.Ray`, or None to run here."""
    chunk_size = getattr(args, "chunk_size", None)
    if args.executor != "ray":
        if args.address or chunk_size:
            raise DataprepError(
                "--address and --chunk-size need --executor ray", fix="add --executor ray"
            )
        return None
    from dataprep import chunks, cluster

    progress = cluster.progress_line(bar) if bar is not None else None
    return cluster.Ray(args.address, chunk_size or chunks.CHUNK_BYTES, progress)
