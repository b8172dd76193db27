"""Image files referenced by records: located safely inside a root, opened once, in threads.

Untrusted paths never escape: an absolute path, a `..` that climbs out of the root or a
symlink that points out of it is reported and never opened. Each distinct file is inspected
once however many records share it. Pillow reads the header first, so a decompression bomb
(a 40000x40000 PNG of a few KB) is caught from its declared size before any pixel is decoded;
full decoding (the default) then finds truncated and corrupt files.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataprep.engine import Plan

OK, MISSING, OUTSIDE, UNREADABLE, TOO_LARGE, REMOTE = (
    "ok",
    "missing",
    "outside",
    "unreadable",
    "too-large",
    "remote",
)
REMOTE_PATH = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|data:)")
# Pillow's own threshold for a decompression-bomb warning; above twice this it refuses to open.
DEFAULT_MAX_PIXELS = 89_478_485
_BOMB_SIZE = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class ImageInfo:
    """What one referenced file turned out to be."""

    status: str
    detail: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    bytes: int = 0
    digest: str = ""

    @property
    def pixels(self) -> int:
        return self.width * self.height


def locate(reference: str, root: Path) -> tuple[Path | None, ImageInfo | None]:
    """The file a reference names inside `root`, or why it may not be opened."""
    if REMOTE_PATH.match(reference):
        return None, ImageInfo(REMOTE, "a URL, not a local file: not checked")
    if not reference.strip():
        return None, ImageInfo(MISSING, "the image path is empty")
    if os.path.isabs(reference) or re.match(r"^[a-zA-Z]:[\\/]", reference):
        return None, ImageInfo(OUTSIDE, f"absolute path {reference!r}: paths must be relative")
    candidate = root / reference
    real_root = os.path.realpath(root)
    real = os.path.realpath(candidate)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        climbs = ".." in Path(reference).parts
        how = "climbs out of" if climbs else "is a symlink that points out of"
        return None, ImageInfo(OUTSIDE, f"{reference!r} {how} the image root {str(root)!r}")
    return Path(real), None


def inspect(path: Path, *, decode: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Open one file with Pillow: header first (size, bombs), then a full decode if asked."""
    return _open(path, decode, max_pixels)[1]


def load(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS):
    """The decoded image in RGB (training's loader), or the ImageInfo saying why not: the same
    header, bomb and size checks as `inspect`, so no training step decodes a bomb."""
    image, info = _open(path, True, max_pixels)
    if image is None:
        return info
    try:
        return image.convert("RGB")
    except (OSError, ValueError) as exc:
        return replace(info, status=UNREADABLE, detail=f"cannot be converted to RGB: {exc}")


def _open(path: Path, decode: bool, max_pixels: int):
    """(the decoded Pillow image or None, what was found)."""
    from PIL import Image, UnidentifiedImageError

    data = read_regular(path)
    if isinstance(data, ImageInfo):
        return None, data
    size = len(data)
    digest = hashlib.blake2b(data, digest_size=12).hexdigest()
    if not size:
        return None, ImageInfo(UNREADABLE, "empty file (0 bytes)", bytes=0, digest=digest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            found = _BOMB_SIZE.search(str(exc))
            pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
            return None, ImageInfo(
                TOO_LARGE, f"declares {pixels}: a decompression bomb", bytes=size, digest=digest
            )
        except UnidentifiedImageError:
            return None, ImageInfo(
                UNREADABLE, f"not an image Pillow can read ({_sniff(data)})", bytes=size
            )
        except (OSError, SyntaxError, ValueError) as exc:
            broken = ImageInfo(UNREADABLE, f"broken header: {exc}", bytes=size, digest=digest)
            return None, broken
        width, height = image.size
        info = ImageInfo(
            OK, "", width, height, image.mode, image.format or "", bytes=size, digest=digest
        )
        if width * height > max_pixels:
            pixels = f"{width}x{height} = {width * height:,} pixels (limit {max_pixels:,})"
            return None, replace(info, status=TOO_LARGE, detail=pixels)
        if not decode:
            return None, info
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            broken = f"{info.format or 'image'} does not decode: {exc}"
            return None, replace(info, status=UNREADABLE, detail=broken)
    return image, info


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_a_file(mode: int) -> ImageInfo | None:
    for test, kind in _KINDS:
        if test(mode):
            return ImageInfo(UNREADABLE, f"{kind}, not a file")
    return None if stat.S_ISREG(mode) else ImageInfo(UNREADABLE, "not a regular file")


def read_regular(path: Path, limit: int = -1) -> bytes | ImageInfo:
    """A regular file's bytes (its first `limit` bytes, if given), or why not. Nothing else is
    ever read: a FIFO would block the reader forever and a device never ends, so the type is
    checked before opening, the file is opened without blocking, and checked again on the
    open descriptor (it may have been swapped in between)."""
    try:
        refused = _not_a_file(os.stat(path).st_mode)
        if refused is not None:
            return refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return ImageInfo(MISSING, "no such file")
    except OSError as exc:
        return ImageInfo(UNREADABLE, f"cannot be read: {exc.strerror or exc}")
    try:
        refused = _not_a_file(os.fstat(fd).st_mode)
        if refused is not None:
            return refused
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    except OSError as exc:
        return ImageInfo(UNREADABLE, f"cannot be read: {exc.strerror or exc}")
    finally:
        os.close(fd)


def _sniff(data: bytes) -> str:
    head = data[:64].lstrip()
    if head[:1] in (b"<", b"{", b"["):
        return "looks like HTML/XML or JSON text"
    try:
        data[:256].decode("utf-8")
        return "looks like text"
    except UnicodeDecodeError:
        return f"starts with bytes {data[:8].hex(' ')}"


def image_root(root: str | None, data_path: str, info_path: str | None = None) -> Path:
    """Where a data file's image paths are relative to: --image-root, else the
    dataset_info.json folder (LLaMA-Factory's dataset_dir), else the data file's folder."""
    if root is not None:
        return Path(root)
    if info_path is not None:
        return Path(info_path).parent
    return Path(data_path).parent if data_path not in ("-", "<stdin>") else Path.cwd()


@dataclass
class ImageCache:
    """Settings for image checks in one run, and each distinct file's result, checked once."""

    root: str | None = None  # None: each data file's own folder
    decode: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    threads: int = 0  # 0: one per core, at least 4 (the work is mostly I/O and Pillow's C code)
    progress: Callable[[int, int], None] | None = None  # (files done, files to check)
    results: dict[str, ImageInfo] = field(default_factory=dict)
    media: dict[str, ImageInfo] = field(default_factory=dict)  # videos and audios, by path

    def __getstate__(self) -> dict:  # --jobs workers get the settings, not the callback
        return {**self.__dict__, "progress": None, "results": {}, "media": {}}

    def check_media(self, references: Iterable[str], root: Path) -> dict[str, ImageInfo]:
        """Each video or audio reference's result: located as images are, then its container
        header read (`dataprep.media.probe`), once per distinct file."""
        from dataprep.media import probe

        out: dict[str, ImageInfo] = {}
        for reference in set(references):
            path, verdict = locate(reference, root)
            if verdict is None:
                if str(path) not in self.media:
                    self.media[str(path)] = probe(path)
                verdict = self.media[str(path)]
            out[reference] = verdict
        return out

    def root_for(self, data_path: str, info_path: str | None = None) -> Path:
        return image_root(self.root, data_path, info_path)

    def check(self, references: Iterable[str], root: Path) -> dict[str, ImageInfo]:
        """Each reference's result (keyed by the reference as written)."""
        out: dict[str, ImageInfo] = {}
        todo: dict[str, list[str]] = {}
        for reference in set(references):
            path, verdict = locate(reference, root)
            if verdict is not None:
                out[reference] = verdict
            elif str(path) in self.results:
                out[reference] = self.results[str(path)]
            else:
                todo.setdefault(str(path), []).append(reference)
        if todo:
            workers = self.threads or max(4, os.cpu_count() or 1)
            done = 0
            with ThreadPoolExecutor(workers) as pool:
                paths = list(todo)
                results = pool.map(
                    lambda p: inspect(Path(p), decode=self.decode, max_pixels=self.max_pixels),
                    paths,
                )
                for path, info in zip(paths, results, strict=True):
                    self.results[path] = info
                    for reference in todo[path]:
                        out[reference] = info
                    done += 1
                    if self.progress is not None:
                        self.progress(done, len(paths))
        return out


def statistics(infos: Iterable[ImageInfo]) -> dict:
    """Sizes, modes, formats and duplicate files of the readable images (for the report)."""
    ok = [i for i in infos if i.status == OK]
    widths = sorted(i.width for i in ok)
    heights = sorted(i.height for i in ok)
    digests = Counter(i.digest for i in ok)

    def pct(values: list[int], p: float) -> int:
        return values[min(len(values) - 1, int(p * len(values)))] if values else 0

    return {
        "files": len(ok),
        "width": {"min": widths[0] if ok else 0, "p50": pct(widths, 0.5), "max": pct(widths, 1)},
        "height": {
            "min": heights[0] if ok else 0,
            "p50": pct(heights, 0.5),
            "max": pct(heights, 1),
        },
        "modes": dict(Counter(i.mode for i in ok).most_common()),
        "formats": dict(Counter(i.format for i in ok).most_common()),
        "bytes": sum(i.bytes for i in ok),
        "duplicate_files": sum(n - 1 for n in digests.values() if n > 1),
    }


IMAGE_FILE_RULES = ("missing-image", "image-outside-root", "unreadable-image", "image-too-large",
                    "missing-media", "media-outside-root", "unreadable-media")  # fmt: skip


def cache_for(plan: Plan, given: ImageCache | None) -> ImageCache | None:
    """A run's image cache (`given`, or a new one), set up from the active image rules'
    options (None: none active)."""
    active = {s.module.NAME: s for s in plan.dataset_rules if s.module.NAME in IMAGE_FILE_RULES}
    if not active:
        return None
    cache = given if given is not None else ImageCache()
    unreadable = active.get("unreadable-image")
    cache.decode = bool(unreadable and unreadable.options.decode)
    too_large = active.get("image-too-large")
    if too_large is not None:
        cache.max_pixels = too_large.options.max_pixels
    return cache
