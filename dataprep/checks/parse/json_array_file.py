"""The file is one JSON array rather than JSON Lines.

Why it hurts training:
    It works, but a JSON array must be read whole into memory before the first record is
    seen, one broken element makes most loaders reject the file, and it cannot be split across
    workers or streamed. JSONL (one object per line) streams, splits and appends.

Bad:
    [{"instruction": "Name a prime.", "output": "7"}, {"instruction": "Name a colour.", "output": "red"}]

Good:
    {"instruction": "Name a prime.", "output": "7"}
    {"instruction": "Name a colour.", "output": "red"}

Options:
    None.

Fix:
    Convert once: `python -c "import json,sys; [print(json.dumps(r, ensure_ascii=False)) for r
    in json.load(open(sys.argv[1]))]" data.json > data.jsonl`.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE = "PA08"
NAME = "json-array-file"
FORMATS = ("*",)
KINDS = ("*",)
FIX = "convert the file to JSONL (one object per line) for streaming and parallel reading"


@dataclass(frozen=True)
class Options:
    pass
