r"""Chosen answers longer than rejected ones in most pairs of a dataset (dataset-level).

Why it hurts training:
    If chosen is the longer answer in, say, 85% of the pairs, length alone predicts the label
    and DPO learns "write more": the well-known length exploitation of preference training.
    The finding also gives the distribution of chosen/rejected length ratios (p10, median,
    p90), which the report shows.

Bad:
    {"instruction": "Name a fruit.", "input": "", "chosen": "An apple, crisp and sweet.", "rejected": "Pear."}
    {"instruction": "Name a colour.", "input": "", "chosen": "Blue, the colour of the sky.", "rejected": "Red."}
    {"instruction": "Name a planet.", "input": "", "chosen": "Mars, the red planet.", "rejected": "Venus."}
    {"instruction": "Name a river.", "input": "", "chosen": "The Nile, in Africa.", "rejected": "Rhine."}
    {"instruction": "Name a metal.", "input": "", "chosen": "Copper, which conducts well.", "rejected": "Tin."}
    {"instruction": "Name a bird.", "input": "", "chosen": "The robin, a songbird.", "rejected": "Crow."}
    {"instruction": "Name a tree.", "input": "", "chosen": "The oak, which lives for centuries.", "rejected": "Fir."}
    {"instruction": "Name a sea.", "input": "", "chosen": "The Baltic Sea, in northern Europe.", "rejected": "Red Sea."}

Good:
    {"instruction": "Name a fruit.", "input": "", "chosen": "An apple, crisp and sweet.", "rejected": "Pear."}
    {"instruction": "Name a colour.", "input": "", "chosen": "Blue.", "rejected": "Blue, or maybe red, hard to say."}
    {"instruction": "Name a planet.", "input": "", "chosen": "Mars, the red planet.", "rejected": "Venus."}
    {"instruction": "Name a river.", "input": "", "chosen": "The Nile.", "rejected": "The Amazon, I think, or not."}
    {"instruction": "Name a metal.", "input": "", "chosen": "Copper, which conducts well.", "rejected": "Tin."}
    {"instruction": "Name a bird.", "input": "", "chosen": "Robin.", "rejected": "Birds are animals with wings."}
    {"instruction": "Name a tree.", "input": "", "chosen": "The oak, which lives for centuries.", "rejected": "Fir."}
    {"instruction": "Name a sea.", "input": "", "chosen": "Red Sea.", "rejected": "The sea is large and salty."}

Options:
    max_share: report when chosen is longer in more than this share of the pairs whose lengths differ.
    min_pairs: report only datasets with at least this many pairs.
    max_p: and only when chance is an unlikely explanation (one-sided binomial test against
        a fair coin), so a handful of pairs is judged by evidence, not by share alone.

Fix:
    Rebalance: add pairs where the shorter answer wins, regenerate long chosen answers with a
    length budget, or use a length-normalised objective (SimPO, or DPO with a length penalty).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.preference import pair
from dataprep.findings import Hit, Note, Where

CODE = "PR05"
NAME = "length-bias"
FORMATS = ("*",)
KINDS = ("dpo",)
OBSERVES_PLAIN = False  # plain alpaca SFT records are never pairs: the fast path stays open


@dataclass(frozen=True)
class Options:
    max_share: float = 0.75
    min_pairs: int = 8
    max_p: float = 0.01


def new_state(ctx) -> list:
    return []  # (chosen characters, rejected characters) per pair


def observe(state: list, record, sample) -> None:
    if sample is not None and sample.kind == "dpo":
        found = pair(sample)
        if found is not None:
            state.append((len(found[0]), len(found[1])))


def merge(a: list, b: list, offset: tuple[int, int]) -> list:
    a.extend(b)
    return a


def ratios(lengths: list[tuple[int, int]]) -> dict:
    """Chosen/rejected length statistics of a dataset (for the finding and the report)."""
    values = sorted(c / r for c, r in lengths)
    differ = [(c, r) for c, r in lengths if c != r]
    longer = sum(c > r for c, r in differ)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] if values else 0.0

    return {
        "pairs": len(lengths),
        "chosen_longer": longer,
        "chosen_longer_share": longer / len(differ) if differ else 0.0,
        "ratio_p10": pct(0.10),
        "ratio_p50": pct(0.50),
        "ratio_p90": pct(0.90),
    }


def _tail(k: int, n: int) -> float:
    """P(at least k of n fair coin flips come up heads)."""
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n if n <= 1000 else _normal(k, n)


def _normal(k: int, n: int) -> float:
    z = (k - 0.5 - n / 2) / math.sqrt(n / 4)
    return 0.5 * math.erfc(z / math.sqrt(2))


def finish(state: list, opts: Options, ctx) -> Iterator[Hit | Note]:
    if not state:
        return
    s = ratios(state)
    yield Note(
        f"{ctx.path}: {s['pairs']:,} preference pairs; chosen longer in "
        f"{s['chosen_longer_share']:.0%}; chosen/rejected length ratio p10 {s['ratio_p10']:.2f}, "
        f"median {s['ratio_p50']:.2f}, p90 {s['ratio_p90']:.2f}"
    )
    if len(state) < opts.min_pairs:
        return
    differ = sum(c != r for c, r in state)
    if s["chosen_longer_share"] > opts.max_share and _tail(s["chosen_longer"], differ) < opts.max_p:
        yield Hit(
            None,
            f"chosen is the longer answer in {s['chosen_longer_share']:.0%} of {s['pairs']:,} "
            f"pairs (chosen/rejected length ratio: p10 {s['ratio_p10']:.2f}, median "
            f"{s['ratio_p50']:.2f}, p90 {s['ratio_p90']:.2f}); length alone predicts the label",
            "rebalance with pairs where the shorter answer wins, or use a length-normalised "
            "objective (SimPO, a DPO length penalty)",
            Where(ctx.path),
        )
