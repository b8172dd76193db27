"""Real media files for tests, made with Pillow (and zlib for a header-honest PNG bomb).

`make(folder, name, description)` understands:
  "jpeg WxH" / "png WxH"      a valid image of that size
  "truncated jpeg WxH"        a valid JPEG cut to half its bytes
  "bomb png WxH"              a real 1-bit PNG of that size, all zeros, compressed to kilobytes
  "empty"                     zero bytes
  "text SOMETHING"            a text file (an HTML error page saved as .jpg, say)
  "symlink TARGET"            a symbolic link to TARGET (relative to the link's folder)
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image


def make(folder: Path, name: str, description: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    kind, _, rest = description.partition(" ")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text(rest)
    elif kind == "symlink":
        os.symlink(rest, path)
    elif kind == "truncated":
        fmt, size = rest.split()
        data = _image(fmt, size)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "bomb":
        path.write_bytes(bomb_png(*map(int, rest.split()[1].split("x"))))
    else:
        path.write_bytes(_image(kind, rest))
    return path


def _image(fmt: str, size: str) -> bytes:
    width, height = map(int, size.split("x"))
    # Noise-like content, so a truncated JPEG really loses scan data.
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buf = io.BytesIO()
    image.save(buf, format={"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG"}[fmt])
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG, every pixel black: tiny on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row * 1000) for _ in range(height // 1000))
    body += compressor.compress(row * (height % 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
