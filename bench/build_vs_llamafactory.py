"""dataprep build against LLaMA-Factory's own preprocessing, side by side, in one run.

The same 20,000-record alpaca file (records from LLaMA-Factory's en/zh demos that dataprep's
cleaner leaves as they are, each made unique), the same Qwen2.5 tokenizer
(../shared/tokenizers/qwen2.5) and ChatML template, cutoff_len 1024, on this machine:

- LLaMA-Factory 0.9.5 in its own virtual environment (bench/_data/lf-venv), through its
  tokenized_path preprocess-only path (`get_dataset`, which saves the tokenized dataset), with
  preprocessing_num_workers 2; the model folder holds only the tokenizer and a config.
- `dataprep build ... --label-turn-end` (LLaMA-Factory also trains ChatML's newline after
  <|im_end|>), cold (no cache), and again on the cached build.

Whole-process seconds (best of alternating runs), the ratio, dataprep's peak RSS, and a
record-by-record comparison of input_ids and labels.

Set-up, once (a few GB):
  python3 -m venv bench/_data/lf-venv && bench/_data/lf-venv/bin/pip install torch==2.13.0
  bench/_data/lf-venv/bin/pip install llamafactory==0.9.5
(If its import fails on a CPU-only torch: pip uninstall torchvision, and stub torchaudio.)

Run: python bench/build_vs_llamafactory.py [--records 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "_data" / "vs_lf"
LF_VENV = ROOT / "bench" / "_data" / "lf-venv"
sys.path.insert(0, str(ROOT))

DRIVER = """
from llamafactory.hparams import get_train_args
from llamafactory.model import load_tokenizer
from llamafactory.data import get_template_and_fix_tokenizer, get_dataset

model_args, data_args, training_args, finetuning_args, _ = get_train_args()
tokenizer_module = load_tokenizer(model_args)
template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
"""
CONFIG = {"qwen2": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                    "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                    "num_hidden_layers": 2, "num_key_value_heads": 2, "vocab_size": 151936,
                    "max_position_embeddings": 32768, "eos_token_id": 151645}}  # fmt: skip
# A small parent measures one command: wall seconds, and the peak of the summed RSS of the
# command and every process under it (dataprep build runs a second process, dataprep.vocabcheck;
# getrusage would give only the largest one), sampled every 20 ms from /proc.
WRAPPER = r"""
import os, subprocess, sys, time
def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
    except OSError:
        return 0
def tree(pid):
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    out += tree(int(child))
    except OSError:
        pass
    return out
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    peak = max(peak, sum(rss(q) for q in tree(p.pid)))
    time.sleep(0.02)
print(time.perf_counter() - t, peak, p.returncode)
"""


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True,
                         cwd=cwd, check=True).stdout.split()  # fmt: skip
    if out[2] != "0":
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return float(out[0]), int(out[1]) // 1024


def make_data(shared: Path, records: int) -> Path:
    from dataprep import clean, readers
    from dataprep.engine import Plan
    from dataprep.fixers import Fixers
    from dataprep.rulepack import load

    path = DATA / f"alpaca_{records}.json"
    if path.exists():
        return path
    pack = load()
    plan, fixers, seen = Plan(pack), Fixers.from_pack(pack), {}
    untouched = []
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        source = readers.expand([str(shared / "corpus" / "llamafactory" / name)])[0]
        read = list(readers.read_source(source))
        results = clean.clean_records([(r, None, None) for r in read], plan, fixers, seen)
        for record, (kept, _, fixes, _, _) in zip(read, results, strict=True):
            if kept is not None and not fixes:
                untouched.append(record.value)
    rng = random.Random(0)
    rows = []
    for i in range(records):
        row = dict(rng.choice(untouched))
        row["instruction"] = f"{row['instruction']} (#{i})"
        rows.append(row)
    DATA.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


def lf_setup(shared: Path, data: Path) -> Path:
    model = DATA / "model"
    model.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(shared / "tokenizers" / "qwen2.5" / name, model / name)
    (model / "config.json").write_text(json.dumps(CONFIG["qwen2"]))
    (DATA / "dataset_info.json").write_text(json.dumps({"bench": {"file_name": data.name}}))
    (DATA / "driver.py").write_text(DRIVER)
    config = DATA / "lf.yaml"
    config.write_text(
        f"model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
        f"dataset: bench\ndataset_dir: {DATA}\ntemplate: qwen\ncutoff_len: 1024\n"
        f"overwrite_cache: true\npreprocessing_num_workers: 2\n"
        f"tokenized_path: {DATA / 'lf_tokenized'}\noutput_dir: {DATA / 'lf_out'}\nreport_to: none\n"
    )
    return config


def compare(ours: Path, theirs: Path) -> tuple[int, int]:
    import datasets

    a = datasets.load_from_disk(str(ours))["train"]
    b = datasets.load_from_disk(str(theirs))["train"]
    if len(a) != len(b):
        return len(a), max(len(a), len(b))
    bad = sum(
        1 for x, y in zip(a, b, strict=True)
        if x["input_ids"] != y["input_ids"] or x["labels"] != y["labels"]
    )  # fmt: skip
    return len(a), bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    data = make_data(args.shared, args.records)
    # Bytecode as an installed package has it (pip compiles LLaMA-Factory's at install; an
    # editable checkout under PYTHONDONTWRITEBYTECODE would compile every module every run).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "dataprep")],
                   stdout=subprocess.DEVNULL, check=True)  # fmt: skip
    tokenizer = args.shared / "tokenizers" / "qwen2.5"
    out = DATA / "dataprep_build"
    ours_cmd = [sys.executable, "-m", "dataprep", "build", str(data), "--out", str(out),
                "--tokenizer", str(tokenizer), "--cutoff-len", "1024",
                "--label-turn-end"]  # fmt: skip
    have_lf = (LF_VENV / "bin" / "python").exists()
    config = lf_setup(args.shared, data) if have_lf else None
    lf_times, our_times, rss = [], [], 0
    for _ in range(args.rounds):  # alternating, so machine noise hits both alike
        if have_lf:
            shutil.rmtree(DATA / "lf_tokenized", ignore_errors=True)
            lf_times.append(timed([str(LF_VENV / "bin" / "python"), str(DATA / "driver.py"),
                                   str(config)], cwd=DATA)[0])  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)
        seconds, peak = timed(ours_cmd)
        our_times.append(seconds)
        rss = max(rss, peak)
    cached = min(timed(ours_cmd)[0] for _ in range(3))  # the best of 3, as cold is of rounds
    ours = min(our_times)
    print(f"{args.records:,} alpaca records, Qwen2.5 tokenizer, cutoff_len 1024")
    print(f"dataprep build (cold)    : {ours:>7.2f} s  {args.records / ours:>8,.0f} records/s  "
          f"peak RSS {rss} MB, all its processes (target < 500)")  # fmt: skip
    print(
        f"dataprep build (cached)  : {cached:>7.2f} s  = {cached / ours:.1%} of cold (target < 2%)"
    )
    if have_lf:
        lf = min(lf_times)
        print(f"LLaMA-Factory, 2 workers : {lf:>7.2f} s  {args.records / lf:>8,.0f} records/s")
        print(f"speed-up                 : {lf / ours:>7.2f}x (target >= 4x)")
        rows, bad = compare(out, DATA / "lf_tokenized")
        print(f"identical input_ids and labels: {rows - bad:,} of {rows:,} records")
    else:
        print(f"LLaMA-Factory: no venv at {LF_VENV}; see this script's docstring to set it up")


if __name__ == "__main__":
    main()
