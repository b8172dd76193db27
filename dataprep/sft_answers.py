"""The assistant answers of SFT data, read with the same readers and formats as linting."""

from __future__ import annotations

from dataprep import readers
from dataprep.errors import DataprepError
from dataprep.formats import normalise
from dataprep.records import UNPARSED
from dataprep.sample import answers


def read_answers(paths: tuple[str, ...] | list[str], limit: int) -> list[str]:
    """Up to `limit` answers, an even sample of all of them (every k-th, in file order)."""
    found: list[str] = []
    for source in readers.expand(list(paths)):
        for record in readers.read_source(source):
            if record.value is UNPARSED:
                continue
            sample, _ = normalise(record, None)
            if sample is None or sample.kind != "sft":
                continue
            found.extend(t.content for t in answers(sample) if t.content and t.content.strip())
    if not found and paths:
        raise DataprepError(
            "--sft data has no SFT answers", path=", ".join(paths), fix="name SFT data files"
        )
    step = max(1, -(-len(found) // limit))
    return found[::step][:limit]
