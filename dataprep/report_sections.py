"""The report's sections: each one small function (the linted Dataset in, with the other
split to compare with, and a dict for its template partial in reports/sections/ out, or None
when the section has nothing to show). `dataprep.report.render` lays them out in this order.
"""

from __future__ import annotations

import base64
import gzip
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from dataprep import excerpt, svg
from dataprep.images import OK, statistics
from dataprep.profile import overlap
from dataprep.report import PAGE, SEVERITIES, Dataset, Places


def overview(data: Dataset, other: Dataset | None) -> dict:
    summary, counts = data.summary, data.findings.by_severity()
    formats: Counter = Counter()
    for stats in summary.files:
        for (fmt, kind), n in stats.formats.items():
            formats[f"{fmt} {kind}"] += n
    bad = sum(len(v) for v in data.findings.records.values())
    if counts["error"]:
        verdict, tone = (
            f"Not ready: {counts['error']:,} errors ({bad:,} records have one; the rest concern "
            "whole files). Fix or drop them before training."
            if bad != counts["error"]
            else f"Not ready: {counts['error']:,} records have errors. Fix or drop them before "
            "training.",
            "error",
        )
    elif counts["warning"]:
        verdict, tone = f"Usable, with {counts['warning']:,} warnings worth reviewing.", "warning"
    else:
        verdict, tone = "Ready: no errors or warnings.", "ok"
    return {
        "files": [(s.path, s.records) for s in summary.files],
        "records": summary.records,
        "size": _size(data.profile.bytes),
        "formats": formats.most_common(),
        "counts": counts,
        "verdict": verdict,
        "tone": tone,
        "top": [e for e in data.findings.ordered() if e.severity != "info"][:5],
        "fixed": sorted(data.profile.fixed.items(), key=lambda kv: (-kv[1], kv[0])),
        "errors": [str(e) for e in summary.errors],
    }


def findings(data: Dataset, other: Dataset | None) -> dict | None:
    if not data.findings.rules:
        return None
    excerpts = excerpt.of(f for entry in data.findings.rules.values() for f in entry.examples)
    rules = []
    for entry in data.findings.ordered():
        examples = [(f, excerpts.get((f.path, f.record, f.field))) for f in entry.examples]
        rules.append({"entry": entry, "examples": examples})
    places = Places.of(data, other)
    paths = list(data.findings.paths)
    payload = {
        "rules": {e.name: [e.code, e.severity] for e in data.findings.ordered()},
        "paths": paths,
        "shown": [places.short(p) for p in paths],
        "rows": data.findings.rows,
    }
    # mtime 0: the same data gives the same report, byte for byte
    packed = base64.b64encode(gzip.compress(orjson.dumps(payload), 6, mtime=0)).decode("ascii")
    total = len(data.findings.rows)
    # The first page is in the HTML as report.js draws it: the page has its final height at
    # the first paint, so a link to a later section (#lengths) lands on that section.
    first = [
        {"name": r[0], "severity": SEVERITIES[r[1]], "path": paths[r[2]],
         "where": payload["shown"][r[2]] + ("" if r[3] is None else f":{r[3]}"),
         "field": r[4], "message": r[5]}
        for r in data.findings.rows[:PAGE]
    ]  # fmt: skip
    return {
        "rules": rules,
        "total": total,
        "packed": packed,
        "first": first,
        "page": PAGE,
        "pages": max(1, -(-total // PAGE)),
        "options": list(payload["rules"].items()),
    }


def lengths(data: Dataset, other: Dataset | None) -> dict | None:
    measured, setup = data.lengths, data.setup
    if measured is None or not len(measured) or setup is None:
        return None
    full, label = measured.percentiles("full"), measured.percentiles("label")
    recommended = measured.recommended(setup.coverage, setup.round)
    cutoff = setup.cutoff_len or recommended
    markers = [("p50", full["p50"]), ("p95", full["p95"]), ("p99", full["p99"]),
               (f"cutoff {cutoff:,}", cutoff)]  # fmt: skip
    series = [list(measured.full)]
    names: list[str] = []
    if other is not None and other.lengths is not None and len(other.lengths):
        series.append(list(other.lengths.full))
        names = ["train", "eval"]
    return {
        "tokenizer": setup.tokenizer.name,
        "estimate": setup.tokenizer.estimate,
        "template": setup.template.name,
        "full": full,
        "label": label,
        "recommended": recommended,
        "coverage": setup.coverage,
        "round": setup.round,
        "cutoff": cutoff,
        "given": setup.cutoff_len is not None,
        "losses": measured.losses(cutoff),
        "chart": svg.histogram(series, markers=markers, names=names, unit=" tokens"),
        "label_chart": svg.histogram([list(measured.label)], unit=" tokens"),
    }


def fields(data: Dataset, other: Dataset | None) -> dict | None:
    profile = data.profile
    if not len(profile.answer_chars):
        return None
    charts = []
    for title, attr in (("Prompt length (characters)", "prompt_chars"),
                        ("Answer length (characters)", "answer_chars")):  # fmt: skip
        values = [v for v in getattr(profile, attr) if v > 0]
        series, names = [values], []
        if other is not None:
            series.append([v for v in getattr(other.profile, attr) if v > 0])
            names = ["train", "eval"]
        ordered = sorted(values)
        stats = {f"p{p}": ordered[min(len(ordered) - 1, len(ordered) * p // 100)]
                 for p in (50, 95)} if ordered else {}  # fmt: skip
        marks = list(stats.items())
        charts.append((title, stats, svg.histogram(series, log=True, markers=marks, names=names)))
    empty = sum(1 for v in profile.answer_chars if v == 0)
    return {"charts": charts, "empty": empty, "records": len(profile.answer_chars)}


def duplicates(data: Dataset, other: Dataset | None) -> dict | None:
    names = ("exact-duplicate", "near-duplicate", "conflicting-duplicate")
    entries = [data.findings.rules[n] for n in names if n in data.findings.rules]
    if not entries:
        return None
    records = data.summary.records or 1
    return {"entries": entries, "share": sum(e.count for e in entries) / records}


def styles(data: Dataset, other: Dataset | None) -> dict | None:
    profile = data.profile
    if not profile.openings:
        return None
    total = sum(profile.openings.values())
    entry = data.findings.rules.get("style-inconsistent")
    openings = [(w or "(none)", n / total) for w, n in profile.openings.most_common(10)]
    languages = [(w, n / total) for w, n in profile.languages.most_common()]
    return {
        "openings": svg.bars(openings, unit="%"),
        "languages": svg.bars(languages, unit="%"),
        "entry": entry,
    }


def pairs(data: Dataset, other: Dataset | None) -> dict | None:
    profile = data.profile
    if not len(profile.chosen_chars):
        return None
    ratios = [c / r for c, r in zip(profile.chosen_chars, profile.rejected_chars, strict=True)
              if c and r]  # fmt: skip
    differ = [r for r in ratios if r != 1]
    longer = sum(r > 1 for r in differ) / len(differ) if differ else 0.0
    names = ("identical-pair", "pair-prefix", "near-identical-pair", "extreme-length-ratio",
             "length-bias", "off-policy-chosen")  # fmt: skip
    return {
        "pairs": len(profile.chosen_chars),
        "longer": longer,
        "chart": svg.histogram([ratios], log=True, markers=[("equal", 1.0)], unit="x"),
        "entries": [data.findings.rules[n] for n in names if n in data.findings.rules],
    }


def images(data: Dataset, other: Dataset | None) -> dict | None:
    cache = data.images
    if cache is None or not cache.results:
        return None
    infos = list(cache.results.values())
    stats = statistics(infos)
    names = ("missing-image", "image-outside-root", "unreadable-image", "image-too-large",
             "image-token-mismatch", "image-placeholder-misplaced")  # fmt: skip
    entries = [data.findings.rules[n] for n in names if n in data.findings.rules]
    thumbs = _thumbnails(data)
    sizes = [(f"{i.width}x{i.height}", 1) for i in infos if i.status == OK]
    common = Counter(s for s, _ in sizes).most_common(8)
    return {"stats": stats, "entries": entries, "thumbs": thumbs,
            "sizes": svg.bars([(s, n) for s, n in common])}  # fmt: skip


MODERN_RULES = (
    *("invalid-tools", "invalid-tool-call", "unknown-tool", "tool-arguments-mismatch"),
    *("tool-turn-order", "unbalanced-think", "empty-reasoning", "reasoning-dropped"),
    *("invalid-kto-label", "kto-imbalance", "schema-drift", "media-token-mismatch"),
    *("missing-media", "media-outside-root", "unreadable-media", "unchecked-media"),
)


def modern(data: Dataset, other: Dataset | None) -> dict | None:
    """Tool calls, reasoning, KTO labels, video and audio: what they hold and what is wrong."""
    p = data.profile
    thinking = p.reasoning.get("reasoning", 0) + p.reasoning.get("empty", 0)
    entries = [data.findings.rules[n] for n in MODERN_RULES if n in data.findings.rules]
    media = p.media.get("videos", 0) + p.media.get("audios", 0)
    if not (p.tool_records or p.calls or thinking or p.kto or media or entries):
        return None
    answers = sum(p.reasoning.values()) or 1
    shares = [
        (k, p.reasoning[k] / answers) for k in ("reasoning", "empty", "plain") if p.reasoning[k]
    ]
    return {
        "tool_records": p.tool_records,
        "calls": sum(p.calls.values()),
        "functions": len(p.calls),
        "called": svg.bars(p.calls.most_common(10)),
        "reasoning": svg.bars(shares, unit="%") if thinking else "",
        "thinking": thinking / answers,
        "kto": svg.bars(p.kto.most_common()),
        "media": ", ".join(f"{k} ×{v:,}" for k, v in p.media.most_common()),
        "entries": entries,
    }


def compare(data: Dataset, other: Dataset | None) -> dict | None:
    if other is None:
        return None
    rows = []
    for name, ds in (("train", data), ("eval", other)):
        p = ds.profile
        total = sum(p.languages.values()) or 1
        rows.append({
            "name": name,
            "paths": list(ds.paths),
            "records": ds.summary.records,
            "languages": ", ".join(f"{k} {v / total:.0%}" for k, v in p.languages.most_common(3)),
            "openings": ", ".join(w for w, _ in p.openings.most_common(5) if w),
            "kinds": ", ".join(f"{k} ×{v:,}" for k, v in p.kinds.most_common()),
        })  # fmt: skip
    return {"rows": rows, "overlap": overlap(data.profile, other.profile)}


SECTIONS: list[tuple[str, str, Callable[[Dataset, Dataset | None], dict | None]]] = [
    ("overview", "Overview", overview),
    ("compare", "Train and eval", compare),
    ("findings", "Findings by rule", findings),
    ("lengths", "Token lengths", lengths),
    ("fields", "Field lengths", fields),
    ("duplicates", "Duplicates", duplicates),
    ("styles", "Answer styles", styles),
    ("pairs", "Preference pairs", pairs),
    ("images", "Images", images),
    ("modern", "Tools, reasoning, KTO and media", modern),
]


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} bytes"


def _thumbnails(data: Dataset, limit: int = 24) -> list[tuple[str, str, int, int]]:
    """Small JPEG data URIs of readable images in records with findings (never a broken one),
    with their sizes, so the page lays them out before they are decoded."""
    import io

    from PIL import Image

    from dataprep.images import locate, read_regular

    cache = data.images
    out: list[tuple[str, str, int, int]] = []
    seen: set[str] = set()
    for path, records in data.findings.records.items():
        root = cache.root_for(path)
        for index in sorted(records):
            for reference in data.profile.images.get((path, index), ()):
                if len(out) >= limit:
                    return out
                real, refused = locate(reference, root)
                info = cache.results.get(str(real)) if real is not None else None
                if refused is not None or info is None or info.status != OK or str(real) in seen:
                    continue
                seen.add(str(real))
                content = read_regular(real)  # checked as a file before: it may have changed
                if not isinstance(content, bytes):
                    continue
                try:
                    with Image.open(io.BytesIO(content)) as image:
                        image.draft("RGB", (128, 128))
                        image.thumbnail((96, 96))
                        size = image.size
                        buf = io.BytesIO()
                        image.convert("RGB").save(buf, "JPEG", quality=70)
                except (OSError, ValueError):
                    continue
                data_uri = base64.b64encode(buf.getvalue()).decode("ascii")
                out.append((f"{Path(path).name}, record {index}: {reference}",
                            "data:image/jpeg;base64," + data_uri, *size))  # fmt: skip
    return out
