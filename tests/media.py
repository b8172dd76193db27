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
    elif kind in ("mp4", "m4a", "wav"):
        clip(path, kind)
    elif kind == "headless":  # a real container's first bytes, the rest cut off
        clip(path, rest)
        path.write_bytes(path.read_bytes()[:40])
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


def clip(path: Path, kind: str) -> Path:
    """A real, tiny media file: MP4 video (MPEG-4 part 2) or M4A audio (AAC), encoded by PyAV's
    FFmpeg, or WAV written by the standard library."""
    import wave

    if kind == "wav":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\x00\x00" * 800)
        return path
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4" if kind == "mp4" else "ipod") as out:
        if kind == "mp4":
            stream = out.add_stream("mpeg4", rate=5)
            stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
            for _ in range(3):
                pixels = np.random.randint(0, 255, (32, 32, 3), dtype=np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    out.mux(packet)
        else:
            stream = out.add_stream("aac", rate=16000)
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
