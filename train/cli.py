"""`train`: the trainer's command line. Until the recipes land it only explains itself."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="train",
        description=(
            "Fine-tune from `dataprep build` shards: LoRA/QLoRA SFT, DPO and LLaVA-style "
            "training, with a memory planner and a doctor for OOM, slow steps and divergence. "
            "The recipes are not part of this release yet; `dataprep lint` is."
        ),
        epilog="Example:\n  dataprep lint data.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
