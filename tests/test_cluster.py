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


def test_what_ray_cannot_do_yet_is_refused_clearly(corpus):
    lengths = _dataprep("lint", corpus, "--executor", "ray", "--lengths")
    assert lengths.returncode == 2
    assert "--executor ray does not yet measure token lengths" in lengths.stderr
    assert "Traceback" not in lengths.stderr
    address = _dataprep("lint", corpus, "--address", "auto")
    assert address.returncode == 2
    assert "need --executor ray" in address.stderr
    nobody = _dataprep(
        "lint", corpus, "--executor", "ray", "--address", f"127.0.0.1:{_free_port()}"
    )
    assert nobody.returncode == 2
    assert "no Ray cluster answers at 127.0.0.1:" in nobody.stderr
