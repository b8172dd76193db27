r"""HTML tags or entities left in the text (`<div>`, `<br>`, `&nbsp;`, `&lt;nooutput&gt;`).

Why it hurts training:
    Scraped and machine-translated data keeps the markup of the page it came from; the model
    learns to write `<p>` and `&quot;` in plain-text answers. Markup the task asks for (an
    instruction about HTML) and markup inside code blocks is content, not residue, and is not
    reported; neither are generics like `List<Option>`, comparisons like `a < b > c`, the media
    placeholders `<image>`, `<video>`, `<audio>`, or tool results (a fetched page is data).

    Text written as entities is broken in any task, code included: `&lt;!DOCTYPE html&gt;` for
    an HTML page, `print(&quot;hi&quot;)`, `arr.forEach(n =&gt; …)`, `&lt;无输入&gt;` in
    backticks. The entities that escape markup and quotes (`&lt; &gt; &amp; &quot; &#39;`)
    are reported wherever the turn holds no raw markup (HTML source may escape a `<` in
    `<p>a &lt; b</p>`), unless the record is about entities or escaping itself.

Bad:
    {"instruction": "Name a colour.", "input": "", "output": "<p>Blue is a colour.</p>"}
    {"instruction": "输出“你好”。", "input": "", "output": "&lt;nooutput&gt;"}
    {"instruction": "Write an HTML page.", "input": "", "output": "&lt;!DOCTYPE html&gt;&lt;html&gt;…"}

Good:
    {"instruction": "Write an HTML paragraph that says hi.", "input": "", "output": "<p>Hi</p>"}
    {"instruction": "Declare a list in Java.", "input": "", "output": "Use List<Integer> xs = new ArrayList<>();"}
    {"instruction": "How do I show a < in HTML?", "input": "", "output": "Write the entity &lt; instead."}

Options:
    allow_when_asked: skip a record whose prompt mentions HTML, XML, markup or web pages.

Fix:
    Strip the markup to text and unescape the entities (`dataprep clean` does both, outside code;
    text written as entities it unescapes in code too).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.findings import Hit
from dataprep.sample import TEXT_ROLES, Sample, prompts
from dataprep.text import snippet, without_code

CODE = "CT04"
NAME = "html-markup"
FORMATS = ("*",)
KINDS = ("*",)

# <script> and <style> are script-content's (an error); listing them here would report twice.
TAG_NAMES = (
    "abbr|address|article|aside|blockquote|body|br|button|canvas|caption|center|cite|"
    "code|col|colgroup|dd|del|details|div|dl|dt|em|figcaption|figure|font|footer|form|h[1-6]|"
    "head|header|hr|html|iframe|img|input|ins|kbd|label|li|link|main|mark|meta|nav|noscript|"
    "ol|option|picture|pre|samp|section|select|small|source|span|strong|sub|summary|"
    "sup|svg|table|tbody|td|textarea|tfoot|th|thead|time|title|tr|ul|var"
)
# Right after an identifier, one-letter and capitalised names are generics (`List<a>`,
# `List<Option>`), not markup; `eat<br>` is markup all the same, and so is any closing tag
# (`bold</b>`): no generic opens with `</`.
TAG = re.compile(
    rf"(?:(?<![\w<])</?(?:[abipqu]|{TAG_NAMES})|(?<=\w)</(?:[abipqu]|{TAG_NAMES})"
    rf"|(?<=\w)<(?-i:{TAG_NAMES}))"
    r"(?:\s+[a-zA-Z_:][-\w:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s<>]+))?)*\s*/?>",
    re.I,
)
ENTITY = re.compile(
    r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|nbsp|lt|gt|amp|quot|apos|hellip|mdash|ndash|rsquo|lsquo|"
    r"rdquo|ldquo|copy|reg|trade|middot|bull|times|divide|euro|pound|yen|laquo|raquo|deg|"
    r"plusmn|frac12|para|sect|shy|ensp|emsp|thinsp|zwj|zwnj);"
)
# The entities that escape markup and quotes: text written with them stands for `<`, `"`, `&`.
ESCAPED = re.compile(r"&(?:lt|gt|amp|quot|apos|#0*(?:34|38|39|60|62)|#[xX]0*(?:22|26|27|3[cCeE]));")
ABOUT_ENTITIES = re.compile(
    r"\bentit(?:y|ies)\b|\b(?:un)?escap(?:e|ed|es|ing)\b|character reference|htmlspecialchars|"
    r"转义|字符实体|实体(?:编码|字符|引用|名称)|html ?实体",
    re.I,
)
ASKED = re.compile(
    r"html|xml|xhtml|\bsvg\b|markup|web ?page|\bcss\b|\bjsx\b|\bdom\b|\breact(?:\.?js)?\b|\bvue\b|"
    r"\bangular\b|bootstrap|jquery|javascript|\bphp\b|网页|前端|超文本",
    re.I,
)


@dataclass(frozen=True)
class Options:
    allow_when_asked: bool = True


def asked_for_markup(sample: Sample) -> bool:
    return any(t.content and ASKED.search(t.content) for t in prompts(sample)) or bool(
        sample.system and ASKED.search(sample.system)
    )


def about_entities(sample: Sample) -> bool:
    """The record talks about entities or escaping: its `&lt;` is the subject, not residue."""
    turns = sample.messages + sample.chosen + sample.rejected
    return any(t.content and ABOUT_ENTITIES.search(t.content) for t in turns) or bool(
        sample.system and ABOUT_ENTITIES.search(sample.system)
    )


def escaped_text(text: str) -> re.Match[str] | None:
    """The first markup-escaping entity of a text that holds no raw markup, code included."""
    if "&" not in text:
        return None
    match = ESCAPED.search(text)
    if match is None or ("<" in text and TAG.search(text)):
        return None
    return match


def prefilter(opts: Options):
    """Turns with a `<` before a letter or slash, or an `&` opening an entity, outside code
    (a code span becomes a space, which joins no `<` to a letter); or a markup-escaping
    entity anywhere."""
    from dataprep import columns as col

    pattern = rf"<[/a-zA-Z{col.FOLDS}]|&(?:#|[a-zA-Z][a-zA-Z0-9]*;)"
    found = col.prose.str.contains(pattern) | col.text.str.contains(ESCAPED.pattern)
    return col.in_turns & col.text_role & found


def check(sample: Sample, opts: Options) -> Iterator[Hit]:
    asked = about = None  # decided only when something is found: most records have no markup
    for turn in sample.messages + sample.chosen + sample.rejected:
        text = turn.content
        if not text or ("<" not in text and "&" not in text) or turn.role not in TEXT_ROLES:
            continue
        plain = without_code(text)
        match = TAG.search(plain) if "<" in plain else None
        kind = "HTML tag"
        if match is None and "&" in plain:
            match = ENTITY.search(plain)
            kind = "HTML entity"
        if match is not None:
            if asked is None:
                asked = opts.allow_when_asked and asked_for_markup(sample)
            if not asked:
                yield Hit(
                    turn.field,
                    f"{kind} {match.group(0)!r} in the text: "
                    f"{snippet(text, match.start(), match.end())}",
                    "strip the markup to plain text and unescape entities (dataprep clean does it)",
                )
                continue
        escaped = escaped_text(text)
        if escaped is not None:
            if about is None:
                about = about_entities(sample)
            if not about:
                entity = escaped.group(0)
                yield Hit(
                    turn.field,
                    f"HTML entity {entity!r} in place of {html.unescape(entity)!r} (text written "
                    "as entities is broken in any task, code included): "
                    f"{snippet(text, escaped.start(), escaped.end())}",
                    "unescape the entities (dataprep clean does it, in code too)",
                )
