"""`dataprep`: a thin command line over the library. Errors print once, never a traceback."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from dataprep import __version__
from dataprep.errors import ConfigError, DataprepError
from dataprep.formats import FORMAT_ALIASES, FORMATS, Spec, resolve_format

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    # Records come and go by the million and hold no cycles: the default threshold (700
    # allocations) ran ~800 collections, the full ones walking every imported object, per
    # 50,000 records (~3% of lint's time).
    gc.set_threshold(50_000, 20, 20)
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_OK
    try:
        return args.run(args)
    except (DataprepError, ConfigError) as exc:
        print(f"dataprep: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("dataprep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dataprep lint ... | head`: the reader left; that is not our failure.
        sys.stderr.close()
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dataprep",
        description="Find what is wrong with fine-tuning data before a GPU hour is spent.",
        epilog="Example:\n  dataprep lint data.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    data_formats = ", ".join([*FORMATS, *FORMAT_ALIASES])
    lint = sub.add_parser(
        "lint",
        help="report every problem in data files, with file:line, rule and fix",
        description=textwrap.dedent(
            f"""\
            Read JSONL, JSON arrays, .gz, folders or stdin (-) in any supported format
            ({", ".join(FORMATS)}), detected per record, and report every problem found.

            Exit codes: 0 no errors; 1 errors found (or warnings with --strict);
            2 dataprep could not run (bad arguments, unreadable file, bad rule pack)."""
        ),
        epilog=textwrap.dedent(
            """\
            Examples:
              dataprep lint data.jsonl
              dataprep lint data/ --format json > findings.jsonl
              dataprep lint --dataset-info data/dataset_info.json --dataset alpaca_en_demo
              cat data.jsonl | dataprep lint - --input-format sharegpt --select role-order"""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint.add_argument("paths", nargs="*", metavar="PATH", help="data files or folders; - for stdin")
    lint.add_argument(
        "--format",
        default="text",
        metavar="FORMAT",
        help="output: text (default), json (JSON Lines), github, parsable. A data format name "
        f"({data_formats}) here means --input-format",
    )
    lint.add_argument(
        "--input-format",
        "--data-format",
        dest="input_format",
        metavar="NAME",
        help="read every record as this format instead of detecting it",
    )
    lint.add_argument(
        "--dataset-info",
        metavar="FILE",
        help="lint the datasets of a LLaMA-Factory dataset_info.json",
    )
    lint.add_argument(
        "--dataset",
        action="append",
        metavar="NAME",
        help="with --dataset-info: datasets to lint (repeatable, comma-separated; default all)",
    )
    lint.add_argument(
        "--rules", metavar="FILE", help="rule pack YAML (default: rules/default.yaml)"
    )
    lint.add_argument(
        "--select", metavar="RULES", help="only these rules (names or codes, comma-separated)"
    )
    lint.add_argument(
        "--ignore", metavar="RULES", help="skip these rules (names or codes, comma-separated)"
    )
    lint.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    lint.add_argument(
        "--baseline", metavar="FILE", help="report only findings not accepted in this baseline"
    )
    lint.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="accept every current finding: write them to FILE (by rule and record hash)",
    )
    lint.add_argument(
        "--no-config",
        action="store_true",
        help="ignore .dataprep.yaml / [tool.dataprep] found by walking up from the data",
    )
    lint.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="processes for JSONL files of 8 MB or more (default: this machine's cores)",
    )
    lint.add_argument(
        "--report",
        metavar="FILE",
        help="also write the HTML report (measures token lengths too)",
    )
    lint.add_argument(
        "--lengths",
        action="store_true",
        help="measure token lengths (implied by --tokenizer and --cutoff-len)",
    )
    _length_arguments(lint)
    lint.add_argument(
        "--sft",
        action="append",
        metavar="FILE",
        help="SFT data to compare DPO chosen answers with (off-policy-chosen); repeatable",
    )
    lint.add_argument(
        "--image-root",
        metavar="DIR",
        help="folder image paths are relative to; they must stay inside it (default: the data "
        "file's folder, or the dataset_info.json folder)",
    )
    lint.add_argument(
        "--image-threads",
        type=int,
        default=0,
        metavar="N",
        help="threads opening images (default: one per core, at least 4)",
    )
    lint.add_argument(
        "--max-examples", type=int, default=3, metavar="N", help="examples per rule in text output"
    )
    lint.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour in text output"
    )
    lint.add_argument("--no-progress", action="store_true", help="never show the progress line")
    lint.add_argument("--explain", metavar="RULE", help="print a rule's documentation and exit")
    lint.set_defaults(run=_lint)

    clean = sub.add_parser(
        "clean",
        help="fix what is safe to fix, reject the rest with reasons",
        description=textwrap.dedent(
            """\
            Apply the safe fixers (strip HTML to text outside code, unescape entities, drop
            script/style, normalise whitespace and Unicode, remove template tokens, empty
            placeholder inputs, drop exact duplicates), then reject every record that still has
            an error finding, under its rule names. The output keeps each record's format and
            field order; untouched records are copied byte for byte. read == written + rejected."""
        ),
        epilog="Examples:\n  dataprep clean data.jsonl -o clean.jsonl --rejects rejects.jsonl\n"
        "  dataprep clean data.jsonl --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    clean.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders")
    clean.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="cleaned data (.jsonl, or .json for an array); required unless --dry-run",
    )
    clean.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing: count what would be fixed and rejected, by fixer and rule",
    )
    clean.add_argument(
        "--rejects", metavar="FILE", help="one JSON line per rejected record, with its rules"
    )
    clean.add_argument(
        "--input-format",
        "--data-format",
        dest="input_format",
        metavar="NAME",
        help="read every record as this format",
    )
    clean.add_argument(
        "--image-root",
        metavar="DIR",
        help="folder image paths are relative to (default: the data file's folder)",
    )
    clean.add_argument("--rules", metavar="FILE", help="rule pack deciding what is an error")
    clean.add_argument("--select", metavar="RULES", help="only these rules may reject")
    clean.add_argument("--ignore", metavar="RULES", help="these rules never reject")
    clean.set_defaults(run=_clean)

    report = sub.add_parser(
        "report",
        help="write a self-contained HTML data-quality report",
        description=textwrap.dedent(
            """\
            Lint the data, measure token lengths and profile every record, then write one HTML
            file (inline CSS, JavaScript and charts; nothing fetched from a network) to open
            before spending GPU hours. With --against, a second dataset (an eval set) is shown
            side by side, with the train/eval overlap."""
        ),
        epilog=textwrap.dedent(
            """\
            Examples:
              dataprep report data.jsonl -o report.html
              dataprep report train.jsonl --against eval.jsonl -o report.html
              dataprep report llava.json --image-root images/ --tokenizer ./llava-hf -o r.html"""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders")
    report.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    report.add_argument(
        "--against", action="append", metavar="PATH", help="an eval set to compare with"
    )
    report.add_argument(
        "--input-format",
        "--data-format",
        dest="input_format",
        metavar="NAME",
        help="read every record as this format instead of detecting it",
    )
    report.add_argument("--rules", metavar="FILE", help="rule pack YAML")
    report.add_argument("--select", metavar="RULES", help="only these rules")
    report.add_argument("--ignore", metavar="RULES", help="skip these rules")
    report.add_argument("--image-root", metavar="DIR", help="folder image paths are relative to")
    _length_arguments(report)
    report.set_defaults(run=_report)

    build = sub.add_parser(
        "build",
        help="clean, tokenize and label-mask data into Arrow shards (cached, never stale)",
        description=textwrap.dedent(
            """\
            Read, clean and gate the data (records with error findings are rejected into
            rejects.jsonl), render it with the chat template, tokenize, mask labels, apply the
            cutoff policy and write shards that datasets.load_from_disk opens (and that
            LLaMA-Factory takes as its tokenized_path), with manifest.json. The same inputs,
            tokenizer, template and options reuse the build at once; any change rebuilds.
            A BUILD.yaml config may replace the flags."""
        ),
        epilog=textwrap.dedent(
            """\
            Examples:
              dataprep build data.jsonl --out build/ --tokenizer ./Qwen2.5-7B-Instruct
              dataprep build sft.jsonl more.jsonl --out build/ --cutoff-len 2048 --val-size 0.05
              dataprep build build.yaml
              dataprep build --check build/"""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("paths", nargs="*", metavar="PATH", help="data files, globs or a build.yaml")
    build.add_argument("--out", metavar="DIR", help="the build folder")
    build.add_argument("--check", metavar="DIR", help="verify a build against its manifest")
    build.add_argument("--dataset-info", metavar="FILE", help="LLaMA-Factory's dataset_info.json")
    build.add_argument(
        "--dataset", action="append", metavar="NAME", help="with --dataset-info: datasets to build"
    )
    build.add_argument(
        "--input-format", "--data-format", dest="input_format", metavar="NAME",
        help="read every record as this format",
    )  # fmt: skip
    build.add_argument(
        "--truncation",
        choices=("drop", "truncate-prompt", "truncate-answer"),
        help="what to do with records over cutoff_len (default truncate-answer)",
    )
    build.add_argument("--train-on-prompt", action="store_true", help="labels on prompts too")
    build.add_argument("--mask-history", action="store_true", help="train only the last answer")
    build.add_argument(
        "--label-turn-end",
        action="store_true",
        help="also label the line break after each end-of-turn token (LLaMA-Factory's labels)",
    )
    build.add_argument(
        "--fix", choices=("safe", "none"), default=None,
        help="safe (default): the clean fixers rewrite text first (counted in the manifest); "
        "none: no text is changed, records are only gated",
    )  # fmt: skip
    build.add_argument(
        "--tokenizer-engine", choices=("auto", "tokenizers"),
        help="auto (default): tiktoken where it gives the same tokens as the model's tokenizer "
        "(byte-level BPE, checked on the data), else tokenizers; tokenizers: always tokenizers",
    )  # fmt: skip
    build.add_argument(
        "--layout", choices=("llamafactory", "trl"),
        help="llamafactory (default): its column names, a tokenized_path for every stage; trl: "
        "the columns TRL's SFTTrainer and DPOTrainer take pre-tokenized (text only)",
    )  # fmt: skip
    build.add_argument(
        "--label-pair-history",
        action="store_true",
        help="preference pairs: also label the prompt's earlier answers (by default only the "
        "final answers are labelled, as LLaMA-Factory and TRL do)",
    )
    build.add_argument("--packing", action="store_true", help="pack SFT sequences (greedy)")
    build.add_argument("--val-size", type=float, metavar="F", help="validation share (0)")
    build.add_argument("--seed", type=int, help="for the split and mixing (42)")
    build.add_argument(
        "--mix", choices=("concat", "interleave"), help="how datasets combine (concat)"
    )
    build.add_argument("--image-root", metavar="DIR", help="folder image paths are relative to")
    build.add_argument("--rules", metavar="FILE", help="rule pack deciding what is an error")
    build.add_argument("--select", metavar="RULES", help="only these rules may reject")
    build.add_argument("--ignore", metavar="RULES", help="these rules never reject")
    build.add_argument(
        "--num-proc",
        type=int,
        default=0,
        metavar="N",
        help="tokenizer threads (default: all cores)",
    )
    build.add_argument("--shard-size", type=int, metavar="N", help=argparse.SUPPRESS)
    build.add_argument(
        "--max-rejected", type=float, metavar="F",
        help="fail (exit 1) when more than this share of the records is rejected, e.g. 0.05 "
        "(a build that keeps nothing always fails)",
    )  # fmt: skip
    build.add_argument(
        "--lock-timeout", type=float, metavar="SECONDS",
        help="when another build of --out is running, wait at most this long (default: no "
        "limit), then reuse its build",
    )  # fmt: skip
    _length_arguments(build, cutoff_auto=True, defaults=False)  # buildconfig.Settings' defaults
    _step_arguments(build)
    build.set_defaults(run=_build)

    stats = sub.add_parser(
        "stats",
        help="token lengths and the cutoff_len they call for",
        description=textwrap.dedent(
            """\
            Render every record with the model's chat template, tokenize it as training will,
            and print p50/p90/p95/p99/max of full and label (answer) lengths with the smallest
            cutoff_len (a multiple of --round) that keeps --coverage of the records whole.
            Without --tokenizer, the bundled Qwen2.5 tokenizer gives an estimate."""
        ),
        epilog=textwrap.dedent(
            """\
            Examples:
              dataprep stats data.jsonl
              dataprep stats data.jsonl --tokenizer Qwen/Qwen2.5-7B-Instruct --cutoff-len 2048
              dataprep stats llava.json --tokenizer ./llava-1.5-7b-hf --format json"""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stats.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders")
    stats.add_argument("--format", default="text", choices=("text", "json"), help="output")
    stats.add_argument(
        "--input-format",
        "--data-format",
        dest="input_format",
        metavar="NAME",
        help="read every record as this format instead of detecting it",
    )
    _length_arguments(stats)
    _step_arguments(stats)
    stats.set_defaults(run=_stats)

    rules = sub.add_parser(
        "rules",
        help="list the rules, or explain one",
        description="List every rule with its code, severity and summary, or explain one rule.",
        epilog="Examples:\n  dataprep rules\n  dataprep rules role-order\n  dataprep rules PA01",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rules.add_argument("name", nargs="?", metavar="RULE", help="a rule name or code")
    rules.add_argument("--rules", metavar="FILE", help="show severities from this rule pack")
    rules.set_defaults(run=_rules)
    return parser


def _step_arguments(parser: argparse.ArgumentParser) -> None:
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


def _batching(args: argparse.Namespace):
    """The --per-device-batch flags as a Batching, or None when not asked for."""
    if args.per_device_batch is None:
        return None
    from dataprep.steps import Batching

    return Batching(args.per_device_batch, args.grad_accum, args.world, args.epochs)


def _length_arguments(
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


def _length_setup(args: argparse.Namespace):
    """The run's LengthSetup from the token-length flags."""
    from dataprep import templates, tokenizer
    from dataprep.linter import LengthSetup

    if not 0 < args.coverage <= 1:
        raise DataprepError("--coverage must be in (0, 1]", fix="e.g. --coverage 0.95")
    if args.round < 1 or (args.cutoff_len is not None and args.cutoff_len < 1):
        raise DataprepError("--round and --cutoff-len must be positive")
    if args.image_tokens is not None and args.image_tokens < 0:
        raise DataprepError("--image-tokens must be 0 or more")
    model = tokenizer.load(args.tokenizer)
    template = templates.resolve(args.template, model.chat_template, model.special)
    missing = template is None
    if template is None:  # reported by template-mismatch; measured with LLaMA-Factory's default
        template = templates.resolve("default", None, model.special)
    image_tokens = args.image_tokens if args.image_tokens is not None else model.image_tokens
    return LengthSetup(
        model, template, missing, image_tokens, args.cutoff_len, args.coverage, args.round
    )


def _stats(args: argparse.Namespace) -> int:
    import orjson

    from dataprep.lengths import merge, summary
    from dataprep.linter import PackArgs, Summary, lint_paths

    spec = _input_spec(args.input_format)
    setup = _length_setup(args)
    run = Summary()
    # Only the measuring matters here; one cheap rule keeps the linter's file handling.
    for _ in lint_paths(args.paths, PackArgs(select=("json-array-file",)), run, spec=spec,
                        lengths=setup):  # fmt: skip
        pass
    for error in run.errors:
        print(f"dataprep: error: {error}", file=sys.stderr)
    if run.errors and not run.lengths:
        return EXIT_FAILED
    lengths = merge(list(run.lengths.values()))
    result = {
        **summary(lengths, setup.coverage, setup.round),
        "tokenizer": setup.tokenizer.name,
        "estimate": setup.tokenizer.estimate,
        "template": setup.template.name,
        "files": [f.path for f in run.files],
        "image_tokens": setup.image_tokens,
    }
    if setup.cutoff_len:
        result["cutoff_len"] = setup.cutoff_len
        result["losses"] = lengths.losses(setup.cutoff_len)
    batching = _batching(args)
    if batching is not None:
        from dataprep.steps import steps

        result["steps"] = steps(result["records"], batching)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        sys.stdout.write(_stats_table(result))
    return EXIT_FAILED if run.errors else EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from dataprep import report
    from dataprep.linter import PackArgs

    spec = _input_spec(args.input_format)
    select, ignore = _split(args.select), _split(args.ignore)
    pack = PackArgs(
        args.rules, tuple(select) if select else None, tuple(ignore) if ignore else None
    )
    pack.load()  # a bad pack fails before any file is read
    setup = _length_setup(args)
    if Path(args.output).is_dir():
        raise DataprepError(f"-o {args.output!r} is a folder", fix="name the HTML file to write")
    other = None
    if args.against:
        images = _image_cache(args.image_root, 0)
        other = report.collect(args.against, pack, spec=spec, setup=setup, images=images,
                               keep_ngrams=True)  # fmt: skip
    images = _image_cache(args.image_root, 0)
    data = report.collect(
        args.paths, pack, spec=spec, setup=setup, images=images,
        against=other.profile if other else None,
    )  # fmt: skip
    errors = data.summary.errors + (other.summary.errors if other else [])
    for error in errors:
        print(f"dataprep: error: {error}", file=sys.stderr)
    if not data.summary.files:
        return EXIT_FAILED
    try:
        size = report.write(args.output, data, other)
    except OSError as exc:
        raise DataprepError(
            f"cannot write {args.output}: {exc.strerror}", fix="choose a writable path"
        ) from None
    counts = data.findings.by_severity()
    print(
        f"wrote {args.output} ({size / 1e6:,.1f} MB): {data.summary.records:,} records, "
        f"{counts['error']:,} errors, {counts['warning']:,} warnings",
        file=sys.stderr,
    )
    return EXIT_FAILED if errors else EXIT_OK


def _build(args: argparse.Namespace) -> int:
    from dataprep import build, buildconfig

    if args.check:
        problems = build.check(args.check)
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
    if args.num_proc:  # the Rust tokenizer's thread pool reads this before its first use
        import os

        os.environ["RAYON_NUM_THREADS"] = str(args.num_proc)
    config = buildconfig.from_args(args)
    batching = _batching(args)
    builds = buildconfig.by_kind(config)
    codes = []
    for kind, one in builds:
        if kind is not None:
            print(f"{kind}: {', '.join(i.name for i in one.inputs)}")
        codes.append(_build_one(args, one, batching))
    return max(codes)


def _build_one(args: argparse.Namespace, config, batching) -> int:
    """One build (of a kind's datasets): run it and print its summary; the exit code."""
    from dataprep import build, rejects

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
        result = build.build(
            config.inputs, config.out, config.setup, config.pack, config.options,
            progress=progress if bar else None, lock_timeout=args.lock_timeout,
            notify=lambda message: print(f"dataprep: {message}", file=sys.stderr, flush=True),
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
        print(f"  fixed: {_counts(c.fixed)}")
    if c.rejected:
        by_rule = ", ".join(f"{k} ×{v:,}" for k, v in c.rejected.most_common())
        print(f"  rejected by rule: {by_rule} (reasons in {result.out}/rejects.jsonl)")
    if c.truncated:
        print(f"  cutoff policy: {', '.join(f'{k} ×{v:,}' for k, v in c.truncated.items())}")
    if batching is not None:
        from dataprep.steps import describe, steps

        print(f"  training: {describe(steps(c.splits.get('train', 0), batching))}")
    failed = rejects.verdict(c.read, c.kept, c.rejected, result.out / "rejects.jsonl",
                             args.max_rejected)  # fmt: skip
    if failed is None:
        return EXIT_OK
    print("\n".join(f"dataprep: error: {line}" if k == 0 else line
                    for k, line in enumerate(failed)), file=sys.stderr)  # fmt: skip
    return EXIT_FINDINGS


def _stats_table(result: dict) -> str:
    who = result["tokenizer"] + (
        "  (an estimate: pass --tokenizer for your model)" if result["estimate"] else ""
    )
    keys = ("p50", "p90", "p95", "p99", "max")
    lines = [
        f"tokenizer  {who}",
        f"template   {result['template']}",
        f"records    {result['records']:,}",
        "",
        f"{'tokens':<12}" + "".join(f"{k:>9}" for k in keys),
        f"{'full':<12}" + "".join(f"{result['length'][k]:>9,}" for k in keys),
        f"{'labels':<12}" + "".join(f"{result['label_length'][k]:>9,}" for k in keys),
        "",
        f"recommended cutoff_len: {result['recommended_cutoff_len']:,} (the smallest multiple "
        f"of {result['round']} that keeps {result['coverage']:.0%} of the records whole)",
    ]
    for policy, lost in result.get("losses", {}).items():
        parts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in lost.items())
        lines.append(f"cutoff_len {result['cutoff_len']:,}, {policy}: loses {parts}")
    if "steps" in result:
        from dataprep.steps import describe

        lines.append(f"training: {describe(result['steps'])} (one row a record: unpacked)")
    return "\n".join(lines) + "\n"


def _input_spec(input_format: str | None) -> Spec | None:
    """--input-format NAME as a Spec (None: detect each record's format)."""
    if not input_format:
        return None
    name = resolve_format(input_format)
    if name is None:
        raise DataprepError(
            f"unknown input format {input_format!r}", fix=f"use one of {', '.join(FORMATS)}"
        )
    return Spec(formatting=name)


def _split(values: str | list[str] | None) -> list[str] | None:
    if not values:
        return None
    if isinstance(values, str):
        values = [values]
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _lint(args: argparse.Namespace) -> int:
    from dataprep import baseline, output, rulepack
    from dataprep.linter import PackArgs, Summary, lint_paths
    from dataprep.progress import Bar

    if args.explain:
        return _explain(args.explain)
    out_format = args.format
    input_format = args.input_format
    if out_format not in output.OUTPUT_FORMATS:
        if resolve_format(out_format) is None:
            raise DataprepError(
                f"unknown --format {out_format!r}",
                fix=f"output formats: {', '.join(output.OUTPUT_FORMATS)}; "
                f"data formats: {', '.join(FORMATS)}",
            )
        input_format, out_format = out_format, "text"
    spec = _input_spec(input_format)
    if not args.paths and not args.dataset_info:
        raise DataprepError(
            "nothing to lint", fix="name data files or folders, - for stdin, or --dataset-info"
        )
    if args.dataset and not args.dataset_info:
        raise DataprepError(
            "--dataset needs --dataset-info", fix="add --dataset-info path/to/dataset_info.json"
        )
    if args.dataset_info and spec is not None:
        raise DataprepError(
            "--input-format and --dataset-info both say how to read records", fix="use one of them"
        )
    if args.jobs < 1:
        raise DataprepError("--jobs must be at least 1")
    select, ignore = _split(args.select), _split(args.ignore)
    rules = args.rules
    if rules is None and not args.no_config:
        start = args.dataset_info or next((p for p in args.paths if p != "-"), ".")
        found = rulepack.find_project_config(start)
        rules = str(found) if found else None
    pack = PackArgs(rules, tuple(select) if select else None, tuple(ignore) if ignore else None)
    pack.load()  # a bad pack fails here, before any file is read
    summary = Summary()
    accepted = baseline.load(args.baseline) if args.baseline else None
    if args.baseline or args.write_baseline:
        summary.hashes = {}
    bar = Bar() if sys.stderr.isatty() and not args.no_progress else None
    images = _image_cache(args.image_root, args.image_threads, bar)
    measure = args.lengths or args.tokenizer or args.cutoff_len or args.image_tokens
    setup = _length_setup(args) if measure or args.report else None
    recorder = None
    if args.report:
        from dataprep.report import Recorder

        recorder = Recorder(pack.load())
    findings = lint_paths(
        args.paths,
        pack,
        summary,
        spec=spec,
        info=args.dataset_info,
        datasets=_split(args.dataset),
        jobs=args.jobs,
        progress=bar.for_file if bar else None,
        images=images,
        sft=_existing(args.sft, "--sft"),
        lengths=setup,
        observe=recorder.profile if recorder else None,
    )
    if recorder is not None:
        findings = recorder.tee(findings)
    if args.write_baseline:
        written = baseline.write(args.write_baseline, findings, summary.hashes)
        if bar:
            bar.close()
        for error in summary.errors:
            print(f"dataprep: error: {error}", file=sys.stderr)
        print(f"wrote {written:,} findings to {args.write_baseline}", file=sys.stderr)
        return EXIT_FAILED if summary.errors else EXIT_OK
    if accepted is not None:
        findings = baseline.new_only(findings, accepted, summary.hashes)
    try:
        tally = output.write(
            findings,
            summary,
            out_format,
            sys.stdout,
            colour=output.use_colour(args.color, sys.stdout),
            examples=args.max_examples,
        )
    finally:
        if bar:
            bar.close()
    if recorder is not None:
        from dataprep import report

        size = report.write(args.report, recorder.dataset(args.paths, summary, images, setup))
        print(f"wrote {args.report} ({size / 1e6:,.1f} MB)", file=sys.stderr)
    for error in summary.errors:
        print(f"dataprep: error: {error}", file=sys.stderr)
    if summary.errors:
        return EXIT_FAILED
    if tally.severity["error"] or (args.strict and tally.severity["warning"]):
        return EXIT_FINDINGS
    return EXIT_OK


def _existing(paths: list[str] | None, flag: str) -> list[str] | None:
    for path in paths or ():
        if not Path(path).exists():
            raise DataprepError(f"{flag} {path!r} does not exist", fix="name an existing file")
    return paths


def _image_cache(root: str | None, threads: int, bar=None):
    from dataprep.images import ImageCache

    if root is not None and not Path(root).is_dir():
        raise DataprepError(f"--image-root {root!r} is not a folder", fix="name the image folder")
    if threads < 0:
        raise DataprepError("--image-threads must be 0 (automatic) or more")
    progress = bar.for_count("checking images") if bar else None
    return ImageCache(root=root, threads=threads, progress=progress)


def _clean(args: argparse.Namespace) -> int:
    from dataprep import clean, rulepack

    spec = _input_spec(args.input_format)
    if not args.output and not args.dry_run:
        raise DataprepError("-o/--output is required", fix="name the cleaned file, or --dry-run")
    if args.dry_run:
        args.output = None
    inputs = {str(p.resolve()) for p in map(Path, args.paths) if p.is_file()}
    for target in (args.output, args.rejects):
        if target and str(Path(target).resolve()) in inputs:
            raise DataprepError(
                "output would overwrite an input", path=target, fix="write elsewhere"
            )
    pack = rulepack.load(args.rules, _split(args.select), _split(args.ignore))
    images = _image_cache(args.image_root, 0)  # a bad --image-root fails before writing
    out = clean.open_output(args.output) if args.output else None
    rejects = clean.open_output(args.rejects) if args.rejects else None
    try:
        report = clean.clean(
            args.paths,
            out,
            rejects,
            pack,
            spec=spec,
            array=bool(args.output) and args.output.endswith(".json"),
            images=images,
        )
    finally:
        if out:
            out.close()
        if rejects:
            rejects.close()
    why, fixed = _counts(report.rejected), _counts(report.fixed)
    verb = "would write" if args.dry_run else "wrote"
    print(
        f"read {report.read:,} records: {verb} {report.written:,}, rejected "
        f"{report.rejected_records:,}" + (f" ({why})" if why else "")
    )
    if fixed:
        print(f"fixed: {fixed}")
    return EXIT_OK


def _counts(counter) -> str:
    """`a 3, b 1`: by count, then name, so the output is stable."""
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {n:,}" for name, n in ordered)


def _explain(name: str) -> int:
    from dataprep import checks

    module = checks.get(name)
    if module is None:
        raise DataprepError(f"no rule {name!r}", fix="`dataprep rules` lists them")
    print(f"{module.CODE} {module.NAME}\n")
    print(textwrap.dedent(module.__doc__ or "").strip())
    return EXIT_OK


def _rules(args: argparse.Namespace) -> int:
    from dataprep import checks, rulepack

    if args.name:
        return _explain(args.name)
    pack = rulepack.load(args.rules)
    width = max(len(m.NAME) for m in checks.ALL)
    for module in checks.ALL:
        setting = pack.settings[module.NAME]
        severity = setting.severity if setting.enabled else "off"
        summary = (module.__doc__ or "").strip().splitlines()[0]
        print(f"{module.CODE}  {module.NAME:<{width}}  {severity:<7}  {summary}")
    print(
        "\nPreference data: DPO, ORPO and SimPO all train on chosen/rejected pairs, so the PR "
        "pair rules apply to each; KTO records (a boolean label) get invalid-kto-label and "
        "kto-imbalance."
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
