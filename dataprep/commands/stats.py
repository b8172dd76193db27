"""`dataprep stats`: token lengths and the cutoff_len they call for."""

from __future__ import annotations

import argparse
import sys
import textwrap

from dataprep.commands import EXIT_FAILED, EXIT_OK, flags

DESCRIPTION = textwrap.dedent(
    """\
    Render every record with the model's chat template, tokenize it as training will,
    and print p50/p90/p95/p99/max of full and label (answer) lengths with the smallest
    cutoff_len (a multiple of --round) that keeps --coverage of the records whole.
    Without --tokenizer, the bundled Qwen2.5 tokenizer gives an estimate."""
)
EPILOG = textwrap.dedent(
    """\
    Examples:
      dataprep stats data.jsonl
      dataprep stats data.jsonl --tokenizer Qwen/Qwen2.5-7B-Instruct --cutoff-len 2048
      dataprep stats llava.json --tokenizer ./llava-1.5-7b-hf --format json"""
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders")
    parser.add_argument("--format", default="text", choices=("text", "json"), help="output")
    flags.input_format(parser)
    flags.lengths(parser)
    flags.steps(parser)


def run(args: argparse.Namespace) -> int:
    import orjson

    from dataprep.lengths import merge, summary
    from dataprep.measure import measure

    spec = flags.input_spec(args.input_format)
    setup = flags.length_setup(args)
    measured = measure(args.paths, setup, spec)
    for error in measured.errors:
        print(f"dataprep: error: {error}", file=sys.stderr)
    if measured.errors and not measured.lengths:
        return EXIT_FAILED
    lengths = merge(list(measured.lengths.values()))
    result = {
        **summary(lengths, setup.coverage, setup.round),
        "tokenizer": setup.tokenizer.name,
        "estimate": setup.tokenizer.estimate,
        "template": setup.template.name,
        "files": list(measured.lengths),
        "image_tokens": setup.image_tokens,
    }
    if setup.cutoff_len:
        result["cutoff_len"] = setup.cutoff_len
        result["losses"] = lengths.losses(setup.cutoff_len)
    batching = flags.batching(args)
    if batching is not None:
        from dataprep.steps import steps

        result["steps"] = steps(result["records"], batching)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        sys.stdout.write(_stats_table(result))
    return EXIT_FAILED if measured.errors else EXIT_OK


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
