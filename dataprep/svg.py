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
) -> Markup:
    """Bars of one or two distributions (shares, so sets of different sizes compare), with
    labelled vertical markers (e.g. p50, p95, the recommended cutoff_len)."""
    data = [[math.log10(max(v, 1e-9)) if log else float(v) for v in s] for s in series if len(s)]
    if not data:
        return Markup("")
    low = min(min(s) for s in data)
    high = max(max(s) for s in data)
    marks = [(name, math.log10(max(x, 1e-9)) if log else float(x)) for name, x in markers]
    high = max([high, *(x for _, x in marks)])
    if high == low:
        high = low + 1
    step = (high - low) / bins
    counts = []
    for s in data:
        bucket = [0] * bins
        for v in s:
            bucket[min(bins - 1, int((v - low) / step))] += 1
        counts.append([c / len(s) for c in bucket])
    top = max(max(c) for c in counts) or 1
    left, bottom, right, head = 44, 22, 8, 16
    plot_w, plot_h = width - left - right, height - bottom - head

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * plot_w

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    bar_w = plot_w / bins
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
    base = head + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#888"/>')
    for t in _ticks(low, high):
        parts.append(
            f'<text x="{x(t):.1f}" y="{base + 14}" text-anchor="middle" class="tick">'
            f"{escape(_label(t, log))}</text>"
        )
    parts.append(
        f'<text x="{left - 6}" y="{head + 4}" text-anchor="end" class="tick">{top:.0%}</text>'
    )
    parts += _markers([(n, x(v)) for n, v in marks], head, base)
    for k, name in enumerate(names):
        parts.append(
            f'<rect x="{width - right - 150}" y="{4 + 14 * k}" width="10" height="10" '
            f'fill="{COLOURS[k % len(COLOURS)]}"/><text x="{width - right - 136}" '
            f'y="{13 + 14 * k}" class="tick">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


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
