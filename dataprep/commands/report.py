"""`dataprep report`: a self-contained HTML data-quality report."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from dataprep.commands import EXIT_FAILED, EXIT_OK, flags
from dataprep.errors import DataprepError

DESCRIPTION = textwrap.dedent(
    """\
    Lint the data, measure token lengths and profile every record, then write one HTML
    file (inline CSS, JavaScript and charts; nothing fetched from a network) to open
    before spending GPU hours. With --against, a second dataset (an eval set) is shown
    side by side, with the train/eval overlap."""
)
EPILOG = textwrap.dedent(
    """\
    Examples:
      dataprep report data.jsonl -o report.html
      dataprep report train.jsonl --against eval.jsonl -o report.html
      dataprep report llava.json --image-root images/ --tokenizer ./llava-hf -o r.html"""
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    parser.add_argument(
        "--against", action="append", metavar="PATH", help="an eval set to compare with"
    )
    flags.input_format(parser)
    parser.add_argument("--rules", metavar="FILE", help="rule pack YAML")
    parser.add_argument("--select", metavar="RULES", help="only these rules")
    parser.add_argument("--ignore", metavar="RULES", help="skip these rules")
    parser.add_argument("--image-root", metavar="DIR", help="folder image paths are relative to")
    flags.lengths(parser)
    flags.executor(parser)


def run(args: argparse.Namespace) -> int:
    from dataprep import report
    from dataprep.linter import PackArgs

    spec = flags.input_spec(args.input_format)
    select, ignore = flags.split(args.select), flags.split(args.ignore)
    pack = PackArgs(
        args.rules, tuple(select) if select else None, tuple(ignore) if ignore else None
    )
    pack.load()  # a bad pack fails before any file is read
    setup = flags.length_setup(args)
    if Path(args.output).is_dir():
        raise DataprepError(f"-o {args.output!r} is a folder", fix="name the HTML file to write")
    ray = flags.ray_settings(args, None)
    other = None
    if args.against:
        images = flags.image_cache(args.image_root, 0)
        other = report.collect(args.against, pack, spec=spec, setup=setup, images=images,
                               keep_ngrams=True, ray=ray)  # fmt: skip
    images = flags.image_cache(args.image_root, 0)
    data = report.collect(
        args.paths, pack, spec=spec, setup=setup, images=images,
        against=other.profile if other else None, ray=ray,
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
