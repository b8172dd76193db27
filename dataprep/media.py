"""Video and audio files that multimodal records reference: located like images, and probed
by their container headers (the first bytes), never decoded.

Paths resolve against the same root as images (`--image-root`, else the dataset_info.json
folder, else the data file's folder) and never leave it (`images.locate`). A file is readable
when its header is that of a container LLaMA-Factory's video and audio loaders take (PyAV and
librosa/soundfile): MP4/MOV/M4A (ISO BMFF), Matroska/WebM, AVI, WAV, MP3/AAC, FLAC, Ogg, FLV,
MPEG-TS/PS. Headers say nothing of the streams inside: what this does not check is said once
per file by unchecked-media.
"""

from __future__ import annotations

import re
from pathlib import Path

from dataprep.images import OK, UNREADABLE, ImageInfo, _sniff, read_regular

HEAD = 512  # bytes read of each file


def container(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mp4/mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE"):
        return "avi" if head[8:12] == b"AVI " else "wav"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mpeg audio"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head[:1] == b"\x47" and head[188:189] == b"\x47":  # two 188-byte packets' sync bytes
        return "mpeg-ts"
    return None


def streams_checked() -> bool:
    """Whether PyAV is installed (`pip install 'llm-dataprep[media]'`): then each container is
    opened and its streams listed (nothing is decoded); else headers are all that is read."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def probe(path: Path) -> ImageInfo:
    """What one located file is: its container, or why it cannot be one."""
    data = read_regular(path, HEAD)
    if isinstance(data, ImageInfo):
        return data
    if not data:
        return ImageInfo(UNREADABLE, "empty file (0 bytes)")
    found = container(data)
    if found is None:
        return ImageInfo(UNREADABLE, f"not a video or audio container ({_sniff(data)})")
    if streams_checked():
        refused = _streams(path)
        if refused is not None:
            return ImageInfo(UNREADABLE, f"{found} header, but {refused}", format=found)
    return ImageInfo(OK, "", format=found)


def _streams(path: Path) -> str | None:
    """Why PyAV cannot list an audio or video stream in the file, or None."""
    import av

    try:
        with av.open(str(path)) as opened:
            if not any(s.type in ("video", "audio") for s in opened.streams):
                return "no video or audio stream in it"
    except (av.FFmpegError, OSError, ValueError) as exc:
        reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)).split(": '")[0]
        return f"PyAV cannot open it ({reason})"
    return None
