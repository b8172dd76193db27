"""dataprep build: exact ids and labels, cutoff policies, the cache, atomic and resumable writes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from dataprep import buildcache, builder, encode, kto, templates, tokenizer
from dataprep.builder import Input, Options
from dataprep.lengths import rendered
from dataprep.linter import LengthSetup, PackArgs
from dataprep.rulepack import load
from dataprep.truncation import Encoded, truncate
from tests.conftest import LLAMAFACTORY, SHARED, needs_shared

QWEN = SHARED / "tokenizers" / "qwen2.5"
needs_qwen = pytest.mark.skipif(
    not (QWEN / "tokenizer.json").is_file(), reason="../shared/tokenizers/qwen2.5 is absent"
)


def _setup(name=None, image_tokens=None) -> LengthSetup:
    model = tokenizer.load(name)
    template = templates.resolve("auto", model.chat_template, model.special)
    return LengthSetup(model, template, False, image_tokens)


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def _build(tmp_path, rows_or_paths, out="out", setup=None, **options):
    paths = rows_or_paths
    if rows_or_paths and isinstance(rows_or_paths[0], dict):
        paths = [str(_write(tmp_path / "data.jsonl", rows_or_paths))]
    opts = Options(**{"cutoff_len": 4096, **options})
    return builder.build([Input(tuple(map(str, paths)))], str(tmp_path / out),
                       setup or _setup(), PackArgs(), opts)  # fmt: skip


def _rows(folder: Path, split="train") -> list[dict]:
    import datasets

    return list(datasets.load_from_disk(str(folder))[split])


def _kept_samples(paths):
    """The records a build keeps, as cleaned (the fixers may rewrite text), in order."""
    from dataprep import clean, readers
    from dataprep.fixers import Fixers
    from dataprep.linter import Plan

    pack = load()
    plan, fixers, seen = Plan(pack), Fixers.from_pack(pack), {}
    for source in readers.expand([str(p) for p in paths]):
        records = list(readers.read_source(source))
        results = clean.clean_records([(r, None, None) for r in records], plan, fixers, seen)
        for record, (kept, _, _, sample, _) in zip(records, results, strict=True):
            if kept is not None and sample is not None:
                yield record, sample


# LLaMA-Factory's demo files that build as SFT or pairs (KTO has tests of its own; video and
# audio are not built yet).
DEMO_FILES = [
    "alpaca_en_demo.json",
    "alpaca_zh_demo.json",
    "glaive_toolcall_en_demo.json",
    "glaive_toolcall_zh_demo.json",
    "reason_tool_use_demo_50.jsonl",  # v1 reasoning and tool-call parts
    "identity.json",
    "mllm_demo.json",
    "dpo_en_demo.json",
    "dpo_zh_demo.json",
]


@needs_shared
@needs_qwen
@pytest.mark.parametrize("name", DEMO_FILES)
def test_ids_equal_apply_chat_template_and_labels_are_exactly_the_answers(tmp_path, name):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(QWEN))
    path = LLAMAFACTORY / name
    result = _build(tmp_path, [path], setup=_setup(str(QWEN)), cutoff_len=100_000)
    rows = iter(_rows(result.out))
    checked = 0
    for record, sample in _kept_samples([path]):
        row = next(rows)
        sides = ("chosen_", "rejected_") if sample.kind == "dpo" else ("",)
        for side, (messages, tools) in zip(sides, rendered(sample), strict=True):
            want = reference.apply_chat_template(messages, tools=tools, tokenize=True)["input_ids"]
            ids, labels = row[f"{side}input_ids"], row[f"{side}labels"]
            assert ids == want, (name, record.line)
            # Labelled runs, decoded, are each answer followed by its end-of-turn token.
            runs, run = [], []
            for token, label in zip(ids, labels, strict=True):
                if label == -100:
                    if run:
                        runs.append(run)
                    run = []
                else:
                    assert label == token
                    run.append(token)
            if run:
                runs.append(run)
            answers = [m["content"] for m in messages if m["role"] == "assistant" and m["content"]]
            if sample.kind == "dpo":  # a pair's earlier answers are prompt: masked
                answers = answers[-1:]
            assert [reference.decode(r) for r in runs] == [a + "<|im_end|>" for a in answers]
        checked += 1
    assert checked > 5 and next(rows, None) is None


@needs_shared
@needs_qwen
@pytest.mark.parametrize("name", DEMO_FILES)
def test_fix_none_ids_equal_apply_chat_template_of_the_records_as_written(tmp_path, name):
    from transformers import AutoTokenizer

    from dataprep import readers
    from dataprep.formats import normalise

    reference = AutoTokenizer.from_pretrained(str(QWEN))
    path = LLAMAFACTORY / name
    result = _build(tmp_path, [path], setup=_setup(str(QWEN)), cutoff_len=100_000, fix="none")
    assert result.counts.fixed == Counter()
    rejected = {json.loads(line)["record"] for line in (result.out / "rejects.jsonl").open()}
    rows = iter(_rows(result.out))
    checked = 0
    for source in readers.expand([str(path)]):
        for record in readers.read_source(source):
            if record.index in rejected:
                continue
            sample, _ = normalise(record, None)
            row = next(rows)
            sides = ("chosen_", "rejected_") if sample.kind == "dpo" else ("",)
            for side, (messages, tools) in zip(sides, rendered(sample), strict=True):
                want = reference.apply_chat_template(messages, tools=tools, tokenize=True)
                assert row[f"{side}input_ids"] == want["input_ids"], (name, record.line)
            checked += 1
    assert checked > 5 and next(rows, None) is None
    assert checked + len(rejected) == result.counts.read


def test_truncate_answer_keeps_the_start_and_ends_with_eos(tmp_path):
    rows = [{"instruction": "Tell me about rain.", "input": "",
             "output": "Rain falls from clouds when droplets grow heavy. " * 40}]  # fmt: skip
    result = _build(tmp_path, rows, cutoff_len=64, truncation="truncate-answer")
    (row,) = _rows(result.out)
    eos = tokenizer.load(None).backend.token_to_id("<|im_end|>")
    assert len(row["input_ids"]) == 64 and row["input_ids"][-1] == eos
    assert row["labels"][-1] == eos and row["labels"][-2] != -100
    assert result.counts.truncated == {"answer cut": 1}


def test_truncate_prompt_keeps_the_answer_whole(tmp_path):
    answer = "Rain is water falling from clouds."
    rows = [{"instruction": "Read this and answer: " + "clouds and wind " * 60 + "What is rain?",
             "input": "", "output": answer}]  # fmt: skip
    result = _build(tmp_path, rows, cutoff_len=64, truncation="truncate-prompt")
    (row,) = _rows(result.out)
    model = tokenizer.load(None)
    labelled = [t for t in row["labels"] if t != -100]
    assert len(row["input_ids"]) == 64
    assert model.backend.decode(labelled, skip_special_tokens=False) == answer + "<|im_end|>"
    assert model.backend.decode(row["input_ids"], skip_special_tokens=False).startswith(
        "<|im_start|>system\n"
    )


def test_drop_and_prompt_too_long_are_rejected_with_reasons(tmp_path):
    rows = [{"instruction": "Hi", "input": "", "output": "Hello! " * 100},
            {"instruction": "Hi", "input": "", "output": "Hello."}]  # fmt: skip
    result = _build(tmp_path, rows, cutoff_len=48, truncation="drop")
    assert result.counts.kept == 1 and result.counts.rejected == {"exceeds-cutoff": 1}
    reject = json.loads((result.out / "rejects.jsonl").read_text())
    assert reject["line"] == 1 and "truncation: drop" in reject["reasons"][0]
    assert reject["fixes"] == [
        "raise --cutoff-len, use --truncation truncate-answer, or shorten it"
    ]
    long_prompt = [{"instruction": "word " * 200, "input": "", "output": "ok"}]
    result = _build(tmp_path, long_prompt, out="out2", cutoff_len=48)
    assert result.counts.rejected == {"no-trainable-tokens": 1}


def test_no_record_trains_on_nothing_and_stats_predicts_how_many(cli, tmp_path):
    talk = {"conversations": [
        {"from": "human", "value": "Tell me about the sea."},
        {"from": "gpt", "value": "The sea covers most of the planet. " * 3},
        {"from": "human", "value": "And rivers? " + "Tell me everything about rivers. " * 20},
        {"from": "gpt", "value": "Rivers carry water to the sea."},
    ]}  # fmt: skip
    rows = [
        {"instruction": "Summarise: " + "the tide comes in and goes out. " * 30, "input": "",
         "output": "Tides rise and fall."},
        {"instruction": "Say hi.", "input": "", "output": "Hi!"},
        talk,
    ]  # fmt: skip
    data = _write(tmp_path / "data.jsonl", rows)
    result = _build(tmp_path, [data], cutoff_len=96, mask_history=True)
    # The long prompt fills the cutoff; the conversation loses its last turn, and with
    # mask_history its earlier answer is not trained on: both would train on nothing.
    assert result.counts.rejected == {"no-trainable-tokens": 2} and result.counts.kept == 1
    rejects = [json.loads(line) for line in (result.out / "rejects.jsonl").open()]
    assert [r["line"] for r in rejects] == [1, 3]
    assert "it would train on nothing" in rejects[1]["reasons"][0]
    assert rejects[0]["fixes"] == [
        "raise --cutoff-len, use --truncation truncate-prompt, or shorten the prompt"
    ]
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["counts"]["rejected"] == {"no-trainable-tokens": 2}
    code, out, _ = cli("stats", data, "--cutoff-len", "96", "--format", "json")
    assert code == 0
    assert json.loads(out)["losses"]["truncate_end"]["no_labels"] == 1  # the long prompt
    code, out, _ = cli("lint", data, "--cutoff-len", "96", "--select", "no-trainable-tokens")
    assert "data.jsonl:1" in out and "no-trainable-tokens" in out


def test_multi_turn_cut_in_a_later_prompt_drops_that_turn(tmp_path):
    rows = [{"conversations": [
        {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
        {"from": "human", "value": "Tell me a long story " * 30}, {"from": "gpt", "value": "No."}]}]  # fmt: skip
    result = _build(tmp_path, rows, cutoff_len=48, truncation="truncate-answer")
    (row,) = _rows(result.out)
    model = tokenizer.load(None)
    assert (
        model.backend.decode([t for t in row["labels"] if t != -100], skip_special_tokens=False)
        == "Hello!<|im_end|>"
    )
    assert result.counts.truncated == {"turns dropped": 1}


def test_image_spans_expand_and_are_never_cut():
    seq = Encoded(ids=list(range(20)), spans=[("user", 2, 12), ("assistant", 14, 18)],
                  images=[(4, 7)])  # fmt: skip
    expanded = encode.expand_images(seq, 10, 999)
    assert expanded.ids.count(999) == 10 and len(expanded.ids) == 27
    assert expanded.spans == [("user", 2, 19), ("assistant", 21, 25)]
    labels = [-100] * 21 + expanded.ids[21:25] + [-100, -100]
    ids, cut, _case = truncate(expanded, labels, 24, "truncate-prompt", 0)
    assert ids.count(999) == 10 and len(ids) == 24  # the text after the image was cut instead
    assert [t for t in cut if t != -100] == expanded.ids[21:25]


def test_preference_pairs_share_their_prompt(tmp_path):
    rows = [{"prompt": "Say hi", "chosen": "Hi there, friend!", "rejected": "No."}]
    result = _build(tmp_path, rows)
    (row,) = _rows(result.out)
    c, r = row["chosen_input_ids"], row["rejected_input_ids"]
    first = row["chosen_labels"].index(next(t for t in row["chosen_labels"] if t != -100))
    assert c[:first] == r[:first] and set(row) >= {"chosen_attention_mask", "rejected_labels"}


def test_packing_masking_and_the_validation_split(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": f"Q{i}"}, {"from": "gpt", "value": f"A{i}"},
                               {"from": "human", "value": "More?"}, {"from": "gpt", "value": "Yes."}]}
            for i in range(40)]  # fmt: skip
    packed = _build(tmp_path, rows, out="packed", cutoff_len=256, packing=True)
    prows = _rows(packed.out)
    assert len(prows) < 40 and all(len(r["input_ids"]) <= 256 for r in prows)
    first = prows[0]
    assert first["position_ids"][0] == 0 and max(first["attention_mask"]) > 1
    restart = first["attention_mask"].index(2)
    assert first["position_ids"][restart] == 0
    history = _build(tmp_path, rows[:1], out="history", mask_history=True)
    (row,) = _rows(history.out)
    model = tokenizer.load(None)
    assert (
        model.backend.decode([t for t in row["labels"] if t != -100], skip_special_tokens=False)
        == "Yes.<|im_end|>"
    )
    everything = _build(tmp_path, rows[:1], out="all", train_on_prompt=True)
    (row,) = _rows(everything.out)
    assert row["labels"] == row["input_ids"]
    split = _build(tmp_path, rows, out="split", val_size=0.25)
    again = _build(tmp_path, rows, out="split2", val_size=0.25)
    assert 0 < split.counts.splits["validation"] < 40
    assert _rows(split.out, "validation") == _rows(again.out, "validation")


def test_the_cache_reuses_identical_builds_and_rebuilds_on_any_change(tmp_path):
    rows = [{"instruction": f"Q{i}", "input": "", "output": f"Answer {i}."} for i in range(50)]
    first = _build(tmp_path, rows)
    again = _build(tmp_path, rows)
    assert not first.reused and again.reused and again.key == first.key
    changed = _build(tmp_path, rows, cutoff_len=2048)
    assert not changed.reused and changed.key != first.key
    rows[3]["output"] = "A different answer."
    edited = _build(tmp_path, rows, cutoff_len=2048)
    assert not edited.reused
    assert not list(tmp_path.glob("out.partial-*")) and not list(tmp_path.glob("out.old-*"))


def test_file_hashes_are_remembered_by_stat_and_never_trusted_across_a_change(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("x" * 100)
    computed = []

    def digest(hashes):
        return hashes.digest([path], lambda: computed.append(1) or buildcache.file_hash(path))

    racy = buildcache.Hashes()  # the file was written just now: its times prove nothing yet
    digest(racy)
    digest(buildcache.Hashes(racy.seen))
    assert len(computed) == 2
    settled = {name: {**e, "at": e["at"] + buildcache.RACY_NS + 1} for name, e in racy.seen.items()}
    again = buildcache.Hashes(settled)
    assert digest(again) == buildcache.file_hash(path) and len(computed) == 2
    assert not again.changed
    before = path.stat()
    path.write_text("y" * 100)  # same size, and the old mtime put back: ctime still moves
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    fresh = buildcache.Hashes(settled)
    assert digest(fresh) == buildcache.file_hash(path) != again.seen[str(path)]["sha256"]
    assert len(computed) == 3 and fresh.changed


def test_a_same_size_edit_with_its_mtime_put_back_is_still_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(buildcache, "RACY_NS", 0)  # the test's files are seconds old at most
    rows = [{"instruction": f"Q{i}", "input": "", "output": f"Answer {i}."} for i in range(20)]
    first = _build(tmp_path, rows)
    path = tmp_path / "data.jsonl"
    assert first.manifest["hashes"][str(path)]["sha256"] == buildcache.file_hash(path)
    os.utime(path)  # touched, not changed: reused, and the new times remembered
    touched = _build(tmp_path, rows)
    assert touched.reused and touched.manifest["hashes"] != first.manifest["hashes"]
    remembered = json.loads((tmp_path / "out" / "manifest.json").read_text())["hashes"]
    assert remembered[str(path)]["stat"][0][3] == path.stat().st_mtime_ns
    before = path.stat()
    rows[3]["output"] = "Answer X."  # as long as "Answer 3."
    _write(path, rows)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    edited = builder.build([Input((str(path),))], str(tmp_path / "out"), _setup(), PackArgs(),
                         Options(cutoff_len=4096))  # fmt: skip
    assert not edited.reused and edited.key != first.key
    assert builder.check(str(tmp_path / "out")) == []


def test_a_second_builder_waits_for_the_lock_and_reuses_the_build(tmp_path):
    data = _write(tmp_path / "data.jsonl",
                  [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."}
                   for i in range(300)])  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dataprep", "build", str(data), "--out", str(out),
           "--cutoff-len", "256"]  # fmt: skip
    lock = tmp_path / "out.lock"
    with open(lock, "w") as held:  # a builder that is still running, as its lock file names it
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(json.dumps({"pid": 4242, "host": "node-7"}))
        held.flush()
        timed = subprocess.run([*cmd, "--lock-timeout", "0.5"], capture_output=True, text=True)
        assert (
            timed.returncode == 2 and "the build by pid 4242 on node-7 still holds" in timed.stderr
        )
        builders = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True) for _ in range(2)]  # fmt: skip
        for proc in builders:  # each says once that it waits, and for whom
            line = proc.stderr.readline()
            assert "waiting for the build by pid 4242 on node-7 to finish" in line, line
    done = [(proc.wait(60), *proc.communicate()) for proc in builders]
    assert [code for code, _, _ in done] == [0, 0], done
    said = sorted(out.split(":", 2)[1].split(" in ")[0].strip() for _, out, _ in done)
    assert said == ["built", "reused (same cache key)"]
    assert len(_rows(out)) == 300


def test_a_killed_builders_lock_is_no_reason_to_wait(tmp_path):
    rows = [{"instruction": "Q", "input": "", "output": "A."}]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; f = open(sys.argv[1], 'w'); "
         "fcntl.flock(f, fcntl.LOCK_EX); f.write('{\"pid\": %d}' % os.getpid()); f.flush(); "
         "print('held', flush=True); time.sleep(600)", str(tmp_path / "out.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert str(holder.pid) in (tmp_path / "out.lock").read_text()  # the file stays behind
    started = time.monotonic()
    result = _build(tmp_path, rows)
    assert not result.reused and time.monotonic() - started < 30


@pytest.mark.parametrize("cutoff", ["512", "auto"])
def test_kill_9_leaves_no_build_and_the_next_build_resumes(tmp_path, cutoff):
    data = _write(tmp_path / "data.jsonl",
                  [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}. " * 20}
                   for i in range(6000)])  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dataprep", "build", str(data), "--out", str(out),
           "--cutoff-len", cutoff, "--shard-size", "500"]  # fmt: skip
    # auto encodes every shard (spilled to disk) before it cuts and writes any
    marker = "shard-00001.json" if cutoff != "auto" else "encoded-00001.json"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(f"out.partial-*/{marker}")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # nothing half-written where a trainer would look
    (partial,) = tmp_path.glob("out.partial-*")
    finished = sorted(p.name for p in partial.glob(marker.replace("00001", "*")))
    assert finished and len(finished) < 12
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "read 6,000 = kept 6,000 + rejected 0" in done.stdout
    assert not list(tmp_path.glob("out.partial-*"))
    fresh = _build(tmp_path, [str(data)], out="fresh", shard_size=500,
                   cutoff_len=None if cutoff == "auto" else int(cutoff))  # fmt: skip
    assert _rows(out) == _rows(fresh.out)
    assert json.loads((out / "manifest.json").read_text())["counts"] == fresh.manifest["counts"]


def test_auto_cutoff_is_chosen_in_the_same_pass_from_the_records_kept(tmp_path, monkeypatch):
    from dataprep import readers
    from dataprep.lengths import recommended_cutoff

    rows = [{"instruction": f"Q{i}?", "input": "", "output": "A long answer. " * (i % 40 + 1)}
            for i in range(300)]  # fmt: skip
    rows += [{"instruction": "Empty?", "input": "", "output": ""}]  # rejected: not measured
    reads, read_source = [], readers.read_source

    def counted(*args, **kwargs):
        for record in read_source(*args, **kwargs):
            reads.append(record.index)
            yield record

    monkeypatch.setattr(readers, "read_source", counted)
    result = _build(tmp_path, rows, cutoff_len=None, shard_size=128)
    assert sorted(reads) == list(range(301))  # every record read once: one pass
    monkeypatch.undo()
    whole = _build(tmp_path, rows, out="whole", cutoff_len=100_000)
    lengths = [len(row["input_ids"]) for row in _rows(whole.out)]
    assert len(lengths) == 300 == result.counts.kept
    assert result.manifest["cutoff_len"] == recommended_cutoff(lengths, 0.95, 64) < max(lengths)
    assert result.counts.truncated["answer cut"] == sum(n > result.manifest["cutoff_len"]
                                                        for n in lengths)  # fmt: skip
    assert not list(result.out.glob("spill-*")) and not list(result.out.glob("encoded-*"))
    assert {"read", "gate", "render", "tokenize", "cut", "write"} <= set(result.timings)
    assert all(seconds >= 0 for seconds in result.timings.values())


def test_check_verifies_a_build_against_its_manifest(cli, tmp_path):
    result = _build(tmp_path, [{"instruction": "Q", "input": "", "output": "A."}])
    code, out, _ = cli("build", "--check", str(result.out))
    assert code == 0 and "intact" in out
    arrow = next((result.out / "train").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes() + b"x")
    code, _, err = cli("build", "--check", str(result.out))
    assert code == 1 and "changed since the build" in err
    code, _, err = cli("build", "--check", str(tmp_path))
    assert code == 1 and "no manifest.json" in err


def test_yaml_config_mixes_datasets(cli, tmp_path):
    _write(
        tmp_path / "a.jsonl",
        [{"instruction": f"A{i}", "input": "", "output": "a"} for i in range(30)],
    )
    _write(
        tmp_path / "b.jsonl",
        [{"instruction": f"B{i}", "input": "", "output": "b"} for i in range(30)],
    )
    (tmp_path / "build.yaml").write_text(
        "out: out\ncutoff_len: 128\nmix: interleave\nseed: 1\ndatasets:\n"
        "  - path: a.jsonl\n    probability: 0.5\n  - path: b.jsonl\n    num_samples: 10\n"
    )
    code, _out, err = cli("build", str(tmp_path / "build.yaml"))
    assert code == 0, err
    rows = _rows(tmp_path / "out")
    model = tokenizer.load(None)
    texts = [model.backend.decode(r["input_ids"]) for r in rows]
    from_b = sum("user\nB" in t for t in texts)
    assert 0 < from_b <= 10 and len(rows) < 40
    (tmp_path / "bad.yaml").write_text("out: x\ncutof_len: 5\ndatasets: []\n")
    code, _, err = cli("build", str(tmp_path / "bad.yaml"))
    assert code == 2 and "unknown key 'cutof_len'" in err and "at least one dataset" in err


def test_dataset_info_inputs_and_auto_cutoff(cli, tmp_path):
    _write(
        tmp_path / "qa.jsonl", [{"question": f"Q{i}?", "answer": "A." * (i + 1)} for i in range(50)]
    )
    (tmp_path / "dataset_info.json").write_text(json.dumps(
        {"qa": {"file_name": "qa.jsonl", "columns": {"prompt": "question", "response": "answer"}}}
    ))  # fmt: skip
    code, out, err = cli("build", "--dataset-info", str(tmp_path / "dataset_info.json"),
                         "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == 50 and manifest["cutoff_len"] % 64 == 0
    assert "read 50 = kept 50 + rejected 0" in out


def test_progress_bars_per_stage(tmp_path):
    from dataprep.progress import Bar

    class Stream:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    stream = Stream()
    tick = Bar(stream).for_count("building")
    time.sleep(0.6)
    tick(1500, 0)
    assert "building  1,500  " in stream.text and "/s" in stream.text


def _dpo_demo_files():
    files = [Path(__file__).parent / "data" / "v1_dpo_demo.jsonl"]
    if LLAMAFACTORY.is_dir():
        files += [LLAMAFACTORY / "dpo_en_demo.json", LLAMAFACTORY / "dpo_zh_demo.json"]
    return files


@pytest.mark.parametrize("path", _dpo_demo_files(), ids=lambda p: p.name)
def test_no_preference_pair_is_made_identical_or_empty_by_truncation(tmp_path, path):
    for cutoff in (256, 512, 2048):
        for policy in builder.TRUNCATION:
            out = f"{policy}-{cutoff}"
            result = _build(tmp_path, [path], out=out, cutoff_len=cutoff, truncation=policy)
            c = result.counts
            assert c.read == c.kept + c.rejected_records
            rows = _rows(result.out) if c.kept else []
            for row in rows:
                assert row["chosen_input_ids"] != row["rejected_input_ids"], (policy, cutoff)
                for side in ("chosen", "rejected"):
                    assert len(row[f"{side}_input_ids"]) <= cutoff
                    assert any(t != -100 for t in row[f"{side}_labels"]), (policy, cutoff, side)
            rejects = [json.loads(line) for line in (result.out / "rejects.jsonl").open()]
            assert len(rejects) == c.rejected_records
            assert all(r["rules"] and r["fixes"] for r in rejects)


@needs_shared
def test_dpo_demo_at_512_keeps_both_answers_by_shortening_the_prompt(tmp_path):
    # Before: 83 of its pairs were written with chosen_input_ids == rejected_input_ids.
    result = _build(tmp_path, [LLAMAFACTORY / "dpo_en_demo.json"], cutoff_len=512)
    assert result.counts.truncated["pair prompt shortened"] > 0
    model = tokenizer.load(None)
    for row in _rows(result.out):
        for side in ("chosen", "rejected"):
            labelled = [t for t in row[f"{side}_labels"] if t != -100]
            assert labelled and labelled[-1] == model.backend.token_to_id("<|im_end|>")


def test_a_pair_that_differs_only_after_the_cut_is_rejected_as_identical(tmp_path):
    same = "Water moves from the sea to the clouds and back again. " * 20
    rows = [{"prompt": "Explain the water cycle.", "chosen": same + "That is the cycle.",
             "rejected": same + "I do not know."},
            {"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "No."}]  # fmt: skip
    for policy in ("truncate-answer", "truncate-prompt"):
        result = _build(tmp_path, rows, out=policy, cutoff_len=128, truncation=policy)
        want = {"identical-pair": 1} if policy == "truncate-answer" else {"exceeds-cutoff": 1}
        assert result.counts.rejected == want and result.counts.kept == 1
        (reject,) = [json.loads(line) for line in (result.out / "rejects.jsonl").open()]
        assert reject["line"] == 1 and reject["fixes"]


def test_a_build_that_keeps_nothing_or_rejects_too_much_fails(cli, tmp_path):
    empty = _write(tmp_path / "empty.jsonl",
                   [{"instruction": f"Q{i}?", "input": "", "output": ""} for i in range(5)])  # fmt: skip
    code, out, err = cli("build", empty, "--out", tmp_path / "nothing", "--cutoff-len", "128")
    assert code == 1 and "read 5 = kept 0 + rejected 5" in out
    lines = err.splitlines()
    assert (
        lines[0] == "dataprep: error: the build kept no record (read 5); the top rejection rules:"
    )
    assert lines[1].startswith(f"  empty-output ×5, e.g. {empty}:1: ")
    assert lines[-1].endswith("nothing/rejects.jsonl")
    again = cli("build", empty, "--out", tmp_path / "nothing", "--cutoff-len", "128")
    assert again[0] == 1 and "reused" in again[1]  # a cached empty build fails the same way
    mixed = _write(tmp_path / "mixed.jsonl",
                   [{"instruction": f"Q{i}?", "input": "", "output": "" if i < 3 else f"A{i}."}
                    for i in range(10)])  # fmt: skip
    code, _, err = cli("build", mixed, "--out", tmp_path / "m", "--cutoff-len", "128",
                       "--max-rejected", "0.2")  # fmt: skip
    assert code == 1 and "30.0% of the records were rejected, over --max-rejected 0.2" in err
    code, _, err = cli("build", mixed, "--out", tmp_path / "m", "--cutoff-len", "128",
                       "--max-rejected", "0.5")  # fmt: skip
    assert code == 0, err


@needs_shared
def test_the_kto_demo_builds_through_its_dataset_info_entry(cli, tmp_path):
    code, _, err = cli("build", "--dataset-info", LLAMAFACTORY / "dataset_info.json",
                       "--dataset", "kto_en_demo", "--out", tmp_path / "kto",
                       "--cutoff-len", "4096")  # fmt: skip
    assert code == 0, err
    manifest = json.loads((tmp_path / "kto" / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["read"] == 300 == counts["kept"] + counts["rejected_records"]
    rows = _rows(tmp_path / "kto")
    rejected = {json.loads(line)["record"] for line in (tmp_path / "kto" / "rejects.jsonl").open()}
    labels = [r["label"] for r in json.loads((LLAMAFACTORY / "kto_en_demo.json").read_text())]
    assert [r["kto_tags"] for r in rows] == [k for i, k in enumerate(labels) if i not in rejected]
    assert all(r["kl_input_ids"] != r["input_ids"] for r in rows[1:50])


@needs_shared
def test_one_dataset_info_builds_each_kind_into_its_own_folder(cli, tmp_path):
    info = LLAMAFACTORY / "dataset_info.json"
    names = {"sft": "alpaca_en_demo", "dpo": "dpo_en_demo", "kto": "kto_en_demo"}
    code, out, err = cli("build", "--dataset-info", info, "--dataset", ",".join(names.values()),
                         "--out", tmp_path / "all", "--cutoff-len", "1024")  # fmt: skip
    assert code == 0, err
    assert not (tmp_path / "all" / "manifest.json").exists()  # no build mixes the kinds
    columns = {"sft": "input_ids", "dpo": "chosen_input_ids", "kto": "kto_tags"}
    for kind, name in names.items():
        assert f"{kind}: {name}\n" in out
        folder = tmp_path / "all" / kind
        manifest = json.loads((folder / "manifest.json").read_text())
        assert [Path(i["path"]).name for i in manifest["inputs"]] == [f"{name}.json"]
        assert manifest["counts"]["rejected"].get("mixed-format") is None
        rows = _rows(folder)
        assert rows and columns[kind] in rows[0]
        # the same rows as the dataset built alone
        code, _, err = cli("build", "--dataset-info", info, "--dataset", name,
                           "--out", tmp_path / name, "--cutoff-len", "1024")  # fmt: skip
        assert code == 0, err
        assert _rows(tmp_path / name) == rows


def test_build_yaml_is_validated_like_the_other_configs(cli, tmp_path):
    _write(tmp_path / "a.jsonl", [{"instruction": f"Q{i}?", "input": "", "output": "A."}
                                  for i in range(20)])  # fmt: skip
    (tmp_path / "bad.yaml").write_text(
        'out: out\nseed: "0"\npacking: "false"\nmix: shuffle\nval_size: 1.5\ncutof_len: 5\n'
        "datasets:\n  - path: a.jsonl\n    num_samples: ten\n    probabilty: 0.5\n"
    )
    code, _, err = cli("build", tmp_path / "bad.yaml")
    where = tmp_path / "bad.yaml"
    assert code == 2 and err.splitlines()[0].endswith("bad.yaml: 7 problem(s)")  # all at once
    for problem in (
        f"{where}: seed must be an integer, not str ('0')",
        f"{where}: packing must be true or false, not str ('false')",
        f"{where}: mix must be one of concat, interleave",
        f"{where}: val_size must be in [0, 1), not 1.5",
        f"{where}: unknown key 'cutof_len' (did you mean 'cutoff_len'?)",
        f"{where}: datasets[0]: num_samples must be an integer or null, not str ('ten')",
        f"{where}: datasets[0]: unknown key 'probabilty' (did you mean 'probability'?)",
    ):
        assert f"  - {problem}" in err.splitlines(), (problem, err)
    # seed 0 is 0 (it used to become 42), from the YAML and from the flag alike.
    (tmp_path / "good.yaml").write_text("out: yaml-out\nseed: 0\ncutoff_len: 128\nval_size: 0.3\n"
                                        "datasets:\n  - path: a.jsonl\n")  # fmt: skip
    assert cli("build", tmp_path / "good.yaml")[0] == 0
    assert cli("build", tmp_path / "a.jsonl", "--out", tmp_path / "flag-out", "--seed", "0",
               "--cutoff-len", "128", "--val-size", "0.3")[0] == 0  # fmt: skip
    from_yaml = json.loads((tmp_path / "yaml-out" / "manifest.json").read_text())
    from_flags = json.loads((tmp_path / "flag-out" / "manifest.json").read_text())
    assert from_yaml["options"]["seed"] == from_flags["options"]["seed"] == 0
    assert from_yaml["options"] == from_flags["options"]  # one set of defaults for both
    code, _, err = cli("build", tmp_path / "a.jsonl", "--out", tmp_path / "x", "--cutoff-len", "5")
    assert code == 2 and "  - --cutoff-len must be at least 8 tokens, not 5" in err


def test_build_settings_defaults_are_the_shard_options_defaults():
    from dataclasses import fields

    from dataprep.buildconfig import Settings

    options, settings = Options(), Settings()
    for f in fields(Options):
        if f.name != "cutoff_len":
            assert getattr(settings, f.name) == getattr(options, f.name), f.name


def test_every_build_carries_llamafactorys_media_columns(tmp_path):
    """images, videos and audios in every stage's rows (null where absent): LLaMA-Factory's
    collators read all three, and a DPO build without them fails there (KeyError: 'images')."""
    import pyarrow as pa

    sft = [{"instruction": f"Q{i}?", "input": "", "output": f"A{i}."} for i in range(3)]
    dpo = [{"prompt": f"Q{i}?", "chosen": f"Yes {i}.", "rejected": "No."} for i in range(3)]
    builds = {
        "sft": _build(tmp_path, sft, out="sft"),
        "packed": _build(tmp_path, sft, out="packed", packing=True),
        "dpo": _build(tmp_path, dpo, out="dpo"),
    }
    for name, result in builds.items():
        (arrow,) = (result.out / "train").glob("*.arrow")
        with pa.memory_map(str(arrow)) as source:
            table = pa.ipc.open_stream(source).read_all()
        for media in ("images", "videos", "audios"):
            assert table.schema.field(media).type == pa.list_(pa.string()), name
            assert table.column(media).null_count == table.num_rows, name
        assert {r["images"] for r in _rows(result.out)} == {None}


def test_a_pairs_labels_are_its_final_answers_unless_history_is_asked_for(tmp_path):
    row = {"conversations": [{"from": "human", "value": "Hi."}, {"from": "gpt", "value": "Hello there."},
                             {"from": "human", "value": "Name a colour."}],
           "chosen": {"from": "gpt", "value": "Blue."}, "rejected": {"from": "gpt", "value": "No."}}  # fmt: skip
    model = tokenizer.load(None)

    def labelled(result, side):
        (r,) = _rows(result.out)
        ids = [t for t in r[f"{side}_labels"] if t != -100]
        return model.backend.decode(ids, skip_special_tokens=False)

    masked = _build(tmp_path, [row], out="masked")
    assert labelled(masked, "chosen") == "Blue.<|im_end|>"
    assert labelled(masked, "rejected") == "No.<|im_end|>"
    history = _build(tmp_path, [row], out="history", label_pair_history=True)
    assert labelled(history, "chosen") == "Hello there.<|im_end|>Blue.<|im_end|>"
    assert history.key != masked.key


def _kto(i: int, turns: int = 1) -> dict:
    messages = []
    for t in range(turns - 1):
        messages += [{"role": "user", "content": f"Earlier question {t} of record {i}?"},
                     {"role": "assistant", "content": f"Earlier answer {t} of record {i}."}]  # fmt: skip
    messages += [{"role": "user", "content": f"What is {i} plus {i}?"},
                 {"role": "assistant", "content": f"It is {2 * i}, since {i} and {i} make {2 * i}."}]  # fmt: skip
    return {"messages": messages, "label": i % 3 != 0}


def _sft_ids(tmp_path, conversations: list[list[dict]], name: str) -> list[tuple[list, list]]:
    """input_ids and labels of each conversation built as an SFT record."""
    result = _build(tmp_path, [str(_write(tmp_path / f"{name}.jsonl",
                                          [{"messages": m} for m in conversations]))], out=name)  # fmt: skip
    assert result.counts.kept == len(conversations)
    return [(r["input_ids"], r["labels"]) for r in _rows(result.out)]


def test_kto_records_build_into_llamafactorys_feedback_columns(tmp_path, monkeypatch):
    """Each record's own answer as input_ids, its KL completion (the previous record's answer,
    the first of a block taking the block's last, as LLaMA-Factory rotates them) as
    kl_input_ids, its label as kto_tags; both sequences exactly an SFT build's of the same
    conversations."""
    monkeypatch.setattr(kto, "KL_BLOCK", 3)
    rows = [_kto(i) for i in range(7)]  # blocks: 0-2, 3-5, 6 (alone: its own answer)
    result = _build(tmp_path, rows, out="kto")
    assert result.counts.read == result.counts.kept == 7
    built = _rows(result.out)
    assert set(built[0]) == {"input_ids", "attention_mask", "labels", "kl_input_ids",
                             "kl_attention_mask", "kl_labels", "kto_tags", "images", "videos",
                             "audios"}  # fmt: skip
    assert [r["kto_tags"] for r in built] == [r["label"] for r in rows]
    own = _sft_ids(tmp_path, [r["messages"] for r in rows], "own")
    source = [2, 0, 1, 5, 3, 4, 6]
    kl = _sft_ids(tmp_path, [rows[j]["messages"][:-1] + rows[source[j]]["messages"][-1:]
                             for j in range(7)], "kl")  # fmt: skip
    for row, (ids, labels), (kl_ids, kl_labels) in zip(built, own, kl, strict=True):
        assert (row["input_ids"], row["labels"]) == (ids, labels)
        assert (row["kl_input_ids"], row["kl_labels"]) == (kl_ids, kl_labels)
        assert row["attention_mask"] == [1] * len(ids) and len(row["kl_attention_mask"]) == len(
            kl_ids
        )


def test_a_kto_records_labels_are_its_final_answer_and_its_sides_are_cut_apart(tmp_path):
    rows = [_kto(1, turns=2), {**_kto(2), "messages": [
        {"role": "user", "content": "Say something long."},
        {"role": "assistant", "content": " ".join(["word"] * 400)}]}]  # fmt: skip
    result = _build(tmp_path, rows, out="kto", cutoff_len=128)
    first, second = _rows(result.out)
    model = tokenizer.load(None)
    answer = model.backend.decode([t for t in first["labels"] if t != -100])
    assert answer.startswith("It is 2, since") and "Earlier answer" not in answer
    # The long answer is cut wherever it is: its own side, and the first record's KL side
    # (the block's last answer); the other sides stay whole.
    assert len(second["input_ids"]) == 128 == len(first["kl_input_ids"])
    assert len(second["kl_input_ids"]) < 128 and len(first["input_ids"]) < 128
    assert result.counts.truncated["answer cut"] == 2


def test_kto_records_in_a_trl_layout_build_are_rejected_with_the_reason(tmp_path):
    result = _build(tmp_path, [_kto(i) for i in range(3)], out="trl", layout="trl")
    assert result.counts.kept == 0 and result.counts.rejected_records == 3
    reason = json.loads((result.out / "rejects.jsonl").open().readline())["reasons"][0]
    assert "TRL's KTOTrainer takes prompt, completion and label as text" in reason


def test_reasoning_is_labelled_where_the_template_renders_it(tmp_path):
    from tests import tokenizers

    # Qwen3's shape: the last answer's reasoning as a think block, earlier answers without.
    qwen3 = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.reasoning_content is defined "
        "and loop.last %}<think>\n{{ m.reasoning_content }}\n</think>\n\n{% endif %}"
        "{{ m.content }}<|im_end|>\n{% endfor %}"
    )
    folder = tokenizers.make(tmp_path / "tok", chat_template=qwen3, eos_token="<|im_end|>",
                             specials=("<|im_start|>", "<|im_end|>"))  # fmt: skip
    model = tokenizer.load(str(folder))
    setup = LengthSetup(model, templates.resolve("auto", model.chat_template, model.special))

    def answer(thought, text):
        return {"role": "assistant", "content": [{"type": "reasoning", "value": thought},
                                                 {"type": "text", "value": text}]}  # fmt: skip

    rows = [{"messages": [{"role": "user", "content": "What is two plus two?"},
                          answer("Two and two make four.", "Four.")]},
            {"messages": [{"role": "user", "content": "Hello!"}, answer("A greeting.", "Hi."),
                          {"role": "user", "content": "And rain?"},
                          answer("Water falls from clouds.", "Rain falls.")]}]  # fmt: skip
    result = _build(tmp_path, rows, setup=setup)
    assert result.counts.kept == 2
    decoded = []
    for row in _rows(result.out):
        labelled = [t if label != -100 else None for t, label in
                    zip(row["input_ids"], row["labels"], strict=True)]  # fmt: skip
        runs, run = [], []
        for token in [*labelled, None]:
            if token is None:
                if run:
                    runs.append(model.backend.decode(run, skip_special_tokens=False))
                run = []
            else:
                run.append(token)
        decoded.append(runs)
    assert decoded[0] == ["<think>\nTwo and two make four.\n</think>\n\nFour.<|im_end|>"]
    # the earlier answer is rendered without its reasoning: only its text is labelled
    assert decoded[1] == ["Hi.<|im_end|>",
                          "<think>\nWater falls from clouds.\n</think>\n\nRain falls.<|im_end|>"]  # fmt: skip


def test_plain_files_beside_datasets_of_several_kinds_are_refused_by_name(cli, tmp_path):
    _write(tmp_path / "pairs.jsonl", [{"p": "Why?", "c": "Because.", "r": "No."}])
    _write(tmp_path / "sft.jsonl", [{"instruction": "Hi", "input": "", "output": "Hello."}])
    plain = _write(tmp_path / "plain.jsonl", [{"instruction": "Q", "input": "", "output": "A."}])
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "pairs": {"file_name": "pairs.jsonl", "ranking": True,
                  "columns": {"prompt": "p", "chosen": "c", "rejected": "r"}},
        "sft": {"file_name": "sft.jsonl"},
    }))  # fmt: skip
    code, _, err = cli("build", plain, "--dataset-info", tmp_path / "dataset_info.json",
                       "--out", tmp_path / "out")  # fmt: skip
    assert code == 2 and f"{plain}: plain files beside" in err and "(dpo, sft)" in err
    assert "fix: build the plain files apart" in err and not (tmp_path / "out").exists()
    code, _, err = cli("build", "--dataset-info", tmp_path / "dataset_info.json",
                         "--out", tmp_path / "out")  # fmt: skip
    assert code == 0, err
    assert _rows(tmp_path / "out" / "dpo")[0]["chosen_input_ids"]
    assert _rows(tmp_path / "out" / "sft")[0]["input_ids"]
