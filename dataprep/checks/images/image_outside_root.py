r"""An image path that leads outside the image root: absolute, climbing with `..`, or a symlink out.

Why it hurts training:
    Data is untrusted input. A path such as `../../.ssh/id_rsa` or `/etc/passwd` makes the
    trainer read (and a report show) a file that is not part of the dataset; an absolute path
    also breaks as soon as the data moves to another machine. Such paths are never opened,
    only reported.

Bad:
    {"messages": [{"role": "user", "content": "<image>Describe it."}, {"role": "assistant", "content": "A key."}], "images": ["../../home/user/.ssh/id_rsa"]}
    {"messages": [{"role": "user", "content": "<image>Describe it."}, {"role": "assistant", "content": "A key."}], "images": ["/etc/passwd"]}

Good:
    file imgs/key.png: png 16x16
    {"messages": [{"role": "user", "content": "<image>Describe it."}, {"role": "assistant", "content": "A key."}], "images": ["imgs/key.png"]}

Options:
    None.

Fix:
    Store images under one folder, write paths relative to it and pass it as `--image-root`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataprep.checks.images import hits, merge, new_state, observe  # noqa: F401  (the rule's state)
from dataprep.findings import Hit
from dataprep.images import OUTSIDE

CODE = "IM02"
NAME = "image-outside-root"
FORMATS = ("*",)
KINDS = ("*",)
OBSERVES_PLAIN = False


@dataclass(frozen=True)
class Options:
    pass


def finish(state, opts: Options, ctx) -> Iterator[Hit]:
    yield from hits(
        state,
        ctx,
        OUTSIDE,
        "keep images under one folder, with paths relative to it (--image-root)",
    )
