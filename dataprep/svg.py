"""Small inline SVG charts for the report: drawn here, so the page needs no library or network.

Each function returns markup ready to embed (every label escaped); values go in as plain
sequences of numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

COLOURS = ("#3b6ea8", "#d2691e")  # first series, second series (compare mode)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _label(value: float, log: bool) -> str:
    if log:
        value = 10**value
        return f"{value:.2g}" if value < 10 else f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def _markers(marks: Sequence[tuple[str, float]], head: int, base: int) -> list[str]:
    """Dashed vertical lines at x positions, labelled (staggered so close labels stay legible)."""
    return [
        f'<line x1="{xm:.1f}" y1="{head - 2}" x2="{xm:.1f}" y2="{base}" stroke="#c0392b" '
        f'stroke-dasharray="3,2"/><text x="{xm + 3:.1f}" y="{head + 10 + 11 * (i % 3)}" '
        f'class="marker">{escape(name)}</text>'
        for i, (name, xm) in enumerate(marks)
    ]


def _tail_cap(data: Sequence[Sequence[float]], tail: float, floor: float) -> float | None:
    """Where the bins should stop for a long tail: the `tail` quantile of all values (or the
    highest marker, `floor`), or None when the values past it would take under a fifth of the
    axis anyway (then binning everything reads fine)."""
    ordered = sorted(v for s in data for v in s)
    low, high = ordered[0], ordered[-1]
    cap = max(ordered[max(0, math.ceil(len(ordered) * tail) - 1)], floor)
    if cap <= low or high <= cap or (high - cap) < 0.25 * (cap - low):
        return None
    return cap


def histogram(
    series: Sequence[Sequence[float]],
    *,
    bins: int = 40,
    markers: Sequence[tuple[str, float]] = (),
    log: bool = False,
    names: Sequence[str] = (),
    width: int = 680,
    height: int = 170,
    unit: str = "",
    tail: float = 0.995,
) -> Markup:
    """Bars of one or two distributions (shares, so sets of different sizes compare), with
    labelled vertical markers (e.g. p50, p95, the recommended cutoff_len).

    A long tail would squash the body of the distribution into one bar: the bins stop at the
    `tail` quantile (or the highest marker, if further), and what lies beyond is one overflow
    bar at the right, labelled with its count and the maximum."""
    data = [[math.log10(max(v, 1e-9)) if log else float(v) for v in s] for s in series if len(s)]
    if not data:
        return Markup("")
    low = min(min(s) for s in data)
    high = max(max(s) for s in data)
    marks = [(name, math.log10(max(x, 1e-9)) if log else float(x)) for name, x in markers]
    cap = _tail_cap(data, tail, max((x for _, x in marks), default=low))
    top_value = high
    if cap is not None:
        high = cap
    high = max([high, *(x for _, x in marks)])
    if high == low:
        high = low + 1
    step = (high - low) / bins
    counts, over = _binned(data, low, step, high, bins)
    top = max(max(max(c) for c in counts), max(share for _, share in over)) or 1
    slot = 74 if cap is not None else 0  # room for the overflow bar and its labels
    left, bottom, right, head = 44, 22, 8 + slot, 16
    plot_w, plot_h = width - left - right, height - bottom - head

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * plot_w

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    parts += _bars(counts, low, step, (left, head, plot_w / bins, plot_h), top, log, unit)
    base = head + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>')
    for t in _ticks(low, high):
        parts.append(
            f'<text x="{x(t):.1f}" y="{base + 14}" text-anchor="middle" class="tick">'
            f"{escape(_label(t, log))}</text>"
        )
    parts.append(
        f'<text x="{left - 6}" y="{head + 4}" text-anchor="end" class="tick">{top:.0%}</text>'
    )
    if cap is not None:
        parts += _overflow(over, left + plot_w + 14, head, plot_h, top, high, top_value, log, unit)
    parts += _markers([(n, x(v)) for n, v in marks], head, base)
    for k, name in enumerate(names):
        parts.append(
            f'<rect x="{width - right - 150}" y="{4 + 14 * k}" width="10" height="10" '
            f'fill="{COLOURS[k % len(COLOURS)]}"/><text x="{width - right - 136}" '
            f'y="{13 + 14 * k}" class="tick">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _binned(
    data: list[list[float]], low: float, step: float, high: float, bins: int
) -> tuple[list[list[float]], list[tuple[int, float]]]:
    """Per series, the share of values in each bin, and the count and share beyond `high`."""
    counts, over = [], []
    for s in data:
        bucket = [0] * bins
        beyond = 0
        for v in s:
            if v > high:
                beyond += 1
            else:
                bucket[min(bins - 1, int((v - low) / step))] += 1
        counts.append([c / len(s) for c in bucket])
        over.append((beyond, beyond / len(s)))
    return counts, over


def _bars(
    counts: list[list[float]],
    low: float,
    step: float,
    box: tuple[float, float, float, float],
    top: float,
    log: bool,
    unit: str,
) -> list[str]:
    """The bars of each series (`box`: left, head, bar width and plot height), with their
    ranges and shares as tooltips."""
    left, head, bar_w, plot_h = box
    parts = []
    for k, shares in enumerate(counts):
        colour = COLOURS[k % len(COLOURS)]
        opacity = 0.85 if len(counts) == 1 else 0.55
        for i, share in enumerate(shares):
            if not share:
                continue
            h = share / top * plot_h
            span = f"{_label(low + i * step, log)}-{_label(low + (i + 1) * step, log)}{unit}"
            parts.append(
                f'<rect x="{left + i * bar_w:.1f}" y="{head + plot_h - h:.1f}" '
                f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}" fill="{colour}" '
                f'fill-opacity="{opacity}"><title>{escape(span)}: {share:.1%}</title></rect>'
            )
    return parts


def _overflow(
    over: Sequence[tuple[int, float]],
    at: float,
    head: int,
    plot_h: float,
    top: float,
    cap: float,
    highest: float,
    log: bool,
    unit: str,
) -> list[str]:
    """The overflow bar (one per series, side by side): what lies past the binned range, with
    its count below the axis and the maximum above the bar."""
    base, slot = head + plot_h, 52
    width = slot / len(over)
    parts = [f'<line x1="{at}" y1="{base}" x2="{at + slot}" y2="{base}" stroke="#888"/>']
    for k, (count, share) in enumerate(over):
        h = max(share / top * plot_h, 1.0 if count else 0.0)
        parts.append(
            f'<rect class="overflow" x="{at + k * width:.1f}" y="{base - h:.1f}" '
            f'width="{max(width - 2, 1):.1f}" height="{h:.1f}" fill="{COLOURS[k % len(COLOURS)]}" '
            f'fill-opacity="0.45" stroke="{COLOURS[k % len(COLOURS)]}" stroke-dasharray="2,2">'
            f"<title>{count:,} over {escape(_label(cap, log))}{escape(unit)} ({share:.1%}); "
            f"the longest {escape(_label(highest, log))}{escape(unit)}</title></rect>"
        )
    total = sum(count for count, _ in over)
    tallest = max(share for _, share in over) / top * plot_h
    parts.append(
        f'<text x="{at + slot / 2:.1f}" y="{base + 14}" text-anchor="middle" class="tick">'
        f"&gt;{escape(_label(cap, log))}</text>"
        f'<text x="{at + slot / 2:.1f}" y="{max(base - tallest - 16, head - 4):.1f}" '
        f'text-anchor="middle" class="tick overflow-count">{total:,} more</text>'
        f'<text x="{at + slot / 2:.1f}" y="{max(base - tallest - 4, head + 8):.1f}" '
        f'text-anchor="middle" class="tick overflow-max">max {escape(_label(highest, log))}</text>'
    )
    return parts


def bars(items: Sequence[tuple[str, float]], *, width: int = 420, unit: str = "") -> Markup:
    """Horizontal bars with labels (shares or counts): languages, openings, rules."""
    if not items:
        return Markup("")
    top = max(v for _, v in items) or 1
    row, label_w = 18, 150
    height = row * len(items) + 4
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, value) in enumerate(items):
        w = value / top * (width - label_w - 60)
        text = f"{value:.0%}" if unit == "%" else f"{value:,.0f}"
        parts.append(
            f'<text x="{label_w - 6}" y="{i * row + 14}" text-anchor="end" class="tick">'
            f"{escape(name[:24])}</text>"
            f'<rect x="{label_w}" y="{i * row + 3}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{COLOURS[0]}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{i * row + 14}" class="tick">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    markers: Sequence[tuple[str, float]] = (),
    width: int = 680,
    height: int = 200,
) -> Markup:
    """Named (x, y) curves on shared axes (loss and eval loss by step), with labelled
    vertical markers at x values (the steps a diagnosis names)."""
    points = [(x, y) for _, s in series for x, y in s if math.isfinite(y)]
    if not points:
        return Markup("")
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    x_high = x_high if x_high > x_low else x_low + 1
    y_high = y_high if y_high > y_low else y_low + 1
    left, bottom, right, head = 48, 22, 8, 16
    plot_w, plot_h = width - left - right, height - bottom - head

    def sx(v: float) -> float:
        return left + (v - x_low) / (x_high - x_low) * plot_w

    def sy(v: float) -> float:
        return head + plot_h - (v - y_low) / (y_high - y_low) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    base = head + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#888"/>')
    for t in _ticks(x_low, x_high):
        parts.append(f'<text x="{sx(t):.1f}" y="{base + 14}" text-anchor="middle" class="tick">'
                     f"{escape(_label(t, False))}</text>")  # fmt: skip
    for t in _ticks(y_low, y_high, 4):
        parts.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">'
                     f"{t:.3g}</text>")  # fmt: skip
    for k, (name, s) in enumerate(series):
        kept = [(x, y) for x, y in s if math.isfinite(y)]
        if not kept:
            continue
        colour = COLOURS[k % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in kept)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5">'
                     f"<title>{escape(name)}</title></polyline>")  # fmt: skip
        parts.append(
            f'<rect x="{width - right - 150}" y="{4 + 14 * k}" width="10" height="10" '
            f'fill="{colour}"/><text x="{width - right - 136}" y="{13 + 14 * k}" '
            f'class="tick">{escape(name)}</text>'
        )
    parts += _markers([(n, sx(v)) for n, v in markers], head, base)
    parts.append("</svg>")
    return Markup("".join(parts))
