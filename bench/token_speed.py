"""Token-length speed: render + tokenize + label mapping, next to the raw encoder in one run.

20,000 mixed records (LLaMA-Factory's demo files from ../shared cycled: alpaca en/zh,
sharegpt tool calls, DPO pairs, KTO, multimodal) measured with the Qwen2.5 tokenizer (the
bundled one, identical to ../shared/tokenizers/qwen2.5) and its chat template. Prints:

- the floor: `tokenizers`' `encode_batch_fast` on the very texts the meter renders (no
  offsets, no rendering), tokens/s and records/s;
- end to end: dataprep's Meter (render each conversation once, `encode_batch` with offsets,
  labels from character offsets), and its ratio to the floor (target >= 0.60);
- where the time goes: rendering alone.

Run: python bench/token_speed.py [--records 20000] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep import readers, templates, tokenizer  # noqa: E402
from dataprep.formats import normalise  # noqa: E402
from dataprep.lengths import Meter, rendered  # noqa: E402


def samples(shared: Path, count: int) -> list:
    folder = shared / "corpus" / "llamafactory"
    found = []
    for path in sorted(folder.glob("*.json*")):
        if path.name == "dataset_info.json":
            continue
        for source in readers.expand([str(path)]):
            for record in readers.read_source(source):
                sample, _ = normalise(record, None)
                if sample is not None and sample.kind != "pretrain":
                    found.append((record, sample))
    return list(itertools.islice(itertools.cycle(found), count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    model = tokenizer.load(None)
    template = templates.resolve("auto", model.chat_template, model.special)
    batch = samples(args.shared, args.records)
    texts = [template.render(m, tools=t) for _, s in batch for m, t in rendered(s)]
    print(f"{len(batch):,} records ({len(texts):,} sequences), {os.cpu_count()} cores")

    def floor() -> tuple[float, int]:
        start = time.perf_counter()
        encodings = model.backend.encode_batch_fast(texts, add_special_tokens=False)
        return time.perf_counter() - start, sum(len(e) for e in encodings)

    def meter() -> float:
        start = time.perf_counter()
        m = Meter(model, template)
        for record, sample in batch:
            m.add(record.line, record.index, sample)
        m.finish()
        return time.perf_counter() - start

    def render() -> float:
        start = time.perf_counter()
        for _, sample in batch:
            for messages, tools in rendered(sample):
                template.render(messages, tools=tools)
        return time.perf_counter() - start

    raw, tokens = min(floor() for _ in range(3))
    full = min(meter() for _ in range(3))
    rendering = min(render() for _ in range(3))
    n = len(batch)
    print(f"encode_batch_fast (floor): {tokens / raw:>12,.0f} tokens/s {n / raw:>9,.0f} records/s")
    print(
        f"dataprep lengths         : {tokens / full:>12,.0f} tokens/s {n / full:>9,.0f} records/s"
    )
    print(f"ratio to the floor       : {raw / full:>12.2f}   (target >= 0.60)")
    share = rendering / full
    print(f"rendering alone          : {rendering / n * 1e6:>12.1f} us/record ({share:.0%} of all)")


if __name__ == "__main__":
    main()
