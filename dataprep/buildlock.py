"""The lock that keeps two builders of one folder apart: the second one waits, then reuses.

Eight `torchrun` ranks that each run `train run dataset=data.jsonl`, or a user who reruns a
build in a second terminal, all aim at one `--out`. The first takes the lock and builds; the
others wait for it (saying once for whom: the pid and host written in the lock file) and then
find the finished build in the cache. The lock is the kernel's (`flock`), so a holder that was
killed (even with kill -9) has released it: a stale lock file is never a reason to wait.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dataprep.errors import DataprepError


def holder(path: Path) -> str:
    """Who holds (or last held) the lock, as the lock file says."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "another process"
    return f"pid {info['pid']} on {info.get('host', '?')}"


@contextmanager
def held(
    path: Path, timeout: float | None = None, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the lock at `path` for the block, waiting for it (at most `timeout` seconds)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # never truncated: the holder's pid is in it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = holder(path)
            if notify is not None:
                notify(f"waiting for the build by {who} to finish (lock {path})")
            _wait(fd, timeout, who, path)
        os.ftruncate(fd, 0)
        mine = {"pid": os.getpid(), "host": os.uname().nodename, "since": time.time()}
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _wait(fd: int, timeout: float | None, who: str, path: Path) -> None:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DataprepError(
                    f"the build by {who} still holds {path} after {timeout:g} s",
                    fix="wait for it to finish, raise --lock-timeout, or build elsewhere",
                ) from None
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)
