r"""Script or style content in the text: `<script>`, `<style>`, `onerror=` handlers, `javascript:` URLs.

Why it hurts training:
    It is the worst kind of scrape residue: the model learns to emit executable markup in
    plain answers, and a report or UI that shows the data can run it. Code the task asks for
    (a JavaScript question) and code inside code blocks is not reported, with one exception:
    an answer that explains in prose and then ends with a script element, handler or
    `javascript:` URL outside any code block. A task about HTML asks for an explanation, not
    for live script appended to it; answers that are wholly code, and code an answer
    introduces ("Here is the code:"), stay exempt.

Bad:
    {"instruction": "Say hi.", "input": "", "output": "Hi!<script>track()</script>"}
    {"instruction": "Describe the image.", "input": "", "output": "<img src=x onerror=alert(1)> A cat."}

    {"instruction": "What is the most basic element of HTML?", "input": "", "output": "The tag: <html> opens a document and </html> closes it. <script src=\"https://x.example/t.js\"></script>"}

Good:
    {"instruction": "Write a JavaScript alert.", "input": "", "output": "```html\n<script>alert('hi')</script>\n```"}
    {"instruction": "How do I add JavaScript to a page?", "input": "", "output": "Put it in a <script> element inside <head> or at the end of <body>."}

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

from dataprep.checks.content.html_markup import TAG, asked_for_markup
from dataprep.findings import Hit
from dataprep.sample import ASSISTANT, TEXT_ROLES, Sample
from dataprep.text import snippet, without_code

CODE = "CT05"
NAME = "script-content"
FORMATS = ("*",)
KINDS = ("*",)

SCRIPT = re.compile(
    r"<\s*(?:script|style)\b|<[a-z][^<>]*\son[a-z]{3,20}\s*=|\bjavascript\s*:|\bvbscript\s*:",
    re.I,
)


_CLOSE = re.compile(r"<\s*/\s*(?:script|style)\s*>", re.I)
_URL_REST = re.compile(r"[^\s\"'<>]*")
_CLOSING_TAGS = re.compile(r"<\s*/\s*[a-z][a-z0-9]*\s*>|[\"'>)\]]", re.I)
PROSE_LETTERS = 40  # letters of explanation before an appended script: a sentence or two


@dataclass(frozen=True)
class Options:
    allow_when_asked: bool = True


def _element_end(text: str, match: re.Match[str]) -> int | None:
    """Where the script element, handler's tag or `javascript:` URL a match opens ends; None
    for a `<script>` never closed or a tag never ended: a name in prose, not an element."""
    found = match.group(0).lower()
    if found.lstrip("< \t\n").startswith(("script", "style")):
        close = _CLOSE.search(text, match.end())
        return close.end() if close else None
    if found.startswith("<"):
        at = text.find(">", match.end())
        return at + 1 if at >= 0 else None
    return _URL_REST.match(text, match.end()).end()


def appended_script(plain: str) -> re.Match[str] | None:
    """Script content an answer ends with after an explanation in prose (`plain`: the answer
    with code blocks blanked). Not an answer that is wholly markup, one whose script is
    introduced as an example (the prose before it ends with a colon), or one whose text goes
    on after it (a mention: "put it in a <script> element inside <head>")."""
    found = list(SCRIPT.finditer(plain))
    last = found[-1] if found else None
    if last is None or plain.lstrip().startswith("<"):
        return None
    end = _element_end(plain, last)
    if end is None or _CLOSING_TAGS.sub("", plain[end:]).strip():
        return None
    before = plain[: last.start()].rstrip()
    if before.endswith((":", "：")):
        return None
    return last if sum(c.isalpha() for c in TAG.sub(" ", before)) >= PROSE_LETTERS else None


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
        plain = without_code(text)
        match = SCRIPT.search(plain)
        if match is None:
            continue
        if asked is None:
            asked = opts.allow_when_asked and asked_for_markup(sample)
        if not asked:
            yield Hit(
                turn.field,
                f"script content {match.group(0)!r}: {snippet(text, match.start(), match.end())}",
                "remove script/style blocks and event handlers (dataprep clean does it)",
            )
            continue
        appended = appended_script(plain) if turn.role == ASSISTANT else None
        if appended is not None:
            yield Hit(
                turn.field,
                f"script content {appended.group(0)!r} appended after the explanation (a task "
                f"about HTML asks for an explanation, not live script): "
                f"{snippet(text, appended.start(), appended.end())}",
                "remove the script, or put the code the task asks for in a code block",
            )
