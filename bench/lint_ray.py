"""Lint on a local Ray instance against local runs, and the inputs of the README's sizing note.

On the 200,000-record alpaca file of bench/lint_speed.py (real sentences recombined, about
300 MB, in bench/_data/, reused when present), with the full default pack, it prints:

- wall time and records/s of `dataprep lint --jobs 1` (one core: the per-core rate), of
  `--jobs N` (this machine's cores) and of `--executor ray` (a local Ray instance started by
  the command, its start included), and whether the three gave the same findings;
- what a task ships, per record, measured on one 32 MB work unit: its main result (findings,
  the merged states of the unpartitioned checks, stats) and each partitioned check's pieces
  (the shuffle), pickled as the tasks pickle them;
- from those: shuffle volume and reducer memory per billion records, and how many workers
  a 100M-record lint needs to finish in an hour at the measured per-core rate;
- `dataprep build` of the first --build-records records (bundled tokenizer, cutoff 1024,
  shards of 2,000) here and with `--executor ray`: wall time, records/s, and whether every
  Arrow file, rejects.jsonl and the manifest's counts are the same.

Run: python bench/lint_ray.py [--records 200000] [--build-records 20000]
(needs pip install 'llm-dataprep[ray]')
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lint_speed  # the same corpus as the lint benchmark

from dataprep import chunks, cluster, linter, readers
from dataprep.engine import Plan
from dataprep.rulepack import load


def run(path: Path, *flags: str) -> tuple[float, str]:
    """Wall seconds of one `dataprep lint --format json` and a digest of its findings."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "dataprep", "lint", str(path), "--format", "json", *flags],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, 1):
        sys.exit(f"dataprep lint {' '.join(flags)} failed:\n{out.stderr.decode()[-2000:]}")
    return elapsed, hashlib.sha256(out.stdout).hexdigest()[:12]


def shipped(path: Path, parts: int) -> tuple[int, float, dict, dict, dict]:
    """Records in one work unit, and bytes per record, as `dataprep.cluster`'s tasks pickle
    them: of the main result, of each unpartitioned check's state (merged in the driver), of
    each partitioned check's pieces (the shuffle), and of the lookup checks' states (kept in
    the object store where the chunk ran, for the rows candidate pairs need)."""
    plan = Plan(load(), batched=True)
    source = readers.Source(str(path), path, "json")
    ends = chunks.bounds(source, 1)
    ctx = linter.FileContext(str(path), linter.FileStats(str(path)))
    chunk = chunks.lint_range(plan, source, ctx, ends[0], ends[1])
    records = chunk.stats.records
    unpartitioned, pieces, kept = cluster.split_states(chunk.states, parts)
    names = [setting.module.NAME for setting, _ in chunk.states]
    merged = {names[i]: _size(state) / records
              for i, state in enumerate(unpartitioned) if state is not None}  # fmt: skip
    shuffle = {names[i]: sum(_size(piece[i]) for piece in pieces) / records for i in pieces[0]}
    stored = {names[i]: _size(state) / records for i, state in kept.items()}
    main = _size(chunk._replace(states=unpartitioned))
    return records, main / records, merged, shuffle, stored


def _size(value: object) -> int:
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def build(path: Path, records: int) -> None:
    """A build here and on a local Ray instance, timed and compared file by file."""
    import json
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lint_ray_build_"))
    head = folder / "head.jsonl"
    with open(path, "rb") as src, open(head, "wb") as dst:
        for _, line in zip(range(records), src, strict=False):
            dst.write(line)
    print(f"\ndataprep build of {records:,} records (cutoff 1024, shards of 2,000):")
    digests = []
    for label, flags in (("here", ()), ("--executor ray", ("--executor", "ray"))):
        out = folder / label.strip("-").replace(" ", "_")
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "dataprep", "build", str(head), "--out", str(out),
             "--cutoff-len", "1024", "--shard-size", "2000", *flags],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"dataprep build {' '.join(flags)} failed:\n{done.stderr[-2000:]}")
        digest = hashlib.sha256()
        for shard in sorted(out.rglob("*.arrow")):
            digest.update(shard.read_bytes())
        digest.update((out / "rejects.jsonl").read_bytes())
        counts = json.loads((out / "manifest.json").read_text())["counts"]
        digest.update(json.dumps(counts, sort_keys=True).encode())
        digests.append(digest.hexdigest()[:12])
        print(f"  {label:<34} {elapsed:6.1f} s  {records / elapsed:>9,.0f} records/s  "
              f"{digests[-1]}")  # fmt: skip
    print(f"  same shards, rejects and counts: {len(set(digests)) == 1}")
    shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--build-records", type=int, default=20_000)
    args = parser.parse_args()
    path = lint_speed.DATA / f"alpaca_{args.records}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        lint_speed.generate(path, args.records)
    size = path.stat().st_size
    cores = os.cpu_count() or 1
    print(f"{args.records:,} records, {size / 1e6:,.0f} MB, {cores} cores, full default pack")
    for _ in range(2):  # warm the page cache and the imports' bytecode
        subprocess.run([sys.executable, "-m", "dataprep", "lint", str(path), "--select",
                        "invalid-json"], capture_output=True, check=False)  # fmt: skip
    runs = {
        "--jobs 1 (one core)": ("--jobs", "1"),
        f"--jobs {cores} (local)": ("--jobs", str(cores)),
        "--executor ray (local instance)": ("--executor", "ray"),
    }
    digests = set()
    rates = {}
    for label, flags in runs.items():
        elapsed, digest = run(path, *flags)
        digests.add(digest)
        rates[label] = args.records / elapsed
        print(f"  {label:<34} {elapsed:6.1f} s  {rates[label]:>9,.0f} records/s  {digest}")
    print(f"  same findings in all three runs: {len(digests) == 1}")

    parts = max(2, cores)
    records, main_bytes, merged, shuffle, stored = shipped(path, parts)
    wide = shipped(path, 64)[3]
    print(f"\nwhat a task ships, per record ({records:,} records in one 32 MB unit, {parts} "
          "partitions; with 64 in brackets):")  # fmt: skip
    print(f"  main result (findings, unpartitioned states, stats): {main_bytes:,.0f} B, of which")
    for name, per in sorted(merged.items(), key=lambda kv: -kv[1])[:4]:
        print(f"    {name} state (merged in the driver): {per:,.1f} B")
    for name, per in shuffle.items():
        print(f"  {name} pieces (shuffled to reducers): {per:,.0f} B ({wide[name]:,.0f} B)")
    for name, per in stored.items():
        print(f"  {name} state kept in the object store for lookups: {per:,.0f} B")
    total = sum(wide.values())  # a cluster runs many partitions: size with 64
    per_core = rates["--jobs 1 (one core)"]
    print("\nsizing:")
    print(f"  shuffle per billion records, 64 partitions: {total * 1e9 / 1e12:,.2f} TB "
          f"(near-duplicate {wide.get('near-duplicate', 0) * 1e9 / 1e12:,.2f} TB)")  # fmt: skip
    kept = sum(merged.values())
    print(f"  driver per billion records: {main_bytes * 1e9 / 1e12:,.2f} TB streamed through, "
          f"{kept * 1e9 / 1e9:,.0f} GB of merged state held")  # fmt: skip
    print(f"  reducer memory with R partitions: {total * 1e9 / 1e9:,.0f} GB / R per billion")
    kept_store = sum(stored.values())
    print(f"  object store, spread over the nodes, per billion: {kept_store * 1e9 / 1e9:,.0f} GB")
    print(f"  per-core rate (--jobs 1, start-up included): {per_core:,.0f} records/s")
    workers = math.ceil(100e6 / (per_core * 3600))
    print(f"  cores for 100M records in one hour at that rate: {workers:,.0f}")
    if args.build_records:
        build(path, args.build_records)


if __name__ == "__main__":
    main()
