"""Precision of near-duplicate on real datasets: how many reported pairs really are near copies.

For every data file of ../shared/corpus, lints with near-duplicate alone and, for each pair it
reports, computes the exact Jaccard similarity of the two records' 5-gram sets three ways:
on the windows the rule hashes (the MinHash estimate's own target), on the whole records'
characters, and on the whole records' words (CJK characters count as words). A pair is a true
near-duplicate when its whole-record similarity reaches the rule's threshold (0.75). Beside it,
the recall on bench/quality.py's injected near-copies.

`--windows 120,240 500,1000` repeats both for other window sizes (prompt, answer characters
hashed; the rule's own first): the measurement behind the window the rule uses.

Run: python bench/near_duplicate_precision.py [--shared ../shared] [--windows P,A ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dataprep import readers  # noqa: E402
from dataprep.checks.consistency import near_duplicate  # noqa: E402
from dataprep.formats import normalise  # noqa: E402
from dataprep.linter import Summary, lint_paths  # noqa: E402
from dataprep.rulepack import load  # noqa: E402
from dataprep.sample import answers, prompts  # noqa: E402

WORD = re.compile(r"[\u4e00-\u9fff]|\w+")
THRESHOLD = near_duplicate.Options().threshold


def grams(items: list[str] | str, n: int = 5) -> set:
    return {tuple(items[i : i + n]) for i in range(max(1, len(items) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def whole(sample) -> str:
    parts = [t.content or "" for t in prompts(sample)] + [t.content or "" for t in answers(sample)]
    return " ".join(" ".join(parts).lower().split())


def recall(shared: Path) -> tuple[int, int]:
    """(found, injected) near-copies of bench/quality.py's labelled set."""
    import json
    import tempfile

    sys.path.insert(0, str(HERE))
    import quality

    records, labels = quality.build(shared, 40, 0)
    wanted = {i for i, rule in labels.items() if rule == "near-duplicate"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labelled.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        pack = load(select=["near-duplicate"])
        found = {f.record for f in lint_paths([str(path)], pack, Summary())}
    return len(wanted & found), len(wanted)


def _window(text: str) -> tuple[int, int]:
    try:
        prompt_chars, answer_chars = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give PROMPT,ANSWER characters, e.g. 500,1000"
        ) from None
    return prompt_chars, answer_chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(HERE.parent.parent / "shared"))
    parser.add_argument("--windows", nargs="*", default=[], type=_window, help="more P,A sizes")
    args = parser.parse_args()
    own = (near_duplicate.PROMPT_CHARS, near_duplicate.ANSWER_CHARS)
    windows = [own, *args.windows]
    for i, (prompt_chars, answer_chars) in enumerate(windows):
        near_duplicate.PROMPT_CHARS, near_duplicate.ANSWER_CHARS = prompt_chars, answer_chars
        print(f"\nwindows: first {prompt_chars} prompt and {answer_chars} answer characters")
        precision(Path(args.shared), table=i == 0)
        hit, injected = recall(Path(args.shared))
        print(f"recall on bench/quality.py's near-copies: {hit}/{injected}")
    near_duplicate.PROMPT_CHARS, near_duplicate.ANSWER_CHARS = own


def precision(shared: Path, table: bool) -> None:
    corpus = shared / "corpus"
    pack = load(select=["near-duplicate"])
    total = window_true = whole_true = word_true = 0
    if table:
        print(f"{'file':<64} pairs  window  chars  words")
    for path in sorted(corpus.rglob("*")):
        if not path.name.endswith(readers.DATA_SUFFIXES) or path.name == "dataset_info.json":
            continue
        try:
            findings = list(lint_paths([str(path)], pack, Summary()))
            samples = {
                r.line: normalise(r, None)[0]
                for r in readers.read_source(readers.expand([str(path)])[0])
                if r.value is not readers.UNPARSED
            }
        except Exception:
            continue
        counts = [0, 0, 0, 0]
        for f in findings:
            if f.line is None:
                continue
            first = int(re.search(r"line (\d+)", f.message).group(1))
            a, b = samples.get(f.line), samples.get(first)
            if a is None or b is None:
                continue
            counts[0] += 1
            wa, wb = near_duplicate._text(a), near_duplicate._text(b)
            counts[1] += jaccard(grams(wa), grams(wb)) >= THRESHOLD
            ta, tb = whole(a), whole(b)
            counts[2] += jaccard(grams(ta), grams(tb)) >= THRESHOLD
            counts[3] += jaccard(grams(WORD.findall(ta)), grams(WORD.findall(tb))) >= THRESHOLD
        if counts[0] and table:
            name = str(path.relative_to(corpus))
            print(f"{name:<64} {counts[0]:>5}  {counts[1]:>6}  {counts[2]:>5}  {counts[3]:>5}")
        total += counts[0]
        window_true += counts[1]
        whole_true += counts[2]
        word_true += counts[3]
    if total:
        print(
            f"\n{total} pairs reported; exact Jaccard >= {THRESHOLD}: windows {window_true} "
            f"({window_true / total:.0%}), whole records by characters {whole_true} "
            f"({whole_true / total:.0%}), by words {word_true} ({word_true / total:.0%})"
        )


if __name__ == "__main__":
    main()
