"""The self-contained HTML data-quality report.

`collect()` runs one lint pass that also measures token lengths and profiles every record;
each section is one small function here (data in, a dict or None out) and one template
partial in reports/sections/; `render()` puts them in reports/report.html.j2 with Jinja2
autoescaping, CSS, JavaScript and SVG charts inline. Dataset text is untrusted: it only ever
reaches the page escaped, or as JSON that the page's script writes with textContent.
"""

from __future__ import annotations

import base64
import gzip
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson

from dataprep import __version__, checks, excerpt, svg
from dataprep.findings import SEVERITY_RANK, Finding
from dataprep.images import OK, ImageCache, statistics
from dataprep.lengths import Lengths, merge
from dataprep.linter import LengthSetup, PackArgs, Summary, lint_paths
from dataprep.profile import Profile, overlap

EXAMPLES = 5  # per rule, with the record's text
PAGE = 50  # findings table rows per page (report.js reads it from the table)
SEVERITIES = ("error", "warning", "info")


@dataclass
class RuleEntry:
    code: str
    name: str
    severity: str
    summary: str
    doc: str
    count: int = 0
    examples: list[Finding] = field(default_factory=list)


@dataclass
class Findings:
    """Every finding, compactly, for the page's table; the first few per rule in full."""

    rules: dict[str, RuleEntry] = field(default_factory=dict)
    paths: dict[str, int] = field(default_factory=dict)  # path -> its number in the rows
    rows: list[list] = field(default_factory=list)
    records: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # with errors

    def add(self, f: Finding) -> None:
        entry = self.rules.get(f.name)
        if entry is None:
            module = checks.get(f.name)
            doc = (module.__doc__ or "").strip() if module else ""
            summary = doc.splitlines()[0] if doc else f.name
            entry = self.rules[f.name] = RuleEntry(f.code, f.name, f.severity, summary, doc)
        entry.count += 1
        if len(entry.examples) < EXAMPLES:
            entry.examples.append(f)
        number = self.paths.setdefault(f.path, len(self.paths))
        if f.record is not None and f.severity == "error":
            self.records[f.path].add(f.record)
        self.rows.append(
            [f.name, SEVERITIES.index(f.severity), number, f.line, f.field or "", f.message]
        )

    def tee(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        for f in findings:
            self.add(f)
            yield f

    def by_severity(self) -> Counter:
        counts: Counter = Counter()
        for entry in self.rules.values():
            counts[entry.severity] += entry.count
        return counts

    def ordered(self) -> list[RuleEntry]:
        return sorted(self.rules.values(), key=lambda e: (SEVERITY_RANK[e.severity], -e.count))


@dataclass
class Dataset:
    """One side of a report: what lint found, the lengths, the profile."""

    paths: list[str]
    summary: Summary
    findings: Findings
    profile: Profile
    images: ImageCache | None
    setup: LengthSetup | None

    @property
    def lengths(self) -> Lengths | None:
        parts = list(self.summary.lengths.values())
        return merge(parts) if parts else None


@dataclass(frozen=True)
class Places:
    """How the page names files: relative to the common folder of the inputs, a long name cut
    in its middle. The full path stays in each name's tooltip and in the findings JSON."""

    base: str
    longest: int = 60

    @classmethod
    def of(cls, *datasets: Dataset | None) -> Places:
        paths = {
            p
            for d in datasets
            if d is not None
            for p in (*d.paths, *(f.path for f in d.summary.files), *d.findings.paths)
        }
        folders = [os.path.dirname(os.path.abspath(p)) for p in paths]
        try:
            return cls(os.path.commonpath(folders) if folders else "")
        except ValueError:  # paths on different Windows drives have no common folder
            return cls("")

    def short(self, path: str) -> str:
        name = path
        if self.base:
            relative = os.path.relpath(os.path.abspath(path), self.base)
            if not relative.startswith(".."):
                name = relative
        if len(name) > self.longest:
            keep = self.longest - 1
            name = name[: keep * 2 // 5] + "…" + name[-(keep - keep * 2 // 5) :]
        return name


def collect(
    paths: list[str],
    pack: PackArgs,
    *,
    spec=None,
    setup: LengthSetup | None = None,
    images: ImageCache | None = None,
    info: str | None = None,
    against: Profile | None = None,
    keep_ngrams: bool = False,
) -> Dataset:
    """Lint `paths` once, recording findings, lengths and the profile for the report."""
    summary, found = Summary(), Findings()
    loaded = pack.load()
    profile = Profile(keep_ngrams=keep_ngrams, against=against, fix=fix_counter(loaded))
    stream = lint_paths(
        paths, loaded, summary, spec=spec, info=info, lengths=setup, images=images, observe=profile
    )
    for _ in found.tee(stream):
        pass
    return Dataset(paths, summary, found, profile, images, setup)


def fix_counter(pack) -> Callable:
    """(record, sample) -> the fixers `dataprep clean` would apply: the one function clean and
    build count with, so the report's counts are theirs."""
    from dataprep.engine import Plan
    from dataprep.fixers import Fixers, fixed_value

    plan, fixers = Plan(pack), Fixers.from_pack(pack)
    return lambda record, sample: fixed_value(record, sample, plan, fixers)[1]


class Recorder:
    """For `lint --report`: records what the lint run streams, then writes the report."""

    def __init__(self, pack) -> None:
        self.findings = Findings()
        self.profile = Profile(fix=fix_counter(pack))

    def tee(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        return self.findings.tee(findings)

    def dataset(self, paths, summary, images, setup) -> Dataset:
        return Dataset(paths, summary, self.findings, self.profile, images, setup)


# --- sections: one function each, one partial each (reports/sections/<name>.html.j2) --------


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
    packed = base64.b64encode(gzip.compress(orjson.dumps(payload), 6)).decode("ascii")
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


def render(data: Dataset, other: Dataset | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from dataprep.resources import reports_dir

    folder = reports_dir()
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["place"] = Places.of(data, other).short
    sections = []
    for name, title, build in SECTIONS:
        values = build(data, other)
        if values is not None:
            sections.append({"name": name, "title": title, "data": values})
    return env.get_template("report.html.j2").render(
        sections=sections,
        css=(folder / "report.css").read_text(encoding="utf-8"),
        js=(folder / "report.js").read_text(encoding="utf-8"),
        version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        title=", ".join(data.paths) + (f" vs {', '.join(other.paths)}" if other else ""),
    )


def write(path: str, data: Dataset, other: Dataset | None = None) -> int:
    """Write the report atomically; returns its size in bytes."""
    text = render(data, other).encode("utf-8")
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(text)
    tmp.replace(target)
    return len(text)


# --- helpers --------------------------------------------------------------------------------


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
