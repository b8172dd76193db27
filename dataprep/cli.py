"""`dataprep`: a thin command line over the library. Errors print once, never a traceback.

Each command is a module of `dataprep.commands`; only the one being run is imported (with the
flags of its own parser), so a cached `dataprep build` starts in a few dozen milliseconds."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence

from dataprep import __version__
from dataprep.commands import COMMANDS, EXIT_FAILED, EXIT_OK
from dataprep.errors import ConfigError, DataprepError


def main(argv: Sequence[str] | None = None) -> int:
    # Records come and go by the million and hold no cycles: the default threshold (700
    # allocations) ran ~800 collections, the full ones walking every imported object, per
    # 50,000 records (~3% of lint's time).
    gc.set_threshold(50_000, 20, 20)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = _parser(command)
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


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the flags of `command` only (of every command when None)."""
    parser = argparse.ArgumentParser(
        prog="dataprep",
        description="Find what is wrong with fine-tuning data before a GPU hour is spent.",
        epilog="Example:\n  dataprep lint data.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if command not in (None, name):
            sub.add_parser(name, help=summary)
            continue
        module = importlib.import_module(f"dataprep.commands.{name}")
        one = sub.add_parser(
            name,
            help=summary,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.arguments(one)
        one.set_defaults(run=module.run)
    return parser


if __name__ == "__main__":
    sys.exit(main())
