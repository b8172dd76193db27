"""What the HTML report adds to a lint run, and how big it gets: 200,000 records.

Uses bench/lint_speed.py's mixed English/Chinese alpaca file (generated once into
bench/_data/). Times, in one process and one run:

- lint: the full default pack with token lengths measured (what `lint --lengths` does);
- lint + report: the same pass with the profile watching every record, then the report
  rendered and written (what `lint --report` and `dataprep report` do);

and prints the overhead of the report (target < 20%) and the report's size (target < 10 MB).

Run: python bench/report_speed.py [--records 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lint_speed import DATA, generate  # noqa: E402

from dataprep import report, templates, tokenizer  # noqa: E402
from dataprep.linter import LengthSetup, PackArgs, Summary, lint_paths  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    path = DATA / f"alpaca_mixed_{args.records}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.records)
    model = tokenizer.load(None)
    setup = LengthSetup(model, templates.resolve("auto", model.chat_template, model.special))

    start = time.perf_counter()
    summary = Summary()
    findings = sum(1 for _ in lint_paths([str(path)], PackArgs(), summary, lengths=setup))
    lint = time.perf_counter() - start

    start = time.perf_counter()
    data = report.collect([str(path)], PackArgs(), setup=setup)
    collected = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        size = report.write(str(Path(tmp) / "report.html"), data)
        rendered = time.perf_counter() - start
    both = collected + rendered
    print(f"{summary.records:,} records, {findings:,} findings")
    print(f"lint (full pack + lengths): {lint:>8.1f} s")
    parts = f"pass {collected:.1f} s, render {rendered:.2f} s"
    print(f"lint + report             : {both:>8.1f} s ({parts})")
    print(f"report overhead           : {both / lint - 1:>8.1%}   (target < 20%)")
    print(f"report size               : {size / 1e6:>8.2f} MB (target < 10 MB)")


if __name__ == "__main__":
    main()
