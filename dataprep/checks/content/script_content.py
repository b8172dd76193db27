r"""Script or style content in the text: `<script>`, `<style>`, `onerror=` handlers, `javascript:` URLs.

Why it hurts training:
    It is the worst kind of scrape residue: the model learns to emit executable markup in
    plain answers, and a report or UI that shows the data can run it. Code the task asks for
    (a JavaScript question) and code inside code blocks is not reported.

Bad:
    {"instruction": "Say hi.", "input": "", "output": "Hi!<script>track()</script>"}
    {"instruction": "Describe the image.", "input": "", "output": "<img src=x onerror=alert(1)> A cat."}

Good:
    {"instruction": "Write a JavaScript alert.", "input": "", "output": "```html\n<script>alert('hi')</script>\n```"}

Options:
    allow_when_asked: skip a record whose prompt mentions HTML, JavaScript, CSS or web pages.

Fix:
    Drop the script and style blocks and the handlers (`dataprep clean` does it), or the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.checks.content.html_markup import asked_for_markup
from dataprep.findings import Hit
from dataprep.sample import TEXT_ROLES, Sample
from dataprep.text import snippet, without_code

CODE = "CT05"
NAME = "script-content"
FORMATS = ("*",)
KINDS = ("*",)

SCRIPT = re.compile(
    r"<\s*(?:script|style)\b|<[a-z][^<>]*\son[a-z]{3,20}\s*=|\bjavascript\s*:|\bvbscript\s*:",
    re.I,
)


@dataclass(frozen=True)
class Options:
    allow_when_asked: bool = True


def prefilter(opts: Options):
    """Turns that hold the script pattern outside code, loosened to what Rust's regex reads the
    same way (no word boundaries; the letters IGNORECASE folds onto ASCII ones). The pattern
    only spans whitespace of any length, so a code span as one space changes no match. Every
    alternative needs a `<`, the letters `script` in some case or a folding letter: literal
    tests (Aho-Corasick) pick the rows the pattern then runs on, 3x cheaper than running it on
    all."""
    import polars as pl

    from dataprep import columns as col

    sp, letter = col.SPACE, f"[a-z{col.FOLDS}]"
    pattern = (
        rf"(?i:<{sp}*(?:script|style)|<{letter}[^<>]*{sp}on{letter}{{3,20}}{sp}*="
        rf"|(?:java|vb)script{sp}*:)|[{col.FOLDS}]"
    )
    full = (col.in_turns & col.text_role & col.prose.str.contains(pattern)).fill_null(False)
    maybe = (
        col.text.str.contains("<", literal=True)
        | col.text.str.contains_any(["script"], ascii_case_insensitive=True)
        | col.text.str.contains(f"[{col.FOLDS}]")
    ).fill_null(False)

    def select(frame: pl.DataFrame) -> np.ndarray:
        at = np.flatnonzero(frame.select(maybe).to_series().to_numpy())
        found = np.zeros(len(frame), dtype=bool)
        if len(at):
            found[at] = frame[at].select(full).to_series().to_numpy()
        return found

    return select


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    asked = None
    for turn in sample.messages + sample.chosen + sample.rejected:
        text = turn.content
        if not text or turn.role not in TEXT_ROLES:
            continue
        if "<" not in text and "script" not in text.lower():
            continue
        match = SCRIPT.search(without_code(text))
        if match is None:
            continue
        if asked is None:
            asked = opts.allow_when_asked and asked_for_markup(sample)
        if asked:
            return
        yield Hit(
            turn.field,
            f"script content {match.group(0)!r}: {snippet(text, match.start(), match.end())}",
            "remove script/style blocks and event handlers (dataprep clean does it)",
        )
