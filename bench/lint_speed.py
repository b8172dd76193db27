"""Structural lint speed against orjson alone, measured in the same run.

Generates a mixed English/Chinese alpaca JSONL file (200,000 records, about 300 MB, in
bench/_data/, reused when present) and prints:

- records/s of `orjson.loads` over every line (the floor nobody beats in Python),
- records/s of structural lint on one core, in process, and its ratio to orjson (each the
  best of 3 runs over a warm page cache),
- records/s of the full default pack (content, duplicates and styles included) on one core,
  and its ratio to structural-only lint, then with --jobs 1 and 2 on the whole file,
- the floor of any content pass written in Python: microseconds per record for orjson, one
  compiled regex search over every text field, and one whitespace split of the answer (the
  least a word-shingle near-duplicate check needs), next to the per-record budget that the
  0.40 target leaves,
- wall time of `dataprep lint --jobs 2` on the whole file,
- `dataprep lint` start-up time on a one-record file, and whether torch/transformers/datasets
  were imported,
- peak RSS of `dataprep lint` on a file of --rss-mb megabytes (default: the 300 MB file).

Run: python bench/lint_speed.py [--records 200000] [--rss-mb 1024]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from dataprep.readers import DATA_SUFFIXES

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
CORPUS = HERE.parent.parent / "shared" / "corpus"
PROMPT_KEYS = {"instruction", "input", "prompt", "question", "human", "user"}
SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s*")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _strings(obj: object, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """(field or role, text) of every string in a record."""
    if isinstance(obj, str):
        yield key, obj
    elif isinstance(obj, dict):
        role = obj.get("from") or obj.get("role")
        for k, v in obj.items():
            yield from _strings(v, role if k in ("value", "content") and role else k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, key)


def _corpus_records(path: Path) -> Iterator[object]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        if data[:2] != b"\x1f\x8b":  # a Git LFS pointer, not the file
            return
        data = gzip.decompress(data)
    try:
        doc = orjson.loads(data)
        yield from doc if isinstance(doc, list) else [doc]
    except orjson.JSONDecodeError:
        for line in data.splitlines():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                continue


def sentences(root: Path = CORPUS) -> dict[tuple[str, str], list[str]]:
    """The corpus's distinct sentences by (prompt|answer, en|zh), sorted for a stable draw."""
    pools: dict[tuple[str, str], set[str]] = {
        (role, lang): set() for role in ("prompt", "answer") for lang in ("en", "zh")
    }
    for path in sorted(root.rglob("*")):
        if not path.name.endswith(DATA_SUFFIXES) or path.name == "dataset_info.json":
            continue
        for record in _corpus_records(path):
            for key, text in _strings(record):
                role = "prompt" if key in PROMPT_KEYS else "answer"
                for sentence in SENTENCE_END.split(text):
                    sentence = sentence.strip()
                    if 12 <= len(sentence) <= 400:
                        lang = "zh" if len(CJK.findall(sentence)) * 3 > len(sentence) else "en"
                        pools[role, lang].add(sentence)
    return {key: sorted(pool) for key, pool in pools.items()}


def generate(path: Path, records: int, seed: int = 0) -> None:
    """Alpaca records made of real sentences recombined across records, half English, half
    Chinese: as varied as real data (a few hundred synthetic words would make every record a
    near-duplicate candidate)."""
    if not CORPUS.is_dir():
        sys.exit(f"this benchmark draws its sentences from {CORPUS}, which is not here")
    pools = sentences()
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for i in range(records):
            lang = "zh" if i % 2 else "en"
            join = "" if lang == "zh" else " "
            prompts, answers = pools["prompt", lang], pools["answer", lang]
            instruction = join.join(rng.choices(prompts, k=rng.randint(1, 2)))
            inp = join.join(rng.choices(prompts, k=rng.choice((0, 0, 1, 2))))
            output = join.join(rng.choices(answers, k=rng.randint(3, 18 if lang == "en" else 30)))
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


STRUCTURAL_FAMILIES = ("PA", "ST", "LF")


def lint_rate(path: Path, full: bool = False, limit: int | None = None) -> tuple[float, int]:
    from dataprep import checks
    from dataprep.linter import Summary, lint_paths
    from dataprep.rulepack import load

    if limit:  # the full pack is slow enough that a prefix of the file measures it
        sample = path.with_name(f"{path.stem}_head{limit}.jsonl")
        if not sample.exists():
            with open(path, "rb") as src, open(sample, "wb") as dst:
                for i, line in enumerate(src):
                    if i >= limit:
                        break
                    dst.write(line)
        path = sample
    names = [m.NAME for m in checks.ALL if full or m.CODE.startswith(STRUCTURAL_FAMILIES)]
    pack = load(select=names)
    summary = Summary()
    start = time.perf_counter()
    findings = sum(1 for _ in lint_paths([str(path)], pack, summary))
    elapsed = time.perf_counter() - start
    return summary.records / elapsed, findings


def rule_costs(path: Path, limit: int = 20_000) -> None:
    """Microseconds per record of each rule's prefilter and confirm (and of the dataset checks'
    batch observers), over the first `limit` records, one core; the work every rule shares
    (normalising records, building the text columns, the content keys) on rows of its own."""
    from dataprep import readers
    from dataprep.columns import Batch
    from dataprep.engine import Costs, Plan, batches, observe_batch, sample_hits
    from dataprep.formats import normalise
    from dataprep.rulepack import load

    plan = Plan(load())
    source = readers.expand([str(path)])[0]
    records = list(itertools.islice(readers.read_source(source), limit))
    costs = Costs()
    states = [(s, s.module.new_state(None)) for s in plan.dataset_rules
              if hasattr(s.module, "observe_batch")]  # fmt: skip
    shared = {"(normalise)": 0.0, "(batch columns)": 0.0, "(content keys, shared)": 0.0}
    # One batch first, not counted: compiling the rules' regexes and polars' first calls cost
    # more than a batch's work (language-mismatch's prefilter read 88 us/record with them).
    warm = next(batches(iter(records)))
    warm_batch = Batch([normalise(r, None)[0] for r in warm])
    sample_hits(plan, warm_batch)
    observe_batch(plan, [(s, s.module.new_state(None)) for s, _ in states], warm_batch, warm)
    for chunk in batches(iter(records)):
        start = time.perf_counter()
        batch = Batch([normalise(r, None)[0] for r in chunk])
        built = time.perf_counter()
        _ = batch.frame  # built here, so no rule is charged for it
        framed = time.perf_counter()
        _ = batch.content_lanes
        shared["(normalise)"] += built - start
        shared["(batch columns)"] += framed - built
        shared["(content keys, shared)"] += time.perf_counter() - framed
        sample_hits(plan, batch, costs=costs)
        observe_batch(plan, states, batch, chunk, costs)
    n = costs.records
    pre, confirm, ran = costs.prefilter, costs.confirm, costs.candidates
    rows = [(k, pre.get(k, 0.0), confirm.get(k, 0.0), ran.get(k)) for k in {*pre, *confirm}]
    rows += [(name, 0.0, t, None) for name, t in costs.observe.items()]
    rows += [(name, 0.0, t, None) for name, t in shared.items()]
    print(f"per-rule cost, first {n:,} records (us/record; candidates: records the confirm ran on)")
    for name, first, then, candidates in sorted(rows, key=lambda r: -(r[1] + r[2])):
        share = f"{candidates / n:6.1%}" if candidates is not None else "   all"
        us = f"prefilter {first / n * 1e6:6.1f}  confirm {then / n * 1e6:6.1f}"
        print(f"  {name:<28} {us}  {share}")


def floor_us(path: Path, limit: int = 20_000) -> float:
    """Microseconds per record for parse + one regex over each text field + one split."""
    import re

    probe = re.compile(r"<[a-zA-Z/!]|&[#a-zA-Z]|\ufffd|<\||\[INST|As an AI|I'm sorry")
    with open(path, "rb") as f:
        lines = list(itertools.islice(f, limit))
    start = time.perf_counter()
    for line in lines:
        record = orjson.loads(line)
        for value in record.values():
            probe.search(value)
        record["output"].split()
    return (time.perf_counter() - start) / len(lines) * 1e6


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dataprep", *args]


# A small parent runs the command: a child forked from this (large) benchmark process would
# count the memory it inherited before exec in its peak RSS.
_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one command."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=False
    ).stdout.split()
    return float(out[0]), int(out[1]) // 1024


def startup(tmp: Path) -> tuple[float, list[str]]:
    tiny = tmp / "tiny.jsonl"
    tiny.write_text('{"instruction": "hi", "output": "hello"}\n')
    best = min(timed(cli("lint", str(tiny)))[0] for _ in range(5))
    probe = (
        f"import sys; from dataprep.cli import main; main(['lint', {str(tiny)!r}, '--format', "
        "'json']); print('HEAVY=' + ','.join(m for m in ('torch','transformers','datasets') "
        "if m in sys.modules))"
    )
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
    path = DATA / f"alpaca_sentences_{args.records}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.records)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path.name}, {size_mb:,.0f} MB, {args.records:,} records, {os.cpu_count()} cores")

    with open(path, "rb") as f:  # warm the page cache: both sides then read from memory
        while f.read(1 << 24):
            pass
    base = max(orjson_rate(path)[0] for _ in range(3))
    rate, findings = max(lint_rate(path) for _ in range(3))
    full_rate, _ = lint_rate(path, full=True, limit=50_000)
    print(f"orjson.loads only      : {base:>10,.0f} records/s")
    print(f"structural lint, 1 core: {rate:>10,.0f} records/s  ({findings} findings)")
    print(f"ratio lint / orjson    : {rate / base:>10.2f}   (target >= 0.60)")
    print(f"full pack, 1 core      : {full_rate:>10,.0f} records/s  (first 50,000 records)")
    print(f"ratio full / structural: {full_rate / rate:>10.2f}   (target >= 0.40)")
    floor = min(floor_us(path) for _ in range(3))
    print(
        f"Python content floor   : {floor:>10.1f} us/record (parse + 1 regex/field + 1 split); "
        f"the 0.40 target allows {1e6 / (0.4 * rate):.1f} us/record for everything"
    )

    structural = ",".join(
        m.NAME for m in __import__("dataprep.checks").checks.ALL
        if m.CODE.startswith(STRUCTURAL_FAMILIES)
    )  # fmt: skip
    wall1, rss1 = timed(cli("lint", str(path), "--format", "json", "--select", structural))
    wall2, _ = timed(
        cli("lint", str(path), "--format", "json", "--jobs", "2", "--select", structural)
    )
    print(f"structural --jobs 1    : {wall1:>10.2f} s whole file (peak RSS {rss1} MB)")
    print(f"structural --jobs 2    : {wall2:>10.2f} s whole file   (target < 2.5 s)")
    full1, _ = timed(cli("lint", str(path), "--format", "json", "--jobs", "1"))
    full, full_rss = timed(cli("lint", str(path), "--format", "json"))  # default options
    print(f"full pack --jobs 1     : {full1:>10.2f} s whole file")
    print(
        f"full pack, defaults    : {full:>10.2f} s whole file, {args.records / full:,.0f} records/s"
        f" (peak RSS {full_rss} MB; --jobs {os.cpu_count()})"
    )
    print(f"ratio full / orjson    : {args.records / full / base:>10.3f}   (target >= 0.10)")
    rule_costs(path)

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
