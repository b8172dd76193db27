"""The self-contained HTML data-quality report.

`collect()` runs one lint pass that also measures token lengths and profiles every record;
each section is one small function in `dataprep.report_sections` (data in, a dict or None out)
and one template partial in reports/sections/; `render()` puts them in
reports/report.html.j2 with Jinja2 autoescaping, CSS, JavaScript and SVG charts inline.
Dataset text is untrusted: it only ever reaches the page escaped, or as JSON that the page's
script writes with textContent.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from dataprep import __version__, checks
from dataprep.findings import SEVERITY_RANK, Finding
from dataprep.images import ImageCache
from dataprep.lengths import Lengths, merge
from dataprep.linter import LengthSetup, PackArgs, Summary, lint_paths
from dataprep.profile import Profile, fix_counter

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
    ray=None,
) -> Dataset:
    """Lint `paths` once, recording findings, lengths and the profile for the report (`ray`:
    a `dataprep.cluster.Ray` to lint on)."""
    summary, found = Summary(), Findings()
    profile = Profile(keep_ngrams=keep_ngrams, against=against, fix=fix_counter(pack.load()))
    stream = lint_paths(
        paths, pack, summary, spec=spec, info=info, lengths=setup, images=images,
        observe=profile, ray=ray,
    )  # fmt: skip
    for _ in found.tee(stream):
        pass
    return Dataset(paths, summary, found, profile, images, setup)


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
    from dataprep.report_sections import SECTIONS

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


def render_report(
    paths: list[str],
    *,
    against: list[str] | None = None,
    pack: PackArgs | None = None,
    setup: LengthSetup | None = None,
    spec=None,
) -> str:
    """The HTML report of data files, as `dataprep report` writes it: the default rule pack and
    token lengths with the bundled tokenizer unless `pack` and `setup` say otherwise;
    `against` another split (an eval set) to compare with. Unreadable files are left out and
    listed in the page's overview."""
    from dataprep.measure import length_setup

    pack = pack or PackArgs()
    setup = setup or length_setup()
    other = None
    if against:
        other = collect(against, pack, spec=spec, setup=setup, images=ImageCache(),
                        keep_ngrams=True)  # fmt: skip
    data = collect(paths, pack, spec=spec, setup=setup, images=ImageCache(),
                   against=other.profile if other else None)  # fmt: skip
    return render(data, other)
