"""Small, fast text helpers shared by the content checks and the cleaner.

Everything here runs on every answer of every record, so each helper does its work in C
(str methods, compiled regexes) and bails out early on the common clean case.
"""

from __future__ import annotations

import re
import unicodedata

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZW_TABLE = str.maketrans("", "", ZERO_WIDTH)

# Character classes for Rust's regex (polars), where the engine's prefilters and batch keys
# must read text as Python does.
# Python's str.split() and str.strip() treat U+001C..U+001F as whitespace; Rust's \s does not.
SPACE = r"[\s\x1c-\x1f]"
# Every character str.isspace() holds true for (tests/test_engine.py checks it).
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
ZERO_WIDTH_CLASS = r"\x{200b}\x{200c}\x{200d}\x{2060}\x{feff}"
# The non-ASCII letters Python's re.IGNORECASE matches with ASCII ones (U+0130 U+0131 U+017F
# U+212A); Rust's case folding differs on some, so prefilters add them to ASCII classes.
FOLDS = r"\x{130}\x{131}\x{17f}\x{212a}"

_SPACE = re.compile(r"\s+")
# Fenced and inline code: what rules skip and fixers never touch (one definition for both).
CODE_SPAN = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.S)
CODE_SPAN_RUST = r"(?s)```.*?(?:```|\z)|`[^`\n]+`"  # the same, for polars (the engine)


def is_blank(text: str | None) -> bool:
    """None, empty, whitespace or zero-width characters only."""
    if not text:
        return True
    if not text.isspace() and not any(c in text for c in ZERO_WIDTH):
        return False
    return not text.translate(_ZW_TABLE).strip()


def squash(text: str) -> str:
    """Case-, width- and whitespace-insensitive form, for comparing texts."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text.translate(_ZW_TABLE))).strip().lower()


def without_code(text: str) -> str:
    """The text with fenced and inline code replaced by spaces (offsets kept)."""
    if "`" not in text:
        return text
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)


_NOT_LETTERS = bytes(c for c in range(128) if not chr(c).isalpha())


def cjk_share(text: str, limit: int = 2000) -> tuple[int, int]:
    """(wide characters, ASCII letters) in the first `limit` characters, counted in C.

    Wide characters are those of 3 or more UTF-8 bytes: CJK ideographs and punctuation (an
    accented Latin letter counts half), which is what telling Chinese from English needs.
    """
    head = text[:limit]
    letters = len(head.encode("ascii", "ignore").translate(None, _NOT_LETTERS))
    if head.isascii():
        return 0, letters
    return (len(head.encode("utf-8", "replace")) - len(head)) // 2, letters


def snippet(text: str, start: int, end: int, width: int = 30) -> str:
    """The match with a little context, on one line, for messages."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    body = text[left:right].replace("\n", "\\n").replace("\r", "\\r")
    return ("…" if left else "") + body + ("…" if right < len(text) else "")
