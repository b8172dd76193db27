"""`dataprep build`: cleaned, tokenized, label-masked Arrow shards, cached."""

from __future__ import annotations

import argparse
import sys
import textwrap

from dataprep.commands import EXIT_FINDINGS, EXIT_OK, flags
from dataprep.errors import DataprepError

DESCRIPTION = textwrap.dedent(
    """\
    Read, clean and gate the data (records with error findings are rejected into
    rejects.jsonl), render it with the chat template, tokenize, mask labels, apply the
    cutoff policy and write shards that datasets.load_from_disk opens (and that
    LLaMA-Factory takes as its tokenized_path), with manifest.json. The same inputs,
    tokenizer, template and options reuse the build at once; any change rebuilds.
    A BUILD.yaml config may replace the flags."""
)
EPILOG = textwrap.dedent(
    """\
    Examples:
      dataprep build data.jsonl --out build/ --tokenizer ./Qwen2.5-7B-Instruct
      dataprep build sft.jsonl more.jsonl --out build/ --cutoff-len 2048 --val-size 0.05
      dataprep build build.yaml
      dataprep build --check build/"""
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="data files, globs or a build.yaml"
    )
    parser.add_argument("--out", metavar="DIR", help="the build folder")
    parser.add_argument("--check", metavar="DIR", help="verify a build against its manifest")
    parser.add_argument("--dataset-info", metavar="FILE", help="LLaMA-Factory's dataset_info.json")
    parser.add_argument(
        "--dataset", action="append", metavar="NAME", help="with --dataset-info: datasets to build"
    )
    flags.input_format(parser, detected=False)
    parser.add_argument(
        "--truncation",
        choices=("drop", "truncate-prompt", "truncate-answer"),
        help="what to do with records over cutoff_len (default truncate-answer)",
    )
    parser.add_argument("--train-on-prompt", action="store_true", help="labels on prompts too")
    parser.add_argument("--mask-history", action="store_true", help="train only the last answer")
    parser.add_argument(
        "--label-turn-end",
        action="store_true",
        help="also label the line break after each end-of-turn token (LLaMA-Factory's labels)",
    )
    parser.add_argument(
        "--fix", choices=("safe", "none"), default=None,
        help="safe (default): the clean fixers rewrite text first (counted in the manifest); "
        "none: no text is changed, records are only gated",
    )  # fmt: skip
    parser.add_argument(
        "--tokenizer-engine", choices=("auto", "tokenizers"),
        help="auto (default): tiktoken where it gives the same tokens as the model's tokenizer "
        "(byte-level BPE, checked on the data), else tokenizers; tokenizers: always tokenizers",
    )  # fmt: skip
    parser.add_argument(
        "--layout", choices=("llamafactory", "trl"),
        help="llamafactory (default): its column names, a tokenized_path for every stage; trl: "
        "the columns TRL's SFTTrainer and DPOTrainer take pre-tokenized (text only)",
    )  # fmt: skip
    parser.add_argument(
        "--label-pair-history",
        action="store_true",
        help="preference pairs: also label the prompt's earlier answers (by default only the "
        "final answers are labelled, as LLaMA-Factory and TRL do)",
    )
    parser.add_argument("--packing", action="store_true", help="pack SFT sequences (greedy)")
    parser.add_argument("--val-size", type=float, metavar="F", help="validation share (0)")
    parser.add_argument("--seed", type=int, help="for the split and mixing (42)")
    parser.add_argument(
        "--mix", choices=("concat", "interleave"), help="how datasets combine (concat)"
    )
    parser.add_argument("--image-root", metavar="DIR", help="folder image paths are relative to")
    parser.add_argument("--rules", metavar="FILE", help="rule pack deciding what is an error")
    parser.add_argument("--select", metavar="RULES", help="only these rules may reject")
    parser.add_argument("--ignore", metavar="RULES", help="these rules never reject")
    parser.add_argument(
        "--num-proc",
        type=int,
        default=0,
        metavar="N",
        help="tokenizer threads (default: all cores)",
    )
    parser.add_argument("--shard-size", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument(
        "--max-rejected", type=float, metavar="F",
        help="fail (exit 1) when more than this share of the records is rejected, e.g. 0.05 "
        "(a build that keeps nothing always fails)",
    )  # fmt: skip
    parser.add_argument(
        "--lock-timeout", type=float, metavar="SECONDS",
        help="when another build of --out is running, wait at most this long (default: no "
        "limit), then reuse its build",
    )  # fmt: skip
    flags.lengths(parser, cutoff_auto=True, defaults=False)  # buildconfig.Settings' defaults
    flags.steps(parser)
    flags.executor(parser, chunks=False)  # a build's work units are its shards (--shard-size)


def run(args: argparse.Namespace) -> int:
    from dataprep import buildconfig, builder

    if args.check:
        problems = builder.check(args.check)
        for problem in problems:
            print(f"dataprep: {problem}", file=sys.stderr)
        if not problems:
            print(f"{args.check}: intact (every file matches manifest.json)")
        return EXIT_FINDINGS if problems else EXIT_OK
    if args.num_proc < 0:
        raise DataprepError("--num-proc must be 0 (all cores) or more")
    if args.max_rejected is not None and not 0 <= args.max_rejected <= 1:
        raise DataprepError(
            "--max-rejected is a share of the records", fix="e.g. --max-rejected 0.05"
        )
    if args.num_proc:
        from dataprep.encode import limit_threads

        limit_threads(args.num_proc)
    config = buildconfig.from_args(args)
    batching = flags.batching(args)
    builds = buildconfig.by_kind(config)
    codes = []
    for kind, one in builds:
        if kind is not None:
            print(f"{kind}: {', '.join(i.name for i in one.inputs)}")
        codes.append(_build_one(args, one, batching))
    return max(codes)


def _build_one(args: argparse.Namespace, config, batching) -> int:
    """One build (of a kind's datasets): run it and print its summary; the exit code."""
    from dataprep import builder

    bar = None
    if sys.stderr.isatty():
        from dataprep.progress import Bar

        bar = Bar()
    stages: dict = {}

    def progress(done: int, stage: str) -> None:  # one bar per stage, with records/s
        if stage not in stages:
            stages[stage] = bar.for_count(stage)
        stages[stage](done, config.total)

    try:
        result = builder.build(
            config.inputs, config.out, config.setup, config.pack, config.options,
            progress=progress if bar else None, lock_timeout=args.lock_timeout,
            notify=lambda message: print(f"dataprep: {message}", file=sys.stderr, flush=True),
            ray=flags.ray_settings(args, None),
        )  # fmt: skip
    finally:
        if bar:
            bar.close()
    c = result.counts
    what = "reused (same cache key)" if result.reused else "built"
    print(
        f"{result.out}: {what} in {result.seconds:.1f} s: read {c.read:,} = kept {c.kept:,} + "
        f"rejected {c.rejected_records:,}; cutoff_len {result.manifest['cutoff_len']:,}; "
        f"splits {', '.join(f'{k} {v:,}' for k, v in sorted(c.splits.items())) or 'none'}"
    )
    if c.kept:
        rows = sum(c.splits.values())
        packed = f"; packed into {rows:,} rows" if result.manifest.get("packing") else ""
        print(f"  tokens: {c.tokens:,} ({c.label_tokens:,} labelled) in {c.kept:,} samples"
              f"{packed}")  # fmt: skip
    if result.timings:
        spent = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
        print(f"  seconds by stage: {spent}")
    if c.fixed:
        print(f"  fixed: {flags.counts(c.fixed)}")
    if c.rejected:
        by_rule = ", ".join(f"{k} ×{v:,}" for k, v in c.rejected.most_common())
        print(f"  rejected by rule: {by_rule} (reasons in {result.out}/rejects.jsonl)")
    if c.truncated:
        print(f"  cutoff policy: {', '.join(f'{k} ×{v:,}' for k, v in c.truncated.items())}")
    if batching is not None:
        from dataprep.steps import describe, steps

        print(f"  training: {describe(steps(c.splits.get('train', 0), batching))}")
    if c.kept and args.max_rejected is None:  # nothing can fail it (a cached build ends here)
        return EXIT_OK
    from dataprep import rejects

    failed = rejects.verdict(c.read, c.kept, c.rejected, result.out / "rejects.jsonl",
                             args.max_rejected)  # fmt: skip
    if failed is None:
        return EXIT_OK
    print("\n".join(f"dataprep: error: {line}" if k == 0 else line
                    for k, line in enumerate(failed)), file=sys.stderr)  # fmt: skip
    return EXIT_FINDINGS
