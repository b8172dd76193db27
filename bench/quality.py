"""Per-rule recall and the false-positive rate of the content rules, on a labelled set.

The set is built from LLaMA-Factory's real demo records (alpaca_en_demo + alpaca_zh_demo, in
../shared/corpus/llamafactory): N records per rule get that rule's defect injected, in varied
realistic forms; the rest stay untouched. Recall is the share of injected records on which the
rule fires. The demo data has real defects of its own (distilled-model disclaimers, duplicates,
placeholder inputs, English answers to Chinese prompts): those records, read one by one and listed
in bench/quality_reviewed.tsv, and every record duplicated in the source (found by exact
comparison) are not clean. The false-positive rate is the share of clean untouched records with
any error or warning finding; findings on all untouched records are listed by rule too.

Run: python bench/quality.py [--per-rule 40] [--seed 0] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.linter import Summary, lint_paths  # noqa: E402

PLACEHOLDERS = ["N/A", "<nooutput>", "无", "None", "TODO", "...", "暂无", "null", "No output."]
DISCLAIMERS_EN = [
    "As an AI language model, I cannot browse the internet. ",
    "I'm sorry, but I cannot help with that. ",
    "I am an AI language model and do not have personal opinions. ",
]
DISCLAIMERS_ZH = [
    "作为一个人工智能语言模型，我无法获取实时信息。",
    "抱歉，我无法回答这个问题。",
    "我是由OpenAI训练的语言模型。",
]
TOKENS = ["<|im_end|>", "[INST]", "<|eot_id|>", "</s>", "<|im_start|>assistant\n"]


def _zh(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text[:200])


def _mojibake(text: str) -> str:
    cut = max(1, len(text) // 3)
    segment = text[cut : cut + 12]
    broken = segment.encode("utf-8").decode("latin-1", "replace")
    if broken == segment:  # ASCII: add a curly quote that breaks
        broken = "â€™" + segment
    return text[:cut] + broken + text[cut + 12 :]


def inject(rule: str, rec: dict, rng: random.Random, donor: dict) -> dict:
    r = dict(rec)
    out = r["output"]
    if rule == "empty-output":
        r["output"] = rng.choice(["", "   ", None, "\u200b", "\n"])
    elif rule == "empty-instruction":
        r["instruction"], r["input"] = rng.choice(["", " "]), ""
    elif rule == "placeholder-output":
        r["output"] = rng.choice(PLACEHOLDERS)
    elif rule == "html-markup":
        r["output"] = rng.choice(
            [
                f"<p>{out}</p>",
                out.replace(" ", "&nbsp;", 1) + "&quot;",
                f'<div class="a">{out}</div>',
                out + "<br>",
            ]
        )
    elif rule == "script-content":
        r["output"] = out + rng.choice(
            ["<script>alert(1)</script>", '<img src=x onerror="steal()">', " javascript:void(0)"]
        )
    elif rule == "template-tokens":
        r["output"] = out + rng.choice(TOKENS)
    elif rule == "ai-disclaimer":
        r["output"] = rng.choice(DISCLAIMERS_ZH if _zh(out) else DISCLAIMERS_EN) + out
    elif rule == "encoding-noise":
        r["output"] = rng.choice(
            [_mojibake(out), out[: len(out) // 2] + "\ufffd\ufffd" + out[len(out) // 2 :]]
        )
    elif rule == "echo-output":
        r["output"] = r["instruction"] if not r.get("input") or rng.random() < 0.5 else r["input"]
    elif rule == "repetition":
        unit = (out.split("。")[0] + "。") if _zh(out) else (out.split(". ")[0].rstrip(".") + ". ")
        r["output"] = out + " " + unit * rng.randint(5, 9)
    elif rule == "language-mismatch":
        r["output"] = donor["output"]
    return r


def near_copy(rec: dict, rng: random.Random) -> dict:
    r = dict(rec)
    out = r["output"]
    if _zh(out):
        r["output"] = out.replace("。", "！", 1) if "。" in out else out + "！"
    else:
        words = out.split()
        if len(words) > 6:
            words[rng.randrange(len(words))] = rng.choice(["really", "quite", "also"])
        r["output"] = " ".join(words)
    r["instruction"] = r["instruction"].rstrip(".。?？") + rng.choice(["?", "!", "。"])
    return r


def _key(rec: dict) -> str:
    return json.dumps(rec, sort_keys=True, ensure_ascii=False)


def source_defects(shared: Path) -> set[str]:
    """Content keys of demo records that are not clean: reviewed defects and duplicates."""
    defective: set[str] = set()
    reviewed = (ROOT / "bench" / "quality_reviewed.tsv").read_text(encoding="utf-8")
    demos: dict[str, list[dict]] = {}
    for line in reviewed.splitlines():
        if not line or line.startswith("#"):
            continue
        name, index = line.split("\t")[:2]
        if name not in demos:
            demos[name] = json.loads((shared / "corpus" / "llamafactory" / name).read_text())
        defective.add(_key(demos[name][int(index)]))
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        records = json.loads((shared / "corpus" / "llamafactory" / name).read_text())
        prompts = Counter((r["instruction"], r["input"]) for r in records)
        defective.update(_key(r) for r in records if prompts[(r["instruction"], r["input"])] > 1)
    return defective


def build(shared: Path, per_rule: int, seed: int) -> tuple[list[dict], dict[int, str]]:
    """Records in file order, and the injected rule of each labelled position."""
    base = []
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        base.extend(json.loads((shared / "corpus" / "llamafactory" / name).read_text()))
    rng = random.Random(seed)
    rng.shuffle(base)
    # Style groups and donated answers come from records taken out of the base, so that no
    # record left in it shares their text; defective source records are not used for them.
    defective = source_defects(shared)
    spare = [r for r in (base.pop() for _ in range(per_rule * 12)) if _key(r) not in defective]
    reserve, donors = spare[::2], spare[1::2]
    long_enough = [r for r in base if len(r["output"]) > 80]
    # Answers given to the other language's prompts: prose, as the rule ignores code answers.
    prose = [
        r
        for r in donors
        if len(r["output"]) > 80 and "```" not in r["output"] and "\n    " not in r["output"]
    ]
    content_rules = [
        "empty-output", "empty-instruction", "placeholder-output", "html-markup",
        "script-content", "template-tokens", "ai-disclaimer", "encoding-noise", "echo-output",
        "repetition", "language-mismatch",
    ]  # fmt: skip
    labels: dict[int, str] = {}
    records = list(base)
    used: set[int] = set()
    for rule in content_rules:
        pool = [i for i, r in enumerate(records) if i not in used and len(r["output"]) > 40]
        for i in rng.sample(pool, per_rule):
            rec = records[i]
            donor = rng.choice([r for r in prose if _zh(r["output"]) != _zh(rec["instruction"])])
            records[i] = inject(rule, rec, rng, donor)
            labels[i] = rule
            used.add(i)
    # Duplicates and conflicts are appended copies of earlier records.
    extra: list[tuple[dict, str]] = []
    for rule in ("exact-duplicate", "near-duplicate", "conflicting-duplicate"):
        pool = [i for i, r in enumerate(records) if i not in used and len(r["output"]) > 120]
        for i in rng.sample(pool, per_rule):
            used.add(i)
            rec = records[i]
            if rule == "exact-duplicate":
                extra.append((dict(rec), rule))
            elif rule == "near-duplicate":
                extra.append((near_copy(rec, rng), rule))
            else:
                other = rng.choice(long_enough)
                extra.append(({**rec, "output": other["output"]}, rule))
    # Style groups: one task answered in one style (a fixed opening), one answer without it.
    tasks = [
        ("总结下面的文章。", "本文介绍了"), ("概括这段文字的要点。", "这段文字的要点是："),
        ("提炼下文的主旨。", "主旨："), ("简要概述下面的段落。", "概述："),
        ("用一句话总结以下内容。", "一句话总结："),
        ("Summarise the following passage.", "In short,"), ("Give the gist of this text.", "Gist:"),
        ("Condense the paragraph below.", "Condensed:"), ("State the main point.", "Main point:"),
        ("Briefly summarise this text.", "Summary:"),
    ]  # fmt: skip
    for g in range(max(1, per_rule // 4)):
        instruction, prefix = tasks[g % len(tasks)]
        zh = _zh(instruction)
        members = [r for r in reserve if _zh(r["output"]) == zh and len(r["output"]) > 80][:10]
        for m in members:
            reserve.remove(m)
        for j, m in enumerate(members):
            answer = m["output"][:150] if j == 9 else f"{prefix} {m['output'][:150]}"
            rec = {"instruction": instruction, "input": m["output"][:80], "output": answer}
            extra.append((rec, "style-inconsistent" if j == 9 else ""))
    for rec, rule in extra:
        if rule:
            labels[len(records)] = rule
        records.append(rec)
    return records, labels


def evaluate(records: list[dict], labels: dict[int, str], defective: set[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labelled.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        summary = Summary()
        findings = list(lint_paths([str(path)], None, summary))
    by_record: dict[int, set[str]] = defaultdict(set)
    serious: dict[int, set[str]] = defaultdict(set)
    for f in findings:
        if f.record is None:
            continue
        by_record[f.record].add(f.name)
        if f.severity in ("error", "warning"):
            serious[f.record].add(f.name)
    recall = {}
    for rule in sorted(set(labels.values())):
        positions = [i for i, r in labels.items() if r == rule]
        recall[rule] = (sum(rule in by_record[i] for i in positions), len(positions))
    untouched = [i for i in range(len(records)) if i not in labels and i < len(records)]
    flagged = [i for i in untouched if serious[i]]
    per_rule = Counter(name for i in flagged for name in serious[i])
    clean = [i for i in untouched if _key(records[i]) not in defective]
    clean_flagged = [i for i in clean if serious[i]]
    return {
        "recall": recall,
        "untouched": len(untouched),
        "flagged": len(flagged),
        "per_rule": per_rule,
        "clean": len(clean),
        "clean_flagged": len(clean_flagged),
        "clean_per_rule": Counter(name for i in clean_flagged for name in serious[i]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-rule", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    records, labels = build(args.shared, args.per_rule, args.seed)
    result = evaluate(records, labels, source_defects(args.shared))
    print(f"labelled set: {len(records)} records, {len(labels)} with an injected defect")
    print(f"{'rule':24s} recall")
    for rule, (hit, total) in result["recall"].items():
        print(f"{rule:24s} {hit / total:6.2f}  ({hit}/{total})")
    _rate("false positives: clean records", result["clean_flagged"], result["clean"],
          result["clean_per_rule"])  # fmt: skip
    _rate("all untouched records (source defects included)", result["flagged"],
          result["untouched"], result["per_rule"])  # fmt: skip


def _rate(what: str, flagged: int, total: int, per_rule: Counter) -> None:
    print(f"{what} with an error/warning finding: {flagged}/{total} = {flagged / total:.1%}")
    for rule, n in per_rule.most_common():
        print(f"  {rule:24s} {n}")


if __name__ == "__main__":
    main()
