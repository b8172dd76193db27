"""A progress line on stderr for files that take more than a moment (only on a terminal)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

DELAY = 0.5  # seconds before the bar appears: quick files never show one
INTERVAL = 0.1


class Bar:
    """Call `for_file(path, size)` per file; the callback it returns takes bytes read so far."""

    def __init__(self, stream: TextIO = sys.stderr):
        self.stream = stream
        self.shown = False

    def for_file(self, path: str, size: int | None) -> Callable[[int], None]:
        start = time.monotonic()
        last = [0.0]

        def tick(done: int) -> None:
            now = time.monotonic()
            if now - start < DELAY or now - last[0] < INTERVAL:
                return
            last[0] = now
            rate = done / max(now - start, 1e-9) / 1e6
            if size:
                pct = min(100, done * 100 // size)
                filled = pct // 5
                bar = "█" * filled + "·" * (20 - filled)
                text = f"\r{path}  {bar} {pct:3d}%  {done / 1e6:,.0f}/{size / 1e6:,.0f} MB"
            else:
                text = f"\r{path}  {done / 1e6:,.0f} MB"
            self.stream.write(f"{text}  {rate:,.1f} MB/s\033[K")
            self.stream.flush()
            self.shown = True

        return tick

    def for_count(self, label: str) -> Callable[[int, int], None]:
        """A callback taking (items done, items in all), e.g. image files checked."""
        start = time.monotonic()
        last = [0.0]

        def tick(done: int, total: int) -> None:
            now = time.monotonic()
            if now - start < DELAY or (now - last[0] < INTERVAL and done < total):
                return
            last[0] = now
            rate = done / max(now - start, 1e-9)
            if total:
                pct = min(100, done * 100 // total)
                bar = "█" * (pct // 5) + "·" * (20 - pct // 5)
                text = f"{bar} {pct:3d}%  {done:,}/{total:,}"
            else:  # the total is not known in advance: count and rate
                text = f"{done:,}"
            self.stream.write(f"\r{label}  {text}  {rate:,.0f}/s\033[K")
            self.stream.flush()
            self.shown = True

        return tick

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
