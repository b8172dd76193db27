"""Per-rule recall of the preference, image and media rules, and their errors on untouched records.

Preference: LLaMA-Factory's real DPO demos (dpo_en_demo + dpo_zh_demo, 600 pairs). N pairs per
rule get a defect injected in varied realistic forms (a rejected answer copied from chosen with
different spacing or case, cut short, reduced to one line, changed in one comma or word; an
empty side; a chosen answer given the user's role); the rest stay untouched.

Images: LLaMA-Factory's mllm_demo records and its three real JPEGs, repeated to N records per
rule, in a temporary image root with real broken files made by Pillow (missing, absolute or
climbing or symlinked-out paths, zero bytes, truncated JPEGs, HTML saved as .jpg, a
40000x40000 PNG bomb) and placeholder defects (an `<image>` too many or too few, one moved
into the answer).

Video and audio: LLaMA-Factory's video/audio demo records, their clips made real (../shared
has none: MP4 and M4A encoded by PyAV, WAV by the stdlib), with a placeholder too many or too
few, a missing clip, an absolute or climbing path, or an empty, HTML or cut-off file.

KTO: LLaMA-Factory's kto_en_demo (300 records, half desirable; the two with template tokens in
their text left out), N labels made what exports write instead of a boolean ("true", 1,
"yes", null) for invalid-kto-label.

Dataset-level rules, by trials (each a copy of a demo file with one defect): schema-drift with
one record's field in another JSON type (mllm_demo `images` a string, a glaive record's `tools`
a parsed list, a KTO record's first message `content` a list of typed parts): recall counts
the trials whose finding names the changed record's line; kto-imbalance with undesirable
examples dropped to a 1.5-6 to 1 ratio.
The untouched demo files must give neither finding.

Recall is the share of injected records on which the rule fires; "errors on untouched" counts
untouched records with any error finding (the issue's target: none).

Run: python bench/quality_pairs_images.py [--per-rule 40] [--seed 0] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.linter import Summary, lint_paths  # noqa: E402
from tests import media  # noqa: E402  (real broken files, made the way the tests make them)

PAIR_RULES = (
    "identical-pair",
    "pair-prefix",
    "extreme-length-ratio",
    "near-identical-pair",
    "empty-output",
    "prompt-mismatch",
)
IMAGE_RULES = (
    "missing-image",
    "image-outside-root",
    "unreadable-image",
    "image-too-large",
    "image-token-mismatch",
    "image-placeholder-misplaced",
)

KTO_RULES = ("invalid-kto-label",)
MEDIA_RULES = ("media-token-mismatch", "missing-media", "media-outside-root", "unreadable-media")
MEDIA_DEMOS = ("mllm_video_demo.json", "mllm_audio_demo.json", "mllm_video_audio_demo.json")


def _one_word_changed(text: str, rng: random.Random) -> str:
    """A comma dropped, a Chinese comma swapped, or one small word replaced."""
    if "," in text and rng.random() < 0.5:
        i = rng.choice([i for i, c in enumerate(text) if c == ","])
        return text[:i] + text[i + 1 :]
    if "，" in text:
        return text.replace("，", "、", 1)
    swaps = [(" the ", " a "), (" a ", " the "), (" is ", " was "), (" and ", " or "), ("的", "地")]
    for old, new in rng.sample(swaps, len(swaps)):
        if old in text:
            return text.replace(old, new, 1)
    return text + "!"


def inject_pair(rule: str, rec: dict, rng: random.Random) -> dict:
    r = copy.deepcopy(rec)
    chosen = r["chosen"]["value"]
    if rule == "identical-pair":
        r["rejected"]["value"] = rng.choice(
            [chosen, " " + chosen + "\n", chosen.replace(" ", "  ", 3), chosen.upper()]
        )
    elif rule == "pair-prefix":
        cut = int(len(chosen) * rng.uniform(0.3, 0.8))
        if rng.random() < 0.5:
            r["rejected"]["value"] = chosen[:cut]
        else:
            r["chosen"]["value"], r["rejected"]["value"] = chosen[:cut], chosen
    elif rule == "extreme-length-ratio":
        short = rng.choice(["No.", "I don't know.", "不知道。", "Maybe.", "没有。"])
        r["rejected"]["value"] = short
    elif rule == "near-identical-pair":
        r["rejected"]["value"] = _one_word_changed(chosen, rng)
    elif rule == "empty-output":
        side = rng.choice(["chosen", "rejected"])
        r[side]["value"] = rng.choice(["", "  ", "\n"])
    elif rule == "prompt-mismatch":
        r["chosen"]["from"] = "human"
    return r


def build_pairs(shared: Path, per_rule: int, rng: random.Random) -> tuple[list, dict]:
    base = []
    for name in ("dpo_en_demo.json", "dpo_zh_demo.json"):
        base.extend(json.loads((shared / "corpus" / "llamafactory" / name).read_text()))
    rng.shuffle(base)
    labels: dict[int, str] = {}
    used: set[int] = set()
    for rule in PAIR_RULES:
        # Long answers for the rules about long texts; near-identical needs room to differ.
        pool = [
            i
            for i, r in enumerate(base)
            if i not in used and len(r["chosen"]["value"]) > 200 and len(r["rejected"]["value"])
        ]
        for i in rng.sample(pool, per_rule):
            base[i] = inject_pair(rule, base[i], rng)
            labels[i] = rule
            used.add(i)
    return base, labels


def build_images(shared: Path, per_rule: int, rng: random.Random, root: Path) -> tuple[list, dict]:
    demo = json.loads((shared / "corpus" / "llamafactory" / "mllm_demo.json").read_text())
    shutil.copytree(shared / "corpus" / "llamafactory" / "mllm_demo_data", root / "mllm_demo_data")
    media.make(root.parent, "secret.jpg", "jpeg 8x8")
    records: list[dict] = []
    labels: dict[int, str] = {}
    for n in range(per_rule * 4):  # untouched records
        records.append(copy.deepcopy(demo[n % len(demo)]))
    for rule in IMAGE_RULES:
        for k in range(per_rule):
            r = copy.deepcopy(rng.choice(demo))
            name = f"broken/{rule}/{k}.jpg"
            if rule == "missing-image":
                r["images"][0] = f"mllm_demo_data/{rng.choice(['4', '1 ', 'x'])}{k}.jpg"
            elif rule == "image-outside-root":
                choice = k % 3
                if choice == 0:
                    r["images"][0] = str(root.parent / "secret.jpg")
                elif choice == 1:
                    r["images"][0] = "../secret.jpg"
                else:
                    media.make(root, name, "symlink " + "../" * 3 + "secret.jpg")
                    r["images"][0] = name
            elif rule == "unreadable-image":
                kind = rng.choice(["empty", "truncated jpeg 96x96", "text <html>404</html>"])
                media.make(root, name, kind)
                r["images"][0] = name
            elif rule == "image-too-large":
                if k == 0:
                    media.make(root, "broken/bomb.png", "bomb png 40000x40000")
                r["images"][0] = "broken/bomb.png"
            elif rule == "image-token-mismatch":
                first = r["messages"][0]
                first["content"] = (
                    first["content"].replace("<image>", "", 1)
                    if rng.random() < 0.5
                    else "<image>" + first["content"]
                )
            elif rule == "image-placeholder-misplaced":
                r["messages"][0]["content"] = r["messages"][0]["content"].replace("<image>", "", 1)
                r["messages"][1]["content"] = "<image>" + r["messages"][1]["content"]
            labels[len(records)] = rule
            records.append(r)
    order = list(range(len(records)))
    rng.shuffle(order)
    return [records[i] for i in order], {order.index(i): rule for i, rule in labels.items()}


def build_media(shared: Path, per_rule: int, rng: random.Random, root: Path) -> tuple[list, dict]:
    """LLaMA-Factory's video and audio demo records, their clips made real (../shared holds
    none of them: MP4 and M4A encoded by PyAV, WAV by the stdlib), and the defects injected."""
    demo = []
    for name in MEDIA_DEMOS:
        demo += json.loads((shared / "corpus" / "llamafactory" / name).read_text())
    for record in demo:
        for ref in (*record.get("videos", []), *record.get("audios", [])):
            suffix = Path(ref).suffix
            path = root / ref
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                media.clip(path, "mp4" if suffix in (".mp4", ".avi") else "wav" if suffix in (
                    ".wav", ".flac") else "m4a")  # fmt: skip
    media.make(root.parent, "secret.mp4", "mp4")
    records = [copy.deepcopy(demo[n % len(demo)]) for n in range(per_rule * 4)]
    labels: dict[int, str] = {}
    for rule in MEDIA_RULES:
        for k in range(per_rule):
            r = copy.deepcopy(rng.choice(demo))
            key = "videos" if r.get("videos") else "audios"
            token = "<video>" if key == "videos" else "<audio>"
            name = f"broken/{rule}/{k}.{'mp4' if key == 'videos' else 'mp3'}"
            if rule == "media-token-mismatch":
                first = r["messages"][0]
                first["content"] = (first["content"].replace(token, "", 1) if rng.random() < 0.5
                                    else token + first["content"])  # fmt: skip
            elif rule == "missing-media":
                r[key][0] = f"mllm_demo_data/gone{k}{Path(r[key][0]).suffix}"
            elif rule == "media-outside-root":
                r[key][0] = str(root.parent / "secret.mp4") if k % 2 else "../secret.mp4"
            else:
                kind = rng.choice(["empty", "text <html>404</html>", "headless mp4"])
                media.make(root, name, kind)
                r[key][0] = name
            labels[len(records)] = rule
            records.append(r)
    order = list(range(len(records)))
    rng.shuffle(order)
    return [records[i] for i in order], {order.index(i): rule for i, rule in labels.items()}


def build_kto(shared: Path, per_rule: int, rng: random.Random) -> tuple[list, dict]:
    records = json.loads((shared / "corpus" / "llamafactory" / "kto_en_demo.json").read_text())
    # Two demo records hold another model's template tokens (`</s>`, `<|user|>`): real defects
    # template-tokens reports, left out so that the untouched records are clean ones.
    records = [r for r in records if not any(t in json.dumps(r) for t in ("</s>", "<|user|>"))]
    labels = {}
    for i in rng.sample(range(len(records)), per_rule):
        label = records[i]["label"]
        records[i]["label"] = rng.choice([str(label).lower(), int(label), "yes" if label else "no",
                                          None])  # fmt: skip
        labels[i] = "invalid-kto-label"
    return records, labels


def _demo(shared: Path, name: str) -> list[dict]:
    return json.loads((shared / "corpus" / "llamafactory" / name).read_text())


def _drifted(shared: Path, rng: random.Random, form: int) -> tuple[str, list[dict], int]:
    """(demo name, its records with one record's field in another JSON type, that record)."""
    name = ("mllm_demo.json", "glaive_toolcall_zh_demo.json", "kto_en_demo.json")[form]
    records = _demo(shared, name)
    if form == 0:  # six records: repeated, as a real image dataset is larger
        records = [copy.deepcopy(records[i % len(records)]) for i in range(60)]
    at = rng.randrange(1, len(records))  # not the first: the first record sets the main shape
    r = records[at]
    if form == 0:
        r["images"] = r["images"][0]
    elif form == 1:
        r["tools"] = json.loads(r["tools"])
    else:  # a message's text as a list of typed parts (v1 and OpenAI shapes mixed in)
        message = r["messages"][0]
        message["content"] = [{"type": "text", "value": message["content"]}]
    return name, records, at


def _lint_file(tmp: Path, records: list[dict], **kwargs) -> list:
    path = tmp / "trial.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    summary = Summary()
    found = list(lint_paths([str(path)], None, summary, **kwargs))
    assert not summary.errors, summary.errors
    return found


def dataset_level(shared: Path, trials: int, rng: random.Random, tmp: Path) -> tuple:
    """Recall of schema-drift and kto-imbalance over trials, findings on the untouched demos."""
    hits = {"schema-drift": 0, "kto-imbalance": 0}
    for k in range(trials):
        name, records, at = _drifted(shared, rng, k % 3)
        hits["schema-drift"] += any(
            f.name == "schema-drift" and f.line == at + 1 for f in _lint_file(tmp, records)
        )
        kto = _demo(shared, "kto_en_demo.json")
        good = [r for r in kto if r["label"]]
        bad = [r for r in kto if not r["label"]]
        ratio = rng.uniform(1.5, 6)
        kept = good + rng.sample(bad, max(1, int(len(good) / ratio)))
        rng.shuffle(kept)
        hits["kto-imbalance"] += any(f.name == "kto-imbalance" for f in _lint_file(tmp, kept))
    untouched, errors = 0, 0
    for name in ("mllm_demo.json", "glaive_toolcall_zh_demo.json", "kto_en_demo.json"):
        records = _demo(shared, name)
        untouched += len(records)
        errors += sum(f.name in hits for f in _lint_file(tmp, records))
    return {rule: (n, trials) for rule, n in hits.items()}, errors, untouched


def evaluate(path: Path, labels: dict[int, str], **kwargs) -> tuple[dict, int, int]:
    summary = Summary()
    findings = list(lint_paths([str(path)], None, summary, **kwargs))
    assert not summary.errors, summary.errors
    fired: dict[int, set[str]] = defaultdict(set)
    errors: set[int] = set()
    for f in findings:
        if f.record is not None:
            fired[f.record].add(f.name)
            if f.severity == "error":
                errors.add(f.record)
    recall = {}
    for rule in sorted(set(labels.values())):
        positions = [i for i, r in labels.items() if r == rule]
        recall[rule] = (sum(rule in fired[i] for i in positions), len(positions))
    untouched = summary.records - len(labels)
    return recall, sum(1 for i in errors if i not in labels), untouched


def run(shared: Path, per_rule: int, seed: int) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        pairs, pair_labels = build_pairs(shared, per_rule, rng)
        pair_file = tmp_path / "pairs.jsonl"
        pair_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pairs))
        root = tmp_path / "data"
        root.mkdir()
        images, image_labels = build_images(shared, per_rule, rng, root)
        image_file = root / "mllm.jsonl"
        image_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in images))
        clips, clip_labels = build_media(shared, per_rule, rng, root)
        clip_file = root / "clips.jsonl"
        clip_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in clips))
        kto, kto_labels = build_kto(shared, per_rule, rng)
        kto_file = tmp_path / "kto.jsonl"
        kto_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kto))
        return {
            "dataset-level": dataset_level(shared, max(3, per_rule // 2), rng, tmp_path),
            "kto": evaluate(kto_file, kto_labels),
            "pairs": evaluate(pair_file, pair_labels),
            "images": evaluate(image_file, image_labels),
            "video and audio": evaluate(clip_file, clip_labels),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-rule", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    for family, (recall, errors, untouched) in run(args.shared, args.per_rule, args.seed).items():
        print(f"{family}: {untouched:,} untouched records, {errors} with an error finding")
        for rule, (hit, total) in recall.items():
            print(f"  {rule:28s} {hit / total:6.2f}  ({hit}/{total})")


if __name__ == "__main__":
    main()
