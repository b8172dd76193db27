"""Image checks on real files: the LLaMA-Factory demo images, and files Pillow makes here."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import dataprep.images as images_module
from dataprep.images import OK, TOO_LARGE, UNREADABLE, ImageCache, inspect, statistics
from dataprep.linter import Summary, lint_paths
from tests import media
from tests.conftest import REALWORLD, needs_shared

DATA = Path(__file__).parent / "data"


def _lint(paths, **kwargs):
    summary = Summary()
    found = list(lint_paths([str(p) for p in paths], None, summary, **kwargs))
    assert not summary.errors, summary.errors
    return found


def test_llamafactory_mllm_demo_has_no_image_findings():
    found = _lint([DATA / "mllm_demo.json"])
    assert [f for f in found if f.code.startswith("IM")] == []


def test_v1_demo_paths_resolve_against_the_repo_root(tmp_path):
    # v1 demos name "data/mllm_demo_data/1.jpg": relative to LLaMA-Factory's checkout.
    shutil.copytree(DATA / "mllm_demo_data", tmp_path / "data" / "mllm_demo_data")
    shutil.copy(DATA / "v1_multimodal_demo.jsonl", tmp_path / "data")
    data = tmp_path / "data" / "v1_multimodal_demo.jsonl"
    missing = [f for f in _lint([data]) if f.name == "missing-image"]
    assert len(missing) == 32
    assert "'mllm_demo_data/1.jpg' is: the paths are relative to another folder" in (
        missing[0].message
    )
    found = _lint([data], images=ImageCache(root=str(tmp_path)))
    assert [f for f in found if f.severity == "error"] == []


def test_each_file_is_opened_once_however_many_records_share_it(tmp_path, monkeypatch):
    media.make(tmp_path, "a.jpg", "jpeg 16x16")
    media.make(tmp_path, "b.png", "png 8x8")
    rows = [
        {"messages": [{"role": "user", "content": "<image>?"}, {"role": "assistant", "content": "A."}],
         "images": [name]}
        for name in ["a.jpg", "b.png", "./a.jpg", "missing.jpg"] * 25
    ]  # fmt: skip
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    opened = []
    real = images_module.inspect
    monkeypatch.setattr(images_module, "inspect", lambda p, **kw: opened.append(p) or real(p, **kw))
    found = _lint([data])
    assert sorted(p.name for p in opened) == ["a.jpg", "b.png", "missing.jpg"]
    assert [f.line for f in found if f.name == "missing-image"] == list(range(4, 101, 4))


def test_a_decompression_bomb_is_judged_from_its_header(tmp_path):
    path = media.make(tmp_path, "bomb.png", "bomb png 40000x40000")
    assert path.stat().st_size < 300_000
    info = inspect(path, decode=True)
    assert info.status == TOO_LARGE and "1,600,000,000 pixels" in info.detail
    # Under Pillow's own refusal limit, our limit still stops it before decoding.
    small_bomb = media.make(tmp_path, "b2.png", "bomb png 12000x12000")
    info = inspect(small_bomb, decode=True, max_pixels=50_000_000)
    assert info.status == TOO_LARGE and info.width == 12000


def test_header_only_mode_misses_truncation_that_decoding_finds(tmp_path):
    path = media.make(tmp_path, "half.jpg", "truncated jpeg 128x128")
    assert inspect(path, decode=False).status == OK
    assert inspect(path, decode=True).status == UNREADABLE


def test_statistics_of_readable_images(tmp_path):
    infos = [inspect(media.make(tmp_path, f"{i}.png", f"png {w}x{h}")) for i, (w, h) in
             enumerate([(10, 20), (30, 40), (50, 60)])]  # fmt: skip
    infos.append(inspect(DATA / "mllm_demo_data" / "1.jpg"))
    infos.append(inspect(DATA / "mllm_demo_data" / "1.jpg"))
    infos.append(inspect(media.make(tmp_path, "e.jpg", "empty")))
    stats = statistics(infos)
    assert stats["files"] == 5 and stats["duplicate_files"] == 1
    assert stats["formats"] == {"PNG": 3, "JPEG": 2}
    assert stats["width"]["min"] == 10


def test_cli_image_root_and_exit_codes(cli, tmp_path):
    media.make(tmp_path / "imgs", "cat.jpg", "jpeg 16x16")
    data = tmp_path / "sub" / "data.jsonl"
    data.parent.mkdir()
    record = {
        "messages": [
            {"role": "user", "content": "<image>?"},
            {"role": "assistant", "content": "A cat."},
        ],
        "images": ["imgs/cat.jpg"],
    }
    data.write_text(json.dumps(record) + "\n")
    code, out, _ = cli("lint", str(data))
    assert code == 1 and "missing-image" in out
    code, out, _ = cli("lint", str(data), "--image-root", str(tmp_path))
    assert code == 0, out
    code, _, err = cli("lint", str(data), "--image-root", str(tmp_path / "nope"))
    assert code == 2 and "is not a folder" in err


def test_clean_rejects_records_whose_images_fail_and_keeps_the_rest(cli, tmp_path):
    media.make(tmp_path, "ok.jpg", "jpeg 16x16")
    media.make(tmp_path, "empty.jpg", "empty")
    rows = [
        {"messages": [{"role": "user", "content": "<image>?"},
                      {"role": "assistant", "content": "A."}], "images": [name]}
        for name in ["ok.jpg", "gone.jpg", "empty.jpg", "/etc/passwd", "ok.jpg"]
    ]  # fmt: skip
    rows[4]["messages"][1]["content"] = "B."
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, rejects = tmp_path / "out" / "clean.jsonl", tmp_path / "out" / "rejects.jsonl"
    (tmp_path / "out").mkdir()
    code, _, err = cli("clean", str(data), "-o", str(out), "--rejects", str(rejects))
    assert code == 0, err
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["messages"][1]["content"] for r in kept] == ["A.", "B."]
    why = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["line"], r["rules"]) for r in why] == [
        (2, ["missing-image"]),
        (3, ["unreadable-image"]),
        (4, ["image-outside-root"]),
    ]


@needs_shared
def test_llava_scienceqa_reports_exactly_its_absent_images():
    # SOURCE.md: 2,017 records reference "<id>/image.png"; the images are not included.
    found = _lint([REALWORLD / "llava_scienceqa_test" / "llava_test_CQM-A.json"])
    missing = [f for f in found if f.name == "missing-image"]
    assert len(missing) == 2017 and all(f.field == "image" for f in missing)
    assert [f for f in found if f.severity == "error" and f.name != "missing-image"] == []


def test_training_loads_images_through_the_same_checks(tmp_path):
    """images.load (LLaVA's loader) decodes to RGB, and refuses what inspect refuses."""
    good = images_module.load(media.make(tmp_path, "ok.png", "png 40x30"))
    assert good.mode == "RGB" and good.size == (40, 30)
    bomb = images_module.load(media.make(tmp_path, "bomb.png", "bomb png 40000x40000"))
    assert bomb.status == TOO_LARGE and "decompression bomb" in bomb.detail
    cut = images_module.load(media.make(tmp_path, "cut.jpg", "truncated jpeg 64x64"))
    assert cut.status == UNREADABLE
    missing = images_module.load(tmp_path / "nowhere.png")
    assert missing.status == "missing"


def _hostile_root(tmp_path: Path) -> dict[str, str]:
    """An image root holding everything that is not a regular file: reference -> expected kind."""
    import socket

    root = tmp_path / "images"
    root.mkdir()
    os.mkfifo(root / "fifo.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.png"))
    sock.close()
    (root / "folder.png").mkdir()
    os.symlink("fifo.jpg", root / "link-to-fifo.jpg")
    expected = {
        "fifo.jpg": "a FIFO, not a file",
        "sock.png": "a socket, not a file",
        "folder.png": "a directory, not a file",
        "link-to-fifo.jpg": "a FIFO, not a file",
    }
    try:  # a character device inside the root (needs CAP_MKNOD; root in CI)
        os.mknod(root / "zero.jpg", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        expected["zero.jpg"] = "a character device, not a file"
    except (PermissionError, OSError):
        pass
    os.symlink("/dev/zero", root / "dev-link.jpg")  # resolves outside the root: never opened
    return expected


def _lint_in_a_subprocess(data: Path, select: str) -> list[dict]:
    """`dataprep lint --format json` with a time limit: the old code blocked forever on a FIFO."""
    done = subprocess.run(
        [sys.executable, "-m", "dataprep", "lint", str(data), "--format", "json",
         "--select", select],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()]


def _one_image_rows(names) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": "<image>What is it?"},
                      {"role": "assistant", "content": "A thing."}], "images": [name]}
        for name in names
    ]  # fmt: skip


def test_fifos_sockets_devices_and_folders_are_reported_never_opened(tmp_path, cli):
    expected = _hostile_root(tmp_path)
    root = tmp_path / "images"
    for name, kind in expected.items():
        info = inspect(root / name)
        assert (info.status, info.detail) == (UNREADABLE, kind), name
        assert images_module.load(root / name).status == UNREADABLE  # training's loader
    data = tmp_path / "images" / "data.jsonl"
    rows = _one_image_rows([*expected, "dev-link.jpg"])
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = _lint_in_a_subprocess(data, "unreadable-image,image-outside-root")
    by_line = {f["line"]: f for f in found}
    for line, name in enumerate(expected, 1):
        assert by_line[line]["name"] == "unreadable-image"
        assert expected[name] in by_line[line]["message"]
        assert by_line[line]["fix"].startswith("put the image file itself at this path")
    assert by_line[len(expected) + 1]["name"] == "image-outside-root"
    report = tmp_path / "report.html"
    code, _, err = cli("report", str(data), "-o", str(report))
    assert code in (0, 1), err
    assert "a FIFO, not a file" in report.read_text()
    rows.append(_one_image_rows(["ok.png"])[0])
    media.make(root, "ok.png", "png 8x8")
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = cli("build", str(data), "--out", str(tmp_path / "build"), "--cutoff-len", "256")
    assert code == 0, err
    rejects = [json.loads(line) for line in (tmp_path / "build" / "rejects.jsonl").open()]
    assert [r["rules"] for r in rejects] == [["unreadable-image"]] * len(expected) + [
        ["image-outside-root"]
    ]


def test_ten_thousand_fifo_paths_lint_in_seconds(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    names = [f"f{i:05d}.jpg" for i in range(10_000)]
    for name in names:
        os.mkfifo(root / name)
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _one_image_rows(names)))
    found = _lint_in_a_subprocess(data, "unreadable-image")
    assert len(found) == 10_000
    assert all("a FIFO, not a file" in f["message"] for f in found)
