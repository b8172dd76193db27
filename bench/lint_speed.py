"""Structural lint speed against orjson alone, measured in the same run.

Generates a mixed English/Chinese alpaca JSONL file (200,000 records, about 300 MB, in
bench/_data/, reused when present) and prints:

- records/s of `orjson.loads` over every line (the floor nobody beats in Python),
- records/s of structural lint on one core, in process, and its ratio to orjson,
- wall time of `dataprep lint --jobs 2` on the whole file,
- `dataprep lint` start-up time on a one-record file, and whether torch/transformers/datasets
  were imported,
- peak RSS of `dataprep lint` on a file of --rss-mb megabytes (default: the 300 MB file).

Run: python bench/lint_speed.py [--records 200000] [--rss-mb 1024]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
EN_WORDS = [
    "the",
    "model",
    "data",
    "training",
    "answer",
    "question",
    "learning",
    "language",
    "token",
    "batch",
    "memory",
    "gradient",
    "loss",
    "value",
    "system",
    "user",
    "assistant",
    "format",
    "record",
    "quality",
    "clean",
    "report",
    "cutoff",
    "length",
    "template",
    "chat",
    "fine",
    "tune",
    "layer",
    "weight",
    "optimizer",
    "schedule",
    "warmup",
    "epoch",
    "step",
    "sample",
]
ZH_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def generate(path: Path, records: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for i in range(records):
            if i % 2:
                instruction = "".join(rng.choices(ZH_CHARS, k=rng.randint(10, 60)))
                inp = "".join(rng.choices(ZH_CHARS, k=rng.randint(0, 80)))
                output = "".join(rng.choices(ZH_CHARS, k=rng.randint(150, 700)))
            else:
                instruction = " ".join(rng.choices(EN_WORDS, k=rng.randint(5, 30))) + "?"
                inp = " ".join(rng.choices(EN_WORDS, k=rng.randint(0, 40)))
                output = " ".join(rng.choices(EN_WORDS, k=rng.randint(100, 420))) + "."
            record = {"instruction": instruction, "input": inp, "output": output}
            f.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    tmp.rename(path)


def orjson_rate(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            orjson.loads(line)
            n += 1
    return n / (time.perf_counter() - start), n


def lint_rate(path: Path) -> tuple[float, int]:
    from dataprep.linter import Summary, lint_paths
    from dataprep.rulepack import load

    pack = load()
    summary = Summary()
    start = time.perf_counter()
    findings = sum(1 for _ in lint_paths([str(path)], pack, summary))
    elapsed = time.perf_counter() - start
    return summary.records / elapsed, findings


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dataprep", *args]


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(after, before) // 1024


def startup(tmp: Path) -> tuple[float, list[str]]:
    tiny = tmp / "tiny.jsonl"
    tiny.write_text('{"instruction": "hi", "output": "hello"}\n')
    best = min(timed(cli("lint", str(tiny)))[0] for _ in range(5))
    probe = (
        "import sys; from dataprep.cli import main; main(['lint', %r, '--format', 'json']); "
        "print('HEAVY=' + ','.join(m for m in ('torch','transformers','datasets') "
        "if m in sys.modules))"
    ) % str(tiny)
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    ).stdout
    marker = [line for line in out.splitlines() if line.startswith("HEAVY=")]
    heavy = [m for m in marker[-1][6:].split(",") if m] if marker else ["(probe failed)"]
    return best, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rss-mb", type=int, default=0, help="also measure RSS on a file this big")
    args = parser.parse_args()
    path = DATA / f"alpaca_mixed_{args.records}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.records)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path.name}, {size_mb:,.0f} MB, {args.records:,} records, {os.cpu_count()} cores")

    base, n = orjson_rate(path)
    rate, findings = lint_rate(path)
    print(f"orjson.loads only      : {base:>10,.0f} records/s")
    print(f"structural lint, 1 core: {rate:>10,.0f} records/s  ({findings} findings)")
    print(f"ratio lint / orjson    : {rate / base:>10.2f}   (target >= 0.60)")

    wall1, rss1 = timed(cli("lint", str(path), "--format", "json"))
    wall2, _ = timed(cli("lint", str(path), "--format", "json", "--jobs", "2"))
    print(f"dataprep lint --jobs 1 : {wall1:>10.2f} s whole file (peak RSS {rss1} MB)")
    print(f"dataprep lint --jobs 2 : {wall2:>10.2f} s whole file   (target < 2.5 s)")

    best, heavy = startup(DATA)
    print(f"start-up (1 record)    : {best:>10.3f} s   (target < 0.3 s)")
    print(f"heavy imports          : {', '.join(heavy) or 'none'}")

    if args.rss_mb:
        big = DATA / f"big_{args.rss_mb}mb.jsonl"
        if not big.exists():
            print(f"generating {big.name} ...", flush=True)
            reps = max(1, int(args.rss_mb * 1e6 // path.stat().st_size) + 1)
            with open(big, "wb") as out:
                for _ in range(reps):
                    with open(path, "rb") as src:
                        while chunk := src.read(1 << 24):
                            out.write(chunk)
        wall, rss = timed(cli("lint", str(big), "--format", "json"))
        big_mb = big.stat().st_size / 1e6
        print(f"RSS on {big_mb:,.0f} MB file    : {rss:>10} MB peak ({wall:.1f} s)  (target < 300)")


if __name__ == "__main__":
    main()
