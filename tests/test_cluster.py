"""`--executor ray`: the same findings as a local run, from tasks on a local Ray instance.

Each test runs the CLI in a child process, which starts its own local Ray instance with this
machine's cores (2 on CI), as a user's first run does.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dataprep import chunks, readers

pytest.importorskip("ray", reason="Ray is the optional [ray] extra")

ROOT = Path(__file__).resolve().parents[1]
CHUNK = "6K"  # small work units: the big file becomes many tasks, duplicates straddle them


def _corpus(folder: Path) -> Path:
    """A folder of what people lint: a large JSONL whose copies, near-copies and conflicting
    answers lie far from their originals, a gzip, a JSON array, DPO pairs and a sharegpt file."""
    folder.mkdir()
    for name in ("chat_sharegpt.jsonl", "dpo_pairs.jsonl", "content_mixed.jsonl"):
        shutil.copy(ROOT / "examples" / name, folder / name)
    shutil.copy(ROOT / "tests" / "data" / "identity.json", folder / "identity.json")
    rng = random.Random(7)
    words = ["the", "a", "model", "answer", "data", "train", "token", "river", "stone", "light"]
    records = []
    for i in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 30)))
        records.append({"instruction": f"Question {i}: {text}?", "input": "", "output": text})
    late = []
    for i in rng.sample(range(100), 30):
        original = records[i]
        late.append(dict(original))  # an exact copy, hundreds of lines later
        late.append({**original, "output": original["output"] + " Indeed."})  # near / conflicting
    late.append({"instruction": "Broken", "output": ""})
    big = [*records, *late]
    rng.shuffle(late)
    lines = [json.dumps(r) for r in big]
    lines.insert(250, '{"instruction": "cut off", "output": ')
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    with gzip.open(folder / "small.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records[:50] + records[:5])
    return folder


def _dataprep(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dataprep", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return _corpus(tmp_path_factory.mktemp("cluster") / "data")


@pytest.fixture(scope="module")
def local(corpus) -> subprocess.CompletedProcess:
    return _dataprep("lint", corpus, "--format", "json", "--jobs", "1")


def test_the_big_file_is_many_tasks(corpus):
    source = readers.Source(str(corpus / "big.jsonl"), corpus / "big.jsonl", "json")
    assert chunks.splittable(source, readers.file_size(source), minimum=0)
    assert len(chunks.bounds(source, 2, 6 << 10)) - 1 >= 8


def test_ray_finds_what_a_local_run_finds(corpus, local):
    ray = _dataprep("lint", corpus, "--format", "json", "--executor", "ray", "--chunk-size", CHUNK)
    assert ray.returncode == local.returncode == 1, ray.stderr
    assert ray.stdout == local.stdout
    found = [json.loads(line) for line in ray.stdout.splitlines()]
    names = {f["name"] for f in found}
    assert {"exact-duplicate", "near-duplicate", "conflicting-duplicate", "invalid-json"} <= names
    # Copies found across tasks: the original lies thousands of bytes (several tasks) before.
    big = (corpus / "big.jsonl").read_text().splitlines(keepends=True)
    offset = [0]
    for line in big:
        offset.append(offset[-1] + len(line.encode()))
    far = [
        f
        for f in found
        if f["name"] == "exact-duplicate" and f["path"].endswith("big.jsonl")
        and offset[f["line"] - 1] - offset[int(f["message"].split()[-1]) - 1] > 6 << 10
    ]  # fmt: skip
    assert len(far) >= 20


def test_the_text_summary_is_the_same(corpus):
    local = _dataprep("lint", corpus, "--jobs", "1", "--no-progress")
    ray = _dataprep("lint", corpus, "--executor", "ray", "--chunk-size", CHUNK, "--no-progress")
    assert ray.stdout == local.stdout
    assert "records in 6 files" in ray.stdout


def test_a_killed_task_is_retried_and_the_result_is_the_same(corpus, local, tmp_path):
    marker = tmp_path / "killed"
    ray = _dataprep(
        "lint", corpus, "--format", "json", "--executor", "ray", "--chunk-size", CHUNK,
        env={"DATAPREP_RAY_FAULT": str(marker)},
    )  # fmt: skip
    assert marker.exists(), "no task was killed"
    assert ray.returncode == 1, ray.stderr
    assert ray.stdout == local.stdout
    assert "retried" in ray.stderr or "retries" in ray.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lint_on_a_cluster_started_with_ray_start(corpus, local, tmp_path):
    """A head node started as a user starts one (`ray start --head`), joined by address."""
    ray_cli = Path(sys.executable).with_name("ray")
    port = _free_port()
    started = subprocess.run(
        [ray_cli, "start", "--head", "--port", str(port), "--num-cpus", "2",
         "--include-dashboard", "false", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        ray = _dataprep(
            "lint", corpus, "--format", "json", "--executor", "ray", "--chunk-size", CHUNK,
            "--address", f"127.0.0.1:{port}",
        )  # fmt: skip
    finally:
        subprocess.run([ray_cli, "stop"], capture_output=True, timeout=120)
    assert ray.returncode == 1, ray.stderr
    assert ray.stdout == local.stdout


def test_bad_flags_and_addresses_are_refused_clearly(corpus):
    address = _dataprep("lint", corpus, "--address", "auto")
    assert address.returncode == 2
    assert "need --executor ray" in address.stderr
    nobody = _dataprep(
        "lint", corpus, "--executor", "ray", "--address", f"127.0.0.1:{_free_port()}"
    )
    assert nobody.returncode == 2
    assert "no Ray cluster answers at 127.0.0.1:" in nobody.stderr
    assert "Traceback" not in nobody.stderr


RAY = ("--executor", "ray", "--chunk-size", CHUNK)


def test_token_lengths_and_baselines_on_ray_are_those_of_a_local_run(corpus, tmp_path):
    """What needs every record (lengths and their findings, record hashes) is collected by
    the tasks and merged in file order."""
    lengths = ("--lengths", "--cutoff-len", "64", "--no-progress")
    local = _dataprep("lint", corpus, *lengths, "--jobs", "1")
    ray = _dataprep("lint", corpus, *lengths, *RAY)
    assert ray.returncode == local.returncode == 1, ray.stderr
    assert ray.stdout == local.stdout
    assert "exceeds-cutoff" in ray.stdout and "p95" in ray.stdout
    here, there = tmp_path / "local.json", tmp_path / "ray.json"
    assert _dataprep("lint", corpus, "--write-baseline", here).returncode == 0
    assert _dataprep("lint", corpus, "--write-baseline", there, *RAY).returncode == 0
    assert there.read_bytes() == here.read_bytes()
    again = _dataprep("lint", corpus, "--baseline", there, "--format", "json", *RAY)
    assert again.returncode == 0 and again.stdout == "", again.stderr


def _undated(html: str) -> str:
    import re

    return re.sub(r"\d{4}-\d\d-\d\d[ T][\d:]+", "", html)


def test_the_report_on_ray_is_the_report_of_a_local_run(corpus, tmp_path):
    here, there = tmp_path / "local.html", tmp_path / "ray.html"
    examples = ROOT / "examples" / "dpo_clean.jsonl"
    local = _dataprep("report", corpus, "-o", here, "--against", examples)
    ray = _dataprep("report", corpus, "-o", there, "--against", examples, *RAY)
    assert local.returncode == ray.returncode == 0, ray.stderr
    assert _undated(there.read_text()) == _undated(here.read_text())
    html = there.read_text()
    assert "near-duplicate" in html and "<h2>Token lengths" in html and "<h2>Duplicates" in html


# --- dataprep build --executor ray -------------------------------------------------------------

BUILD = ("--cutoff-len", "256", "--shard-size", "40")  # 12 shards; copies lie shards apart


def _build(corpus: Path, out: Path, *flags: str, env: dict | None = None):
    return _dataprep("build", corpus / "big.jsonl", "--out", out, *BUILD, *flags, env=env)


def _assert_same_build(a: Path, b: Path) -> None:
    """The same shards byte for byte, the same rejects, the same manifest (but the times the
    inputs' hashes were taken)."""
    shards = sorted(p.relative_to(a) for p in a.rglob("*.arrow"))
    assert len(shards) >= 8
    assert shards == sorted(p.relative_to(b) for p in b.rglob("*.arrow"))
    for shard in shards:
        assert (a / shard).read_bytes() == (b / shard).read_bytes(), shard
    assert (a / "rejects.jsonl").read_bytes() == (b / "rejects.jsonl").read_bytes()
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    ma.pop("hashes"), mb.pop("hashes")
    assert ma == mb
    assert not list(b.rglob(".tasks"))


@pytest.fixture(scope="module")
def local_build(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "build"
    done = _build(corpus, out)
    assert done.returncode == 0, done.stderr
    rejected = json.loads((out / "manifest.json").read_text())["counts"]["rejected"]
    assert rejected.get("exact-duplicate", 0) >= 30  # copies of records many shards before
    return out


def test_ray_builds_the_same_shards_with_a_killed_task(corpus, local_build, tmp_path):
    marker = tmp_path / "killed"
    done = _build(corpus, tmp_path / "ray", "--executor", "ray",
                  env={"DATAPREP_RAY_FAULT": str(marker)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert marker.exists(), "no task was killed"
    _assert_same_build(local_build, tmp_path / "ray")
    check = _dataprep("build", "--check", tmp_path / "ray")
    assert check.returncode == 0, check.stderr


def test_ray_builds_the_same_shards_with_auto_cutoff(corpus, tmp_path):
    auto = ("--cutoff-len", "auto")
    local = _build(corpus, tmp_path / "local", *auto)
    ray = _build(corpus, tmp_path / "ray", *auto, "--executor", "ray")
    assert local.returncode == ray.returncode == 0, ray.stderr
    _assert_same_build(tmp_path / "local", tmp_path / "ray")


def test_a_ray_build_killed_midway_resumes_from_its_finished_shards(corpus, tmp_path):
    import signal
    import time

    out = tmp_path / "build"
    flags = ("--shard-size", "8")  # 58 shards: the kill lands mid-build
    command = [sys.executable, "-m", "dataprep", "build", str(corpus / "big.jsonl"), "--out",
               str(out), "--cutoff-len", "256", *flags, "--executor", "ray"]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("build.partial-*/shard-*.json")):
        assert driver.poll() is None and time.monotonic() < deadline, "the build ended first"
        time.sleep(0.01)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(2)  # tasks the dying driver left running end with their job
    (partial,) = tmp_path.glob("build.partial-*")
    finished = sorted(partial.glob("shard-*.json"))
    assert finished and not out.exists()
    kept = {p: p.stat().st_mtime_ns for p in partial.glob("train/data-*.arrow")
            if (partial / f"shard-{p.stem.split('-')[1]}.json").exists()}  # fmt: skip
    assert kept
    again = _dataprep(*command[3:])
    assert again.returncode == 0, again.stderr
    for path, mtime in kept.items():  # replayed, not built again
        assert (out / "train" / path.name).stat().st_mtime_ns == mtime
    local = _dataprep("build", corpus / "big.jsonl", "--out", tmp_path / "local", "--cutoff-len",
                      "256", *flags)  # fmt: skip
    assert local.returncode == 0, local.stderr
    _assert_same_build(tmp_path / "local", out)
