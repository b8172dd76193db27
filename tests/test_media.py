"""Video and audio files: header probing with and without PyAV, and the demo data's clips."""

from __future__ import annotations

import json

from dataprep import media as probing
from dataprep.checks.images import unchecked_media
from dataprep.linter import Summary, lint_paths
from tests import media
from tests.conftest import LLAMAFACTORY, needs_shared


def _lint(tmp_path, rows, select):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from dataprep.linter import PackArgs

    return list(lint_paths([str(data)], PackArgs(select=tuple(select)), Summary()))


def _clip(name: str) -> dict:
    return {"messages": [{"role": "user", "content": "<video>What happens?"},
                         {"role": "assistant", "content": "A goal."}], "videos": [name]}  # fmt: skip


def test_real_clips_of_every_kind_are_readable(tmp_path):
    for kind in ("mp4", "m4a", "wav"):
        info = probing.probe(media.make(tmp_path, f"clip.{kind}", kind))
        assert info.status == "ok", (kind, info)
    assert probing.container(b"\x1a\x45\xdf\xa3" + b"\0" * 8) == "matroska/webm"
    assert probing.container(b"ID3\x04" + b"\0" * 8) == "mpeg audio"
    assert probing.container(b"<html><body>") is None
    # MPEG-TS is told by two sync bytes 188 apart: a short text starting with "G" is no video.
    assert probing.container(b"G" + b"\0" * 187 + b"G") == "mpeg-ts"
    assert probing.container(b"Goodbye, this is text.") is None


def test_without_pyav_headers_decide_and_the_run_says_so_once(tmp_path, monkeypatch):
    media.make(tmp_path, "cut.mp4", "headless mp4")
    rows = [_clip("cut.mp4"), _clip("cut.mp4")]
    with_pyav = _lint(tmp_path, rows, ["unreadable-media", "unchecked-media"])
    assert [f.name for f in with_pyav] == ["unreadable-media", "unreadable-media"]
    monkeypatch.setattr(probing, "streams_checked", lambda: False)
    monkeypatch.setattr(unchecked_media, "streams_checked", lambda: False)
    header_only = _lint(tmp_path, rows, ["unreadable-media", "unchecked-media"])
    assert [f.name for f in header_only] == ["unchecked-media"]  # the header is an MP4's
    assert "2 video/audio file references were checked by container header only" in (
        header_only[0].message
    )


@needs_shared
def test_llamafactory_video_and_audio_demos_pair_their_placeholders():
    """The demos' placeholders and clips pair up; the clips themselves are not in
    ../shared (only the three JPEGs were copied), which missing-media reports."""
    for name in ("mllm_video_demo.json", "mllm_audio_demo.json", "mllm_video_audio_demo.json"):
        found = list(lint_paths([str(LLAMAFACTORY / name)], None, Summary()))
        names = {f.name for f in found if f.severity == "error"}
        assert "media-token-mismatch" not in names
        assert names <= {"missing-media"}, names
