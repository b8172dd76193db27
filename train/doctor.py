"""`train doctor`: the troubleshooting chapter's slow-training and not-converging checklists,
run on a run's own numbers.

Each check is a small unit: a code, a name, a docstring that is its user documentation, and a
function over the logged records (and the run's config) that yields a Diagnosis with the
evidence (steps and numbers), the chapter's advice, and the config change to make. The same
checks run live in `train run` (see `Live`), each warning once.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Diagnosis:
    code: str
    name: str
    severity: str  # error | warning | info
    message: str  # what happened, with the evidence
    advice: str  # the chapter's advice
    change: dict = field(default_factory=dict)  # the config change to try
    steps: tuple[int, ...] = ()  # the steps the evidence comes from


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    run: Callable[[list[dict], dict], Iterator[Diagnosis]]

    @property
    def doc(self) -> str:
        return (self.run.__doc__ or "").strip()


CHECKS: list[Check] = []


def check(code: str, name: str):
    def register(function):
        CHECKS.append(Check(code, name, function))
        return function

    return register


def _train(records: list[dict]) -> list[dict]:
    return [r for r in records if "loss" in r]


def finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _lr(config: dict) -> float | None:
    value = config.get("learning_rate")
    return float(value) if isinstance(value, int | float) else None


def _lower_rate(config: dict, precision: bool = False) -> dict:
    """The chapter's first answer to a loss that misbehaves: a 10x lower rate (and bf16 for
    fp16, whose overflow and underflow look the same)."""
    lr = _lr(config)
    change = {"learning_rate": lr / 10} if lr else {}
    if precision and config.get("fp16"):
        change |= {"fp16": False, "bf16": True}
    return change


@check("TD01", "non-finite-loss")
def nonfinite(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """The loss or gradient norm became NaN or infinite (train run stops at once when it does).

    The chapter: loss not falling, or NaN, means the learning rate is too high: lower it by
    an order of magnitude (e.g. 5e-5 to 5e-6). With fp16, overflow is the other usual cause:
    use bf16 where the GPU has it, or fp32. Then check the rows the stop names for extreme
    lengths or repeated tokens."""
    for r in records:
        bad = [k for k in ("loss", "grad_norm") if k in r and not finite(r[k])]
        if bad or r.get("nonfinite"):
            what = r.get("nonfinite") or bad[0]
            change = _lower_rate(config, precision=True)
            yield Diagnosis(
                "TD01", "non-finite-loss", "error",
                f"step {r['step']}: the {what} is not finite"
                + (f" (rows {r['rows'][:8]})" if r.get("rows") else ""),
                "lower the learning rate 10x; with fp16 switch to bf16 (or fp32); check the "
                "named rows for extreme lengths or repeated tokens",
                change, (r["step"],),
            )  # fmt: skip
            return


@check("TD02", "loss-diverging")
def diverging(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """The training loss ends clearly above where it started (by 10% or more, comparing the
    means of the first and last fifth of the logged steps).

    The chapter: a loss that does not fall is the classic sign of a learning rate that is too
    high. Lower it by 10x."""
    train = [r for r in _train(records) if finite(r["loss"])]
    if len(train) < 10:
        return
    k = max(2, len(train) // 5)
    first, last = _mean([r["loss"] for r in train[:k]]), _mean([r["loss"] for r in train[-k:]])
    if last > first * 1.10:
        yield Diagnosis(
            "TD02", "loss-diverging", "error",
            f"the loss rose from {first:.4g} (steps {train[0]['step']}-{train[k - 1]['step']}) "
            f"to {last:.4g} (steps {train[-k]['step']}-{train[-1]['step']})",
            "the learning rate is too high: lower it by 10x",
            _lower_rate(config),
            (train[0]["step"], train[-1]["step"]),
        )  # fmt: skip


@check("TD10", "loss-spiking")
def spiking(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """The training loss keeps jumping, or swings: at least 3 logged steps (and 5% of them)
    where the loss is 1.5x or more the one logged before, by at least a tenth of the first
    logged loss (a loss near zero doubling from 0.004 to 0.008 is noise, not a jump); or a
    loss that climbs back from its lowest point so far by half its mean or more (smoothed over
    a twentieth of the log, at least 3 steps), whatever its end value: a run that went from 14
    up to 22 and down to 6 is unstable, not converging.

    The chapter: a loss that does not fall steadily is the classic sign of a learning rate
    that is too high; each update overshoots. Lower it by 10x (and keep warmup on)."""
    train = [r for r in _train(records) if finite(r["loss"])]
    floor = 0.1 * abs(train[0]["loss"]) if train else 0.0
    spikes = [b for a, b in itertools.pairwise(train)
              if a["loss"] > 0 and b["loss"] >= 1.5 * a["loss"]
              and b["loss"] - a["loss"] >= floor]  # fmt: skip
    if len(spikes) >= 3 and len(spikes) >= 0.05 * len(train):
        shown = ", ".join(str(r["step"]) for r in spikes[:6])
        yield Diagnosis(
            "TD10", "loss-spiking", "error",
            f"the loss jumped by half or more {len(spikes)} times in {len(train)} logged steps "
            f"(steps {shown})",
            "the learning rate is too high: lower it by 10x",
            _lower_rate(config),
            tuple(r["step"] for r in spikes),
        )  # fmt: skip
        return
    swing = _climb_back(train)
    if swing is not None:
        low, high, mean = swing
        yield Diagnosis(
            "TD10", "loss-spiking", "error",
            f"the loss swung: it climbed back from {low['loss']:.4g} (step {low['step']}) to "
            f"{high['loss']:.4g} (step {high['step']}), more than half its mean {mean:.4g}",
            "the learning rate is too high: lower it by 10x",
            _lower_rate(config),
            (low["step"], high["step"]),
        )  # fmt: skip


def _climb_back(train: list[dict]) -> tuple[dict, dict, float] | None:
    """(the low, the high after it, the mean) of the largest rise of the smoothed loss above
    its running minimum, when that rise reaches half the mean."""
    if len(train) < 10:
        return None
    losses = [r["loss"] for r in train]
    mean = _mean(losses)
    if mean <= 0:
        return None
    w = max(3, len(losses) // 20)
    smooth = [_mean(losses[i : i + w]) for i in range(len(losses) - w + 1)]
    best, low = None, 0
    for i, value in enumerate(smooth):
        if value < smooth[low]:
            low = i
        rise = value - smooth[low]
        if rise >= 0.5 * mean and (best is None or rise > best[0]):
            best = (rise, low, i)
    if best is None:
        return None
    _, a, b = best
    # The steps shown: the lowest logged loss in the low window, the highest in the high one.
    low_step = min(train[a : a + w], key=lambda r: r["loss"])
    high_step = max(train[b : b + w], key=lambda r: r["loss"])
    return low_step, high_step, mean


@check("TD03", "loss-flat")
def flat(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """The training loss does not move: the means of the first and last fifth of at least 20
    logged steps differ by less than 1%.

    The chapter: a loss that does not fall usually means a learning rate that is too high
    (the updates bounce around a bad region), or the wrong precision (fp16 underflow). Lower
    the learning rate 10x; use bf16 instead of fp16. If the rate is already small, check the
    data (empty answers, labels all masked) and the template first."""
    train = [r for r in _train(records) if finite(r["loss"])]
    if len(train) < 20:
        return
    k = len(train) // 5
    first, last = _mean([r["loss"] for r in train[:k]]), _mean([r["loss"] for r in train[-k:]])
    if abs(last - first) <= 0.01 * abs(first):
        change = _lower_rate(config, precision=True)
        yield Diagnosis(
            "TD03", "loss-flat", "warning",
            f"the loss stayed at {first:.4g} -> {last:.4g} over steps {train[0]['step']}-"
            f"{train[-1]['step']}",
            "lower the learning rate 10x, and train in bf16 rather than fp16; if that does not "
            "help, check the data and the chat template",
            change, (train[0]["step"], train[-1]["step"]),
        )  # fmt: skip


@check("TD04", "loss-falling-slowly")
def slow(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """The training loss falls steadily but very slowly: at least 20 logged steps, the last
    fifth 1-5% below the first, and most of the fifths lower than the one before.

    The chapter: a loss that falls very slowly can mean a learning rate that is too low:
    raise it (e.g. from 1e-6 to 5e-6), carefully."""
    train = [r for r in _train(records) if finite(r["loss"])]
    if len(train) < 20:
        return
    k = len(train) // 5
    fifths = [_mean([r["loss"] for r in train[i * k : (i + 1) * k]]) for i in range(5)]
    drop = 1 - fifths[-1] / fifths[0] if fifths[0] else 0.0
    falling = sum(b < a for a, b in itertools.pairwise(fifths))
    if 0.01 < drop < 0.05 and falling >= 3:
        lr = _lr(config)
        yield Diagnosis(
            "TD04", "loss-falling-slowly", "warning",
            f"the loss fell only {drop:.1%} over steps {train[0]['step']}-{train[-1]['step']} "
            f"({fifths[0]:.4g} -> {fifths[-1]:.4g}), steadily",
            "the learning rate may be too low: raise it (2-5x), watching for instability",
            {"learning_rate": lr * 3} if lr else {},
            (train[0]["step"], train[-1]["step"]),
        )  # fmt: skip


@check("TD05", "overfitting")
def overfitting(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """The eval loss rose after its minimum: the last two evaluations are both above the best
    one, the last by 2% or more.

    The chapter: eval loss rising after a minimum while the training loss keeps falling is
    overfitting. Train fewer epochs (stop near the minimum), add weight decay, or get more
    data. `load_best`: train run keeps the best adapter in `best/` when eval_steps is set."""
    evals = [r for r in records if finite(r.get("eval_loss"))]
    if len(evals) < 3:
        return
    best = min(range(len(evals)), key=lambda i: evals[i]["eval_loss"])
    low, tail = evals[best], evals[best + 1 :]
    if len(tail) >= 2 and all(r["eval_loss"] > low["eval_loss"] for r in tail[-2:]):
        last = tail[-1]
        if last["eval_loss"] >= low["eval_loss"] * 1.02:
            change: dict = {"max_steps": low["step"]}
            if not config.get("weight_decay"):
                change["weight_decay"] = 0.01
            yield Diagnosis(
                "TD05", "overfitting", "warning",
                f"the eval loss reached its minimum {low['eval_loss']:.4g} at step {low['step']} "
                f"and rose to {last['eval_loss']:.4g} by step {last['step']}",
                "overfitting: train fewer epochs (stop near the minimum), add weight decay, or "
                "more data; the best adapter is kept in best/",
                change, (low["step"], last["step"]),
            )  # fmt: skip


@check("TD06", "dpo-not-learning")
def dpo_not_learning(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """DPO whose preference accuracy stays at chance (rewards/accuracies within 0.4-0.6 over
    the last half of at least 20 logged steps), or whose margins collapse (the last fifth's
    mean margin at or below zero after a positive peak).

    The chapter: data first. Check that chosen and rejected really differ and are not swapped
    (`dataprep lint`: PR rules), then the learning rate (5e-6 is the usual DPO rate) and
    pref_beta (0.1; higher keeps the policy closer to the reference)."""
    train = [r for r in _train(records) if "rewards/accuracies" in r]
    if len(train) < 20:
        return
    half = train[len(train) // 2 :]
    accuracy = _mean([r["rewards/accuracies"] for r in half])
    k = len(train) // 5
    margins = [r.get("rewards/margins", 0.0) for r in train]
    fifths = [_mean(margins[i * k : (i + 1) * k]) for i in range(5)]
    if 0.4 <= accuracy <= 0.6:
        yield Diagnosis(
            "TD06", "dpo-not-learning", "warning",
            f"rewards/accuracies averaged {accuracy:.2f} over steps {half[0]['step']}-"
            f"{half[-1]['step']}: the policy prefers chosen over rejected no more than chance",
            "check the pairs first (chosen and rejected distinct, not swapped: dataprep lint), "
            "then the learning rate (DPO: about 5e-6) and pref_beta",
            {}, (half[0]["step"], half[-1]["step"]),
        )  # fmt: skip
    elif max(fifths) > 0 and fifths[-1] <= 0:
        yield Diagnosis(
            "TD06", "dpo-not-learning", "warning",
            f"rewards/margins peaked at {max(fifths):.4g} and fell to {fifths[-1]:.4g} by step "
            f"{train[-1]['step']}",
            "the margins collapsed: lower the learning rate, raise pref_beta, check the pairs",
            {"pref_beta": float(config.get("pref_beta") or 0.1) * 2},
            (train[0]["step"], train[-1]["step"]),
        )  # fmt: skip


@check("TD07", "data-bound")
def data_bound(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """More than 20% of the training time goes to waiting for data.

    The chapter: GPU utilisation below 80% and jumpy means the data pipeline starves it.
    Train from a pre-tokenized build (dataprep build: memory-mapped Arrow, nothing decoded at
    train time), keep data on a local disk, raise dataloader_num_workers."""
    train = [r for r in _train(records) if "data_wait_s" in r and "time" in r]
    if len(train) < 3:
        return
    elapsed = train[-1]["time"] - train[0]["time"]
    waited = sum(r["data_wait_s"] for r in train[1:])
    if elapsed > 0 and waited / elapsed > 0.20:
        workers = int(config.get("dataloader_num_workers") or 0)
        yield Diagnosis(
            "TD07", "data-bound", "warning",
            f"{waited / elapsed:.0%} of steps {train[1]['step']}-{train[-1]['step']} was spent "
            f"waiting for data ({waited:.1f} s of {elapsed:.1f} s)",
            "the data pipeline is the bottleneck: train from a dataprep build on local disk, "
            "and raise dataloader_num_workers",
            {"dataloader_num_workers": max(4, 2 * workers)},
            (train[1]["step"], train[-1]["step"]),
        )  # fmt: skip


@check("TD08", "slow-settings")
def slow_settings(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """A GPU run (its log records GPU memory) trained with settings the chapter calls slow:
    fp32 without TF32, eager attention, or batch size 1 with gradient accumulation while
    most of the memory was left unused.

    The chapter: high utilisation but slow training wants FlashAttention-2, bf16/fp16 on
    Tensor Cores, TF32 for what stays fp32, and the largest batch that fits (with less
    accumulation)."""
    train = [r for r in _train(records) if "gpu_memory_gb" in r]
    if not train:
        return
    change: dict = {}
    why = []
    if not (config.get("bf16") or config.get("fp16")):
        change["bf16"] = True
        why.append("fp32 math (bf16 runs on Tensor Cores)")
        if not config.get("tf32"):
            why.append("TF32 off")
    if config.get("flash_attn") == "eager":
        change["flash_attn"] = "auto"
        why.append("eager attention (fa2 or sdpa are faster)")
    total = train[-1].get("gpu_total_gb")
    used = max(r["gpu_memory_gb"] for r in train)
    accumulation = int(config.get("gradient_accumulation_steps") or 1)
    one = config.get("per_device_train_batch_size") == 1 and accumulation > 1
    if one and total and used < 0.5 * total:
        change |= {"per_device_train_batch_size": 2,
                   "gradient_accumulation_steps": max(1, accumulation // 2)}  # fmt: skip
        why.append(f"batch size 1 with {used:.0f} of {total:.0f} GB used")
    if why:
        speed = statistics.median(r.get("tokens_per_s", 0.0) for r in train)
        yield Diagnosis(
            "TD08", "slow-settings", "info",
            f"{speed:,.0f} tokens/s with {', '.join(why)}",
            "use bf16 (or fp16), FlashAttention-2, TF32, and the largest batch that fits",
            change, (train[0]["step"], train[-1]["step"]),
        )  # fmt: skip


@check("TD09", "padding-waste")
def padding_waste(records: list[dict], config: dict) -> Iterator[Diagnosis]:
    """More than 20% of the tokens computed are padding (the logged `padding` share).

    Padding is compute thrown away. Group batches by length (group_by_length, the default),
    build packed rows (dataprep build --packing) for SFT, keep pack_pairs on for DPO."""
    train = [r for r in _train(records) if finite(r.get("padding"))]
    if len(train) < 3:
        return
    share = _mean([r["padding"] for r in train])
    if share > 0.20:
        change = {"group_by_length": True}
        if config.get("method") == "dpo":
            change["pack_pairs"] = True
        yield Diagnosis(
            "TD09", "padding-waste", "info",
            f"{share:.0%} of the tokens in steps {train[0]['step']}-{train[-1]['step']} were "
            "padding",
            "group batches by length, pack SFT rows (dataprep build --packing), keep "
            "pack_pairs for DPO",
            change, (train[0]["step"], train[-1]["step"]),
        )  # fmt: skip


def diagnose_run(records: list[dict], config: dict) -> list[Diagnosis]:
    """What `train doctor` says of a whole run: the checks on the whole log, and every
    diagnosis the live doctor gave during the run (the log replayed on the schedule `Live`
    checks at), so a run that warned is never called healthy afterwards. A check that fires on
    the whole log speaks for itself; one that fired only on a part says up to which step."""
    final = diagnose(records, config)
    codes = {d.code for d in final}
    earlier: list[Diagnosis] = []
    for n in range(1, len(records) + 1):
        if not _checks_at(n, records[n - 1]):
            continue
        for d in diagnose(records[:n], config):
            if d.code not in codes:
                codes.add(d.code)
                step = records[n - 1].get("step", n)
                earlier.append(replace(d, message=f"by step {step}: {d.message}"))
    order = {c.code: k for k, c in enumerate(CHECKS)}
    return sorted(final + earlier, key=lambda d: order.get(d.code, len(order)))


def _checks_at(n: int, record: dict) -> bool:
    """Whether the live doctor runs the checks after the n-th record: on every record early,
    then about 50 times per doubling of the log (linear-logarithmic over a run, not
    quadratic); a non-finite stop at once."""
    return n % max(1, n // 50) == 0 or bool(record.get("nonfinite"))


def diagnose(records: list[dict], config: dict) -> list[Diagnosis]:
    found = []
    for c in CHECKS:
        found.extend(c.run(records, config))
    # A diverging or non-finite loss is also "not falling": say it once, in its strongest form.
    codes = {d.code for d in found}
    if codes & {"TD01", "TD02", "TD10"}:
        found = [d for d in found if d.code not in ("TD03", "TD04")]
    return found


class Live:
    """The same checks during `train run`: each diagnosis is printed once, when it first fires."""

    def __init__(self, config: dict, say: Callable[[str], None]):
        self.config = config
        self.say = say
        self.records: list[dict] = []
        self.told: set[str] = set()

    def observe(self, record: dict) -> None:
        self.records.append(record)
        if not _checks_at(len(self.records), record):  # every check reads the whole log
            return
        for d in diagnose(self.records, self.config):
            if d.code not in self.told:
                self.told.add(d.code)
                self.say(f"train doctor: {d.code} {d.name}: {d.message} ({d.advice})")
