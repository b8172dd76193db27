r"""Desirable and undesirable KTO examples out of the balance KTO's loss assumes (dataset-level).

Why it hurts training:
    KTO weighs each desirable example by λ_D and each undesirable one by λ_U, and its paper
    recommends keeping λ_D·n_D / (λ_U·n_U) between 1 and 4/3. With the default weights of 1, a
    file of 900 desirable and 100 undesirable examples sits at 9: the loss barely sees the
    undesirable side. The finding gives the counts, the ratio, and the weights that bring it
    to 1: LLaMA-Factory's `kto_chosen_weight` / `kto_rejected_weight`, TRL's
    `desirable_weight` / `undesirable_weight`.

Bad:
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "label": true}
    {"messages": [{"role": "user", "content": "Hey"}, {"role": "assistant", "content": "Hi there!"}], "label": true}
    {"messages": [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Hello."}], "label": true}
    {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Go away."}], "label": false}

Good:
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "label": true}
    {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Go away."}], "label": false}

Options:
    low: the lowest λ_D·n_D / (λ_U·n_U) accepted (with weights of 1: n_D / n_U).
    high: the highest accepted.
    min_records: files with fewer KTO records are not judged.

Fix:
    Set the weights the message gives, or add examples of the smaller side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit, Where

CODE = "PR08"
NAME = "kto-imbalance"
FORMATS = ("*",)
KINDS = ("kto",)


@dataclass(frozen=True)
class Options:
    low: float = 1.0
    high: float = 4 / 3
    min_records: int = 4


def new_state(ctx) -> dict:
    return {"desirable": 0, "undesirable": 0}


def observe(state: dict, record, sample) -> None:
    if sample is None or sample.kind != "kto" or sample.label is None:
        return
    state["desirable" if sample.label else "undesirable"] += 1


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    a["desirable"] += b["desirable"]
    a["undesirable"] += b["undesirable"]
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    good, bad = state["desirable"], state["undesirable"]
    if good + bad < opts.min_records:
        return
    if bad == 0 or good == 0:
        missing = "undesirable (false)" if bad == 0 else "desirable (true)"
        yield Hit(
            None,
            f"every KTO example is {'desirable' if bad == 0 else 'undesirable'} ({good + bad:,}):"
            f" no {missing} example for the loss to contrast",
            f"add {missing} examples; KTO needs both sides",
            Where(ctx.path),
        )
        return
    ratio = good / bad
    if opts.low <= ratio <= opts.high:
        return
    if ratio > opts.high:
        weight = f"kto_rejected_weight: {ratio:.2f} (TRL: undesirable_weight={ratio:.2f})"
    else:
        weight = f"kto_chosen_weight: {1 / ratio:.2f} (TRL: desirable_weight={1 / ratio:.2f})"
    yield Hit(
        None,
        f"{good:,} desirable and {bad:,} undesirable KTO examples: {ratio:.2f} to 1, outside "
        f"the {opts.low:g}-{opts.high:.2f} KTO's paper recommends for λ_D·n_D / (λ_U·n_U)",
        f"set {weight} to bring it to 1, or add examples of the smaller side",
        Where(ctx.path),
    )
