"""`dataprep lint`: every problem in data files, with file:line, rule and fix."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from dataprep.commands import EXIT_FAILED, EXIT_FINDINGS, EXIT_OK, flags
from dataprep.errors import DataprepError
from dataprep.spec import FORMAT_ALIASES, FORMATS, resolve_format

DESCRIPTION = textwrap.dedent(
    f"""\
    Read JSONL, JSON arrays, .gz, folders or stdin (-) in any supported format
    ({", ".join(FORMATS)}), detected per record, and report every problem found.

    Exit codes: 0 no errors; 1 errors found (or warnings with --strict);
    2 dataprep could not run (bad arguments, unreadable file, bad rule pack)."""
)
EPILOG = textwrap.dedent(
    """\
    Examples:
      dataprep lint data.jsonl
      dataprep lint data/ --format json > findings.jsonl
      dataprep lint --dataset-info data/dataset_info.json --dataset alpaca_en_demo
      cat data.jsonl | dataprep lint - --input-format sharegpt --select role-order"""
)


def arguments(parser: argparse.ArgumentParser) -> None:
    _input_arguments(parser.add_argument_group("input"))
    _rules_arguments(parser.add_argument_group("rules"))
    _measure_arguments(parser.add_argument_group("measurements"))
    flags.lengths(parser)
    flags.executor(parser)
    _output_arguments(parser.add_argument_group("output"))


def _input_arguments(group) -> None:
    """What to read."""
    group.add_argument(
        "paths", nargs="*", metavar="PATH", help="data files or folders; - for stdin"
    )
    flags.input_format(group)
    group.add_argument(
        "--dataset-info",
        metavar="FILE",
        help="lint the datasets of a LLaMA-Factory dataset_info.json",
    )
    group.add_argument(
        "--dataset",
        action="append",
        metavar="NAME",
        help="with --dataset-info: datasets to lint (repeatable, comma-separated; default all)",
    )
    group.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="processes for JSONL files of 8 MB or more (default: this machine's cores)",
    )
    group.add_argument(
        "--image-root",
        metavar="DIR",
        help="folder image paths are relative to; they must stay inside it (default: the data "
        "file's folder, or the dataset_info.json folder)",
    )
    group.add_argument(
        "--image-threads",
        type=int,
        default=0,
        metavar="N",
        help="threads opening images (default: one per core, at least 4)",
    )


def _rules_arguments(group) -> None:
    """Which checks run, and what fails the run."""
    group.add_argument(
        "--rules", metavar="FILE", help="rule pack YAML (default: rules/default.yaml)"
    )
    group.add_argument(
        "--select", metavar="RULES", help="only these rules (names or codes, comma-separated)"
    )
    group.add_argument(
        "--ignore", metavar="RULES", help="skip these rules (names or codes, comma-separated)"
    )
    group.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    group.add_argument(
        "--baseline", metavar="FILE", help="report only findings not accepted in this baseline"
    )
    group.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="accept every current finding: write them to FILE (by rule and record hash)",
    )
    group.add_argument(
        "--no-config",
        action="store_true",
        help="ignore .dataprep.yaml / [tool.dataprep] found by walking up from the data",
    )
    group.add_argument("--explain", metavar="RULE", help="print a rule's documentation and exit")


def _measure_arguments(group) -> None:
    """Token lengths, SFT comparison and the HTML report."""
    group.add_argument(
        "--report",
        metavar="FILE",
        help="also write the HTML report (measures token lengths too)",
    )
    group.add_argument(
        "--lengths",
        action="store_true",
        help="measure token lengths (implied by --tokenizer and --cutoff-len)",
    )
    group.add_argument(
        "--sft",
        action="append",
        metavar="FILE",
        help="SFT data to compare DPO chosen answers with (off-policy-chosen); repeatable",
    )


def _output_arguments(group) -> None:
    """How findings are shown."""
    data_formats = ", ".join([*FORMATS, *FORMAT_ALIASES])
    group.add_argument(
        "--format",
        default="text",
        metavar="FORMAT",
        help="output: text (default), json (JSON Lines), github, parsable. A data format name "
        f"({data_formats}) here means --input-format",
    )
    group.add_argument(
        "--max-examples", type=int, default=3, metavar="N", help="examples per rule in text output"
    )
    group.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour in text output"
    )
    group.add_argument("--no-progress", action="store_true", help="never show the progress line")


def run(args: argparse.Namespace) -> int:
    from dataprep import baseline, output
    from dataprep.linter import Summary, lint_paths
    from dataprep.progress import Bar

    if args.explain:
        from dataprep.commands.rules import explain

        return explain(args.explain)
    input_format, out_format = _formats(args.input_format, args.format)
    spec = flags.input_spec(input_format)
    _check_inputs(args, spec)
    pack = _pack(args)
    summary = Summary()
    accepted = baseline.load(args.baseline) if args.baseline else None
    if args.baseline or args.write_baseline:
        summary.hashes = {}
    bar = Bar() if sys.stderr.isatty() and not args.no_progress else None
    stdout = flags.own_stdout(args)
    images = flags.image_cache(args.image_root, args.image_threads, bar)
    measure = args.lengths or args.tokenizer or args.cutoff_len or args.image_tokens
    setup = flags.length_setup(args) if measure or args.report else None
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
        datasets=flags.split(args.dataset),
        jobs=args.jobs,
        progress=bar.for_file if bar else None,
        images=images,
        sft=flags.existing(args.sft, "--sft"),
        lengths=setup,
        observe=recorder.profile if recorder else None,
        ray=flags.ray_settings(args, bar),
    )
    if recorder is not None:
        findings = recorder.tee(findings)
    if args.write_baseline:
        written = baseline.write(args.write_baseline, findings, summary.hashes)
        if bar:
            bar.close()
        _print_errors(summary)
        print(f"wrote {written:,} findings to {args.write_baseline}", file=sys.stderr)
        return EXIT_FAILED if summary.errors else EXIT_OK
    if accepted is not None:
        findings = baseline.new_only(findings, accepted, summary.hashes)
    try:
        tally = output.write(
            findings,
            summary,
            out_format,
            stdout,
            colour=output.use_colour(args.color, stdout),
            examples=args.max_examples,
        )
    finally:
        if bar:
            bar.close()
    if recorder is not None:
        from dataprep import report

        size = report.write(args.report, recorder.dataset(args.paths, summary, images, setup))
        print(f"wrote {args.report} ({size / 1e6:,.1f} MB)", file=sys.stderr)
    _print_errors(summary)
    if summary.errors:
        return EXIT_FAILED
    if tally.severity["error"] or (args.strict and tally.severity["warning"]):
        return EXIT_FINDINGS
    return EXIT_OK


def _formats(input_format: str | None, out_format: str) -> tuple[str | None, str]:
    """The input and output formats: a data format's name given as --format means
    --input-format (with text output)."""
    from dataprep import output

    if out_format in output.OUTPUT_FORMATS:
        return input_format, out_format
    if resolve_format(out_format) is None:
        raise DataprepError(
            f"unknown --format {out_format!r}",
            fix=f"output formats: {', '.join(output.OUTPUT_FORMATS)}; "
            f"data formats: {', '.join(FORMATS)}",
        )
    return out_format, "text"


def _check_inputs(args: argparse.Namespace, spec) -> None:
    """Refuse flags that cannot go together, before anything is read."""
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


def _pack(args: argparse.Namespace):
    """The rule pack: --rules, else the project config found walking up from the data (unless
    --no-config), narrowed by --select/--ignore. A bad pack fails here, before any file is
    read."""
    from dataprep import rulepack
    from dataprep.linter import PackArgs

    select, ignore = flags.split(args.select), flags.split(args.ignore)
    rules = args.rules
    if rules is None and not args.no_config:
        start = args.dataset_info or next((p for p in args.paths if p != "-"), ".")
        found = rulepack.find_project_config(start)
        rules = str(found) if found else None
    pack = PackArgs(rules, tuple(select) if select else None, tuple(ignore) if ignore else None)
    pack.load()
    return pack


def _print_errors(summary) -> None:
    for error in summary.errors:
        print(f"dataprep: error: {error}", file=sys.stderr)
