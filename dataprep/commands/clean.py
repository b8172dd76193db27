"""`dataprep clean`: fix what is safe to fix, reject the rest with reasons."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from dataprep.commands import EXIT_OK, flags
from dataprep.errors import DataprepError

DESCRIPTION = textwrap.dedent(
    """\
    Apply the safe fixers (strip HTML to text outside code, unescape entities, drop
    script/style, normalise whitespace and Unicode, remove template tokens, empty
    placeholder inputs, drop exact duplicates), then reject every record that still has
    an error finding, under its rule names. The output keeps each record's format and
    field order; untouched records are copied byte for byte. read == written + rejected."""
)
EPILOG = "Examples:\n  dataprep clean data.jsonl -o clean.jsonl --rejects rejects.jsonl\n"
"  dataprep clean data.jsonl --dry-run"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="cleaned data (.jsonl, or .json for an array); required unless --dry-run",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing: count what would be fixed and rejected, by fixer and rule",
    )
    parser.add_argument(
        "--rejects", metavar="FILE", help="one JSON line per rejected record, with its rules"
    )
    flags.input_format(parser, detected=False)
    parser.add_argument(
        "--image-root",
        metavar="DIR",
        help="folder image paths are relative to (default: the data file's folder)",
    )
    parser.add_argument("--rules", metavar="FILE", help="rule pack deciding what is an error")
    parser.add_argument("--select", metavar="RULES", help="only these rules may reject")
    parser.add_argument("--ignore", metavar="RULES", help="these rules never reject")


def run(args: argparse.Namespace) -> int:
    from dataprep import clean, rulepack

    spec = flags.input_spec(args.input_format)
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
    pack = rulepack.load(args.rules, flags.split(args.select), flags.split(args.ignore))
    images = flags.image_cache(args.image_root, 0)  # a bad --image-root fails before writing
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
    why, fixed = flags.counts(report.rejected), flags.counts(report.fixed)
    verb = "would write" if args.dry_run else "wrote"
    print(
        f"read {report.read:,} records: {verb} {report.written:,}, rejected "
        f"{report.rejected_records:,}" + (f" ({why})" if why else "")
    )
    if fixed:
        print(f"fixed: {fixed}")
    return EXIT_OK
