"""`--jobs N` splits a JSONL file into byte ranges; the output equals a serial run."""

from __future__ import annotations

import json
import random

from dataprep import chunks, linter, readers


def _file(tmp_path, n=6000):
    rng = random.Random(1)
    lines = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.9:
            lines.append(
                json.dumps(
                    {"instruction": f"q{i}", "input": "", "output": "a" * rng.randint(1, 300)}
                )
            )
        elif kind < 0.93:
            lines.append('{"instruction": "broken", "output": ')
        elif kind < 0.95:
            lines.append("")
        elif kind < 0.97:
            lines.append(json.dumps({"conversations": [{"from": "human", "value": "hi"}]}))
        else:
            lines.append(json.dumps({"instruction": f"q{i}"}))
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parallel_equals_serial(tmp_path, monkeypatch):
    path = _file(tmp_path)
    monkeypatch.setattr(chunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 50_000)  # many chunks, boundaries everywhere
    serial_summary, parallel_summary = linter.Summary(), linter.Summary()
    serial = list(linter.lint_paths([str(path)], None, serial_summary))
    parallel = list(linter.lint_paths([str(path)], None, parallel_summary, jobs=2))
    assert len(serial) > 100
    assert parallel == serial
    assert parallel_summary.records == serial_summary.records
    assert parallel_summary.files[0].formats == serial_summary.files[0].formats
    assert parallel_summary.files[0].first == serial_summary.files[0].first
    assert any(f.name == "mixed-format" for f in parallel)


def test_cli_jobs_output_is_identical(tmp_path, cli, monkeypatch):
    path = _file(tmp_path, 3000)
    monkeypatch.setattr(chunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 40_000)
    assert cli("lint", path, "--format", "json", "--jobs", "2") == cli(
        "lint", path, "--format", "json"
    )


def test_parallel_equals_serial_for_pairs_and_images(tmp_path, monkeypatch):
    from tests import media

    media.make(tmp_path, "ok.jpg", "jpeg 8x8")
    media.make(tmp_path, "empty.jpg", "empty")
    rng = random.Random(2)
    lines = []
    for i in range(3000):
        if i % 2:
            image = rng.choice(["ok.jpg", "empty.jpg", "gone.jpg", "../x.jpg"])
            lines.append(
                {"messages": [{"role": "user", "content": "<image>What?"},
                              {"role": "assistant", "content": f"Thing {i}."}],
                 "images": [image],
                 "videos": [rng.choice(["v.mp4", "https://e.org/v.mp4"])] if i % 7 == 0 else []}
            )  # fmt: skip
        else:
            chosen = f"A full answer number {i}, with some detail to it."
            rejected = rng.choice([chosen, chosen[:20], "No.", f"Another answer {i}."])
            lines.append({"prompt": f"Question {i}?", "chosen": chosen, "rejected": rejected})
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    monkeypatch.setattr(chunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 40_000)
    serial = list(linter.lint_paths([str(path)], None, linter.Summary()))
    parallel = list(linter.lint_paths([str(path)], None, linter.Summary(), jobs=2))
    names = {f.name for f in serial}
    assert {"missing-image", "unreadable-image", "image-outside-root", "identical-pair"} <= names
    assert {"pair-prefix", "unchecked-media", "mixed-format", "missing-media"} <= names
    assert parallel == serial


def test_a_program_read_from_stdin_lints_in_one_process(tmp_path):
    # Spawned workers re-import the main module from its file; "<stdin>" has none, and a pool
    # of such workers used to respawn them forever. The file is big enough to be split.
    import subprocess
    import sys

    line = json.dumps({"instruction": "Name a colour.", "input": "", "output": "Blue. " * 40})
    path = tmp_path / "big.jsonl"
    path.write_text((line + "\n") * (chunks.MIN_PARALLEL_BYTES // len(line) + 10))
    script = (
        "from dataprep import linter\n"
        "summary = linter.Summary()\n"
        f"list(linter.lint_paths([{str(path)!r}], None, summary, jobs=2))\n"
        "print('records', summary.records)\n"
    )
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["records", str(chunks.MIN_PARALLEL_BYTES // len(line) + 10)]


def _copies_file(tmp_path):
    """Records whose copies, near-copies and other answers lie far from their originals."""
    rng = random.Random(3)
    words = ["river", "stone", "light", "model", "token", "green", "quick", "slow", "data"]
    records = []
    for i in range(600):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 40)))
        records.append({"instruction": f"Question {i}: {text}?", "input": "", "output": text})
    for i in rng.sample(range(300), 60):
        records.append(dict(records[i]))
        records.append({**records[i], "output": records[i]["output"] + " Indeed so."})
    path = tmp_path / "copies.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_partitioned_checks_reduce_to_what_finish_finds(tmp_path):
    """The cluster's shuffle (dataprep.cluster): each chunk's state cut by key into
    partitions, each partition reduced over every chunk, the results combined, gives the
    hits `finish` gives on the merged state, for any number of partitions; near-duplicate's
    combine scores its candidates on the rows it looks up in the chunks' states."""
    import copy
    import itertools

    from dataprep.checks.shape import LookupCheck, PartitionedCheck
    from dataprep.engine import Plan
    from dataprep.rulepack import load

    path = _copies_file(tmp_path)
    source = readers.Source(str(path), path, "json")
    plan = Plan(load(), batched=True)
    ctx = linter.FileContext(str(path), linter.FileStats(str(path)))
    ends = chunks.bounds(source, 9, 16 << 10)
    ranges = [chunks.lint_range(plan, source, ctx, a, b) for a, b in itertools.pairwise(ends)]
    assert len(ranges) >= 9
    offsets, lines, records = [], 0, 0
    for chunk in ranges:
        offsets.append((lines, records))
        lines, records = lines + chunk.lines, records + chunk.stats.records
    checked = set()
    for i, (setting, _) in enumerate(ranges[0].states):
        module = setting.module
        if not isinstance(module, PartitionedCheck):
            continue
        states = [r.states[i][1] for r in ranges]
        pieces = {n: [module.partition(s, n) for s in states] for n in (1, 2, 5)}
        whole = module.new_state(ctx)
        for state, offset in zip(copy.deepcopy(states), offsets, strict=True):
            module.merge(whole, state, offset)
        fetch = None
        if isinstance(module, LookupCheck):

            def lookup(wanted, module=module, states=states):
                return [module.lookup(states[c], local) for c, local in wanted]

            fetch = chunks.fetcher(offsets, records, lookup)
        expected = list(module.finish(whole, setting.options, ctx))
        assert len(expected) >= 20, module.NAME
        for n, cut in pieces.items():
            results = [
                module.reduce([(c[part], o) for c, o in zip(cut, offsets, strict=True)],
                              setting.options, ctx)
                for part in range(n)
            ]  # fmt: skip
            combined = list(module.combine(results, setting.options, ctx, fetch))
            assert combined == expected, (module.NAME, n)
        checked.add(module.NAME)
    assert checked == {"exact-duplicate", "near-duplicate", "conflicting-duplicate"}


def test_a_pack_given_as_an_object_is_the_pack_used_with_jobs(tmp_path, monkeypatch):
    """Workers rebuild packs from how they were loaded; one given as a Pack object cannot be
    rebuilt, so it lints in this process rather than with the default rules in workers."""
    from dataprep.rulepack import load

    path = _file(tmp_path)
    monkeypatch.setattr(chunks, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 50_000)
    found = list(linter.lint_paths([str(path)], load(select=["missing-field"]), jobs=2))
    assert found
    assert {f.name for f in found} == {"missing-field"}
