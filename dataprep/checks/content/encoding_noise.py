r"""Broken text encoding: U+FFFD replacement characters, mojibake (`â€™`, `Ã©`), control or zero-width characters.

Why it hurts training:
    Text that went through the wrong codec teaches the model garbage tokens: `â€™` where an
    apostrophe belongs, `�` where a Chinese character was lost. Control characters and
    zero-width spaces are invisible in editors but split words in the tokenizer.

Bad:
    {"instruction": "Quote him.", "input": "", "output": "He said: â€œIt’s fine.â€\u009d"}
    {"instruction": "病人应该注意什么？", "input": "", "output": "多喝水，注意休\ufffd\ufffd。"}

Good:
    {"instruction": "Quote him.", "input": "", "output": "He said: “It’s fine.”"}

Options:
    zero_width: also report zero-width characters inside text.

Fix:
    Re-decode the source with the right codec (e.g. `ftfy.fix_text`), drop lost characters, and
    remove control and zero-width characters (`dataprep clean` removes the last two).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import Sample
from dataprep.text import ZERO_WIDTH, snippet

CODE = "CT08"
NAME = "encoding-noise"
FORMATS = ("*",)
KINDS = ("*",)

_CONT = "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e\u2020\u2021\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
# UTF-8 read as Latin-1/cp1252: a lead byte (Â Ã, or â..ï) followed by continuation bytes.
MOJIBAKE = re.compile(f"[\u00c2\u00c3][{_CONT}]|[\u00e2-\u00ef][{_CONT}]{{2}}")
LEAD = re.compile("[\u00c2\u00c3\u00e2-\u00ef]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ZW = re.compile(f"[{ZERO_WIDTH}]")


@dataclass(frozen=True)
class Options:
    zero_width: bool = True


def _find(text: str, opts: Options) -> tuple[str, re.Match[str]] | None:
    if text.isascii():
        match = CONTROL.search(text)
        return ("control character", match) if match else None
    if "\ufffd" in text:
        i = text.index("\ufffd")
        return "U+FFFD replacement character", re.compile("\ufffd+").search(text, i)  # type: ignore[return-value]
    if LEAD.search(text):  # a one-class scan before the full mojibake pattern
        match = MOJIBAKE.search(text)
        if match:
            return "mojibake", match
    match = CONTROL.search(text)
    if match:
        return "control character", match
    if opts.zero_width:
        match = ZW.search(text)
        if match:
            return "zero-width character", match
    return None


def prefilter(opts: Options):
    """Texts with a control, replacement, zero-width or mojibake lead character."""
    from dataprep import columns as col

    return col.text.str.contains(
        rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x{{fffd}}\x{{c2}}\x{{c3}}\x{{e2}}-\x{{ef}}{col.ZERO_WIDTH_CLASS}]"
    )


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    texts = [(t.field, t.content) for t in sample.messages + sample.chosen + sample.rejected]
    if sample.system:
        texts.append(("system", sample.system))
    for field, text in texts:
        if not text:
            continue
        found = _find(text, opts)
        if found is not None:
            what, match = found
            yield Hit(
                field,
                f"{what} {match.group(0)!r}: {snippet(text, match.start(), match.end())}",
                "re-decode the source with the right codec; remove control and zero-width characters",
            )
