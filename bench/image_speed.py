"""Image checking speed: 10,000 records referencing 2,000 small JPEGs.

Prints images/s for header-only and full-decode checking, with one thread and with the
default pool (one per core, at least 4), and the speed-up from threads, all in one run. The
images (256x256 noise JPEGs, ~50 KB each) are made once in bench/_data/images/ and reused;
each timing runs on a fresh ImageCache, so every file is really opened. `lint` is timed end
to end too (records read, references collected, images checked, findings written).

Run: python bench/image_speed.py [--records 10000] [--images 2000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.images import ImageCache  # noqa: E402

DATA = ROOT / "bench" / "_data"


def make(records: int, images: int) -> Path:
    from PIL import Image

    folder = DATA / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(images):
        path = folder / f"{i:05d}.jpg"
        if not path.exists():
            buf = io.BytesIO()
            Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3)).save(buf, "JPEG")
            path.write_bytes(buf.getvalue())
    data = DATA / f"mm_{records}_{images}.jsonl"
    if not data.exists():
        with open(data, "w") as f:
            for r in range(records):
                record = {
                    "messages": [
                        {"role": "user", "content": "<image>What is in the picture?"},
                        {"role": "assistant", "content": "Noise, in many colours."},
                    ],
                    "images": [f"images/{r % images:05d}.jpg"],
                }
                f.write(json.dumps(record) + "\n")
    return data


def rate(data: Path, decode: bool, threads: int) -> float:
    with open(data) as f:
        refs = [json.loads(line)["images"][0] for line in f]
    cache = ImageCache(decode=decode, threads=threads)
    start = time.perf_counter()
    results = cache.check(refs, data.parent)
    elapsed = time.perf_counter() - start
    assert all(r.status == "ok" for r in results.values())
    return len(cache.results) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=2_000)
    args = parser.parse_args()
    data = make(args.records, args.images)
    for path in (DATA / "images").iterdir():  # warm the page cache
        path.read_bytes()
    pool = max(4, os.cpu_count() or 1)
    print(f"{args.records:,} records, {args.images:,} JPEGs (256x256), {os.cpu_count()} cores")
    for decode in (False, True):
        mode = "full decode " if decode else "header only "
        one = max(rate(data, decode, 1) for _ in range(3))
        many = max(rate(data, decode, pool) for _ in range(3))
        print(
            f"{mode}: {one:>8,.0f} images/s (1 thread)  {many:>8,.0f} images/s ({pool} threads)"
            f"  speed-up {many / one:.2f}x"
        )
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dataprep", "lint", str(data), "--format", "json"],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    print(f"dataprep lint (full pack, full decode): {time.perf_counter() - start:.2f} s end to end")


if __name__ == "__main__":
    main()
