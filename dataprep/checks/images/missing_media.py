r"""A record references a video or audio file that does not exist.

Why it hurts training:
    LLaMA-Factory opens every clip of a `videos` or `audios` column while preprocessing (PyAV
    and librosa): one missing file stops the run with a traceback. Paths resolve against the
    same root as images (`--image-root`, else the dataset_info.json folder, else the data
    file's folder).

Bad:
    {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A goal."}], "videos": ["clips/goal.mp4"]}

Good:
    {"messages": [{"role": "user", "content": "What happens in a football match?"}, {"role": "assistant", "content": "Two teams try to score."}]}

Options:
    None.

Fix:
    Copy the file to the path the record names, point `--image-root` at the folder the paths
    are relative to, or drop the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images._media import (  # noqa: F401 (merge, new_state, observe: the state)
    hits,
    merge,
    new_state,
    observe,
)
from dataprep.findings import Hit
from dataprep.images import MISSING

CODE = "IM09"
NAME = "missing-media"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    pass


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(state, ctx, MISSING, "copy the file there, set --image-root to the folder "
                    "the paths are relative to, or drop the record")  # fmt: skip
