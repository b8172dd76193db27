r"""A line whose bytes are not valid UTF-8.

Why it hurts training:
    JSON text must be UTF-8. Tokenizers and `datasets` fail on the file, or a lenient reader
    replaces the bytes with U+FFFD and the model learns mojibake. Usually a file saved as GBK,
    GB18030 or Latin-1, or two files of different encodings concatenated.

Bad:
    {"instruction": "Translate: caf\xe9", "output": "coffee shop"}

Good:
    {"instruction": "Translate: café", "output": "coffee shop"}

Options:
    None.

Fix:
    Re-encode the file as UTF-8 (`iconv -f GB18030 -t UTF-8 in.jsonl > out.jsonl`), or fix or
    drop the reported lines.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA02"
NAME = "invalid-utf8"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "re-encode the file as UTF-8"


@dataclass(frozen=True)
class Options:
    pass
