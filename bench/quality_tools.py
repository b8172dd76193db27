"""Per-rule recall of the tool-call and think-tag rules, and their findings on untouched records.

Built from LLaMA-Factory's real tool-call demos (glaive_toolcall_en_demo and _zh_demo, sharegpt
`function_call`/`observation` turns; reason_tool_use_demo_50, v1 typed parts with `tool_call`
parts and xLAM-style schemas), in ../shared/corpus/llamafactory. N records per rule get a defect
injected in varied realistic forms; the rest stay untouched:

- invalid-tools: the tools string cut off mid-schema, one schema instead of a list, a
  parameter type misspelt ("sting"), a function without its name;
- invalid-tool-call: a call cut off, its name dropped, its arguments made a list;
- unknown-tool: a call's function renamed (a suffix, or another verb);
- tool-arguments-mismatch: an argument renamed, a required one dropped, a string given as a
  number;
- tool-turn-order: a call's observation (and the answer after it) dropped before the next
  user turn, or a copy of its observation put first in the conversation;
- unbalanced-think: an answer given a think block never closed, a stray `</think>`, or a
  block nested in another;
- empty-reasoning: a reason_tool_use answer's reasoning emptied (an empty or blank `reasoning`
  part, or the parts replaced by an inline `<think>\n\n</think>`), as a pipeline with
  thinking off writes it (the demo's 50 v1 records are the only ones that reason, so this
  rule gets EMPTY_REASONING of them).

reasoning-dropped (dataset-level, with a tokenizer) is judged on whole files of the 50
reason_tool_use records: their `reasoning` parts under the bundled Qwen2.5 template, which
ignores reasoning_content (it must fire), the same reasoning written inline as think blocks
under a Qwen3-style template that keeps only the last answer's (it must fire on the multi-turn
records), and inline under Qwen2.5, which renders it as text (it must not fire).

Recall is the share of injected records on which the rule fires. The demos have real defects
of their own (read one by one, listed in bench/quality_tools_reviewed.tsv with the rule that
finds them): untouched records outside that list must have no tool finding.

Run: python bench/quality_tools.py [--per-rule 40] [--seed 0] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.linter import Summary, lint_paths  # noqa: E402

RULES = ("empty-reasoning", "invalid-tools", "invalid-tool-call", "unknown-tool",
         "tool-arguments-mismatch", "tool-turn-order", "unbalanced-think")  # fmt: skip
EMPTY_REASONING = 10  # of the 50 reasoning records: the rest keep the dataset one that reasons
FILES = ("glaive_toolcall_en_demo.json", "glaive_toolcall_zh_demo.json",
         "reason_tool_use_demo_50.jsonl")  # fmt: skip


def load(shared: Path) -> list[tuple[str, int, dict]]:
    found = []
    for name in FILES:
        path = shared / "corpus" / "llamafactory" / name
        text = path.read_text(encoding="utf-8")
        rows = (
            json.loads(text)
            if name.endswith(".json")
            else [json.loads(x) for x in text.splitlines() if x]
        )
        found.extend((name, i, r) for i, r in enumerate(rows))
    return found


def reviewed() -> set[tuple[str, int]]:
    """(file, record) of the demos' own tool defects, from bench/quality_tools_reviewed.tsv."""
    out = set()
    listed = ROOT / "bench" / "quality_tools_reviewed.tsv"
    for line in listed.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, index, rule = line.split("\t")[:3]
            if rule in RULES:
                out.add((name, int(index)))
    return out


# --- the call turns of either shape ---------------------------------------------------------


def _call_slots(rec: dict) -> list[tuple[dict, str]]:
    """(container, key) of each call's JSON text: sharegpt function_call values, v1 tool_call
    part values."""
    slots = []
    for turn in rec.get("conversations", []):
        if turn.get("from") == "function_call":
            slots.append((turn, "value"))
    for msg in rec.get("messages", []):
        if msg.get("role") == "assistant" and isinstance(msg.get("content"), list):
            for part in msg["content"]:
                if part.get("type") == "tool_call":
                    slots.append((part, "value"))
    return slots


def _turns(rec: dict) -> tuple[list, str]:
    if "conversations" in rec:
        return rec["conversations"], "from"
    return rec["messages"], "role"


def _is_call(turn: dict, tag: str) -> bool:
    if tag == "from":
        return turn.get("from") == "function_call"
    return turn.get("role") == "assistant" and any(
        p.get("type") == "tool_call" for p in turn.get("content") or [] if isinstance(p, dict)
    )


def _is_observation(turn: dict, tag: str) -> bool:
    return turn.get(tag) in ("observation", "tool")


def _user(text: str, tag: str) -> dict:
    if tag == "from":
        return {"from": "human", "value": text}
    return {"role": "user", "content": [{"type": "text", "value": text}]}


# --- injections -------------------------------------------------------------------------------


def inject(rule: str, rec: dict, rng: random.Random) -> dict | None:
    """A copy of `rec` with the rule's defect, or None where the record cannot carry it."""
    r = copy.deepcopy(rec)
    slots = _call_slots(r)
    tools = json.loads(r["tools"]) if isinstance(r.get("tools"), str) and r["tools"] else None
    if rule == "invalid-tools":
        if not tools:
            return None
        form = rng.randrange(4)
        if form == 0:
            r["tools"] = r["tools"][: int(len(r["tools"]) * rng.uniform(0.4, 0.9))]
        elif form == 1:
            r["tools"] = json.dumps(tools[0], ensure_ascii=False)
        else:
            fn = tools[0].get("function", tools[0])
            if form == 2:
                props = (fn.get("parameters") or {}).get("properties") or {}
                if not props:
                    return None
                next(iter(props.values()))["type"] = "sting"
            else:
                fn.pop("name", None)
            r["tools"] = json.dumps(tools, ensure_ascii=False)
        return r
    if rule == "unbalanced-think":
        return _unbalanced(r, rng)
    if rule == "empty-reasoning":
        return _emptied(r, rng)
    if not slots:
        return None
    container, key = rng.choice(slots)
    call = json.loads(container[key])
    if isinstance(call, list):
        return None
    if rule == "invalid-tool-call":
        form = rng.randrange(3)
        if form == 0:
            container[key] = container[key][: int(len(container[key]) * rng.uniform(0.3, 0.9))]
            return r
        if form == 1:
            call.pop("name", None)
        else:
            call["arguments"] = list((call.get("arguments") or {"x": 1}).values())
    elif rule == "unknown-tool":
        if not tools:
            return None
        call["name"] = rng.choice([call["name"] + "_v2", "fetch_" + call["name"].split("_")[-1]])
    elif rule == "tool-arguments-mismatch":
        args = call.get("arguments")
        if not tools or not isinstance(args, dict) or not args:
            return None
        name = rng.choice(sorted(args))
        form = rng.randrange(3)
        if form == 0:
            args[name + "_value"] = args.pop(name)
        elif form == 1:
            fn = next((t.get("function", t) for t in tools
                       if t.get("function", t).get("name") == call["name"]), None)  # fmt: skip
            fn = fn or {}
            listed = (fn.get("parameters") or {}).get("required") or fn.get("required") or []
            required = [q for q in listed if q in args]
            if not required:
                return None
            args.pop(required[0])
        else:
            if not isinstance(args[name], str):
                return None
            args[name] = 12345
    elif rule == "tool-turn-order":
        turns, tag = _turns(r)
        at = next((i for i, t in enumerate(turns) if _is_call(t, tag)), None)
        if at is None:
            return None
        if rng.random() < 0.5:  # the result and its answer dropped before the next user turn
            end = at + 1
            while end < len(turns) and turns[end].get(tag) not in ("human", "user"):
                end += 1
            del turns[at + 1 : end]
            if at + 1 >= len(turns):
                turns.append(_user("Thanks, and one more thing?", tag))
                turns.append({tag: "gpt" if tag == "from" else "assistant",
                              ("value" if tag == "from" else "content"): "Sure." if tag == "from"
                              else [{"type": "text", "value": "Sure."}]})  # fmt: skip
        else:  # an observation first in the conversation
            obs = next((t for t in turns[at:] if _is_observation(t, tag)), None)
            if obs is None:
                return None
            first = 1 if turns and turns[0].get(tag) == "system" else 0
            turns.insert(first, copy.deepcopy(obs))
        return r
    container[key] = json.dumps(call, ensure_ascii=False)
    return r


def _answer_texts(rec: dict) -> list[tuple[dict, str]]:
    """(container, key) of each assistant answer's text: sharegpt values, v1 text parts."""
    slots = [(t, "value") for t in rec.get("conversations", []) if t.get("from") == "gpt"]
    for msg in rec.get("messages", []):
        if msg.get("role") == "assistant" and isinstance(msg.get("content"), list):
            slots += [(p, "value") for p in msg["content"] if p.get("type") == "text"]
    return [(c, k) for c, k in slots if isinstance(c.get(k), str) and c[k].strip()]


def _unbalanced(r: dict, rng: random.Random) -> dict | None:
    """An answer given a think block that is never closed, a stray closing tag, or a nested one
    (what a reasoning pipeline that cut or doubled its tags leaves)."""
    slots = _answer_texts(r)
    if not slots:
        return None
    container, key = rng.choice(slots)
    text, form = container[key], rng.randrange(3)
    if form == 0:
        container[key] = "<think>Let me work this out step by step. " + text
    elif form == 1:
        container[key] = "First I check what was asked.\n</think>\n" + text
    else:
        container[key] = "<think>I think. <think>Again.</think></think>" + text
    return r


def _emptied(r: dict, rng: random.Random) -> dict | None:
    """A v1 answer whose reasoning parts are emptied, or turned into an empty inline block."""
    reasoning = [
        m for m in r.get("messages", [])
        if m.get("role") == "assistant" and isinstance(m.get("content"), list)
        and any(p.get("type") == "reasoning" for p in m["content"])
    ]  # fmt: skip
    if not reasoning:
        return None
    msg, form = rng.choice(reasoning), rng.randrange(3)
    if form < 2:
        for part in msg["content"]:
            if part.get("type") == "reasoning":
                part["value"] = "" if form == 0 else "\n\n"
        return r
    parts = [p for p in msg["content"] if p.get("type") != "reasoning"]
    text = next((p for p in parts if p.get("type") == "text"), None)
    if text is None:
        parts.insert(0, text := {"type": "text", "value": ""})
    text["value"] = "<think>\n\n</think>\n\n" + text["value"]
    msg["content"] = parts
    return r


def planned(rule: str, per_rule: int) -> int:
    """How many records a rule gets its defect injected into."""
    return min(per_rule, EMPTY_REASONING) if rule == "empty-reasoning" else per_rule


def build(shared: Path, per_rule: int, seed: int):
    rng = random.Random(seed)
    base = load(shared)
    order = list(range(len(base)))
    rng.shuffle(order)
    labels: dict[int, str] = {}
    records = [r for _, _, r in base]
    used: set[int] = set()
    for rule in RULES:
        done = 0
        for i in order:
            if done == planned(rule, per_rule):
                break
            if i in used:
                continue
            injected = inject(rule, records[i], rng)
            if injected is None:
                continue
            records[i], labels[i] = injected, rule
            used.add(i)
            done += 1
    return base, records, labels


# Qwen3's rule for past reasoning, in a few lines: think blocks stay in the last answer only.
LAST_THOUGHT_ONLY = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% set c = m.content %}"
    "{% if m.role == 'assistant' and not loop.last and '</think>' in c %}"
    "{% set c = c.split('</think>')[-1] | trim %}{% endif %}{{ c }}<|im_end|>\n{% endfor %}"
)


def _inline(rec: dict) -> dict:
    """A v1 record with its reasoning parts written inline, as a think block before the text."""
    r = copy.deepcopy(rec)
    for msg in r["messages"]:
        if msg.get("role") == "assistant" and isinstance(msg.get("content"), list):
            thought = "".join(p["value"] for p in msg["content"] if p.get("type") == "reasoning")
            parts = [p for p in msg["content"] if p.get("type") != "reasoning"]
            if thought:
                parts.insert(0, {"type": "text", "value": f"<think>\n{thought}\n</think>\n\n"})
            msg["content"] = parts
    return r


def reasoning_dropped(shared: Path) -> dict[str, tuple[int, int]]:
    """(records the finding names, records it should name) for each trial file."""
    from dataprep import templates, tokenizer
    from dataprep.lengths import LengthSetup

    # The bundled Qwen2.5 tokenizer and template, as a model named with --tokenizer (the
    # unnamed stand-in is not judged).
    model = dataclasses.replace(tokenizer.load(None), estimate=False)
    qwen25 = LengthSetup(model, templates.resolve("auto", model.chat_template, model.special))
    last_only = LengthSetup(model, templates.resolve("auto", LAST_THOUGHT_ONLY, model.special))
    demo = [r for name, _, r in load(shared) if name == "reason_tool_use_demo_50.jsonl"]
    inline = [_inline(r) for r in demo]
    multi = sum(sum(m["role"] == "assistant" for m in r["messages"]) > 1 for r in inline)
    trials = {
        "reasoning parts, Qwen2.5": (demo, qwen25, len(demo)),
        "inline, last thought only": (inline, last_only, multi),
        "inline, Qwen2.5 (clean)": (inline, qwen25, 0),
    }
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (records, setup, expected) in trials.items():
            path = Path(tmp) / "trial.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            named = 0
            for f in lint_paths([str(path)], None, Summary(), lengths=setup):
                if f.name == "reasoning-dropped":
                    # The dataset-level finding counts the records it names: "... in N of M".
                    named += int(re.search(r" in ([\d,]+) of ", f.message)[1].replace(",", ""))
            found[name] = (named, expected)
    return found


def evaluate(base, records, labels, known: set[tuple[str, int]]) -> dict:
    by_record: dict[int, set[str]] = defaultdict(set)
    with tempfile.TemporaryDirectory() as tmp:
        # One file per shape: sharegpt and v1 records are not mixed in one file.
        for shape in ("conversations", "messages"):
            at = [i for i, r in enumerate(records) if shape in r]
            path = Path(tmp) / f"{shape}.jsonl"
            path.write_text("".join(json.dumps(records[i], ensure_ascii=False) + "\n" for i in at))
            for f in lint_paths([str(path)], None, Summary()):
                if f.record is not None and f.name in RULES:
                    by_record[at[f.record]].add(f.name)
    recall = {}
    for rule in RULES:
        positions = [i for i, r in labels.items() if r == rule]
        recall[rule] = (sum(rule in by_record[i] for i in positions), len(positions))
    untouched = [i for i in range(len(records)) if i not in labels]
    clean = [i for i in untouched if (base[i][0], base[i][1]) not in known]
    return {
        "recall": recall,
        "untouched": len(untouched),
        "known_found": sum(bool(by_record[i]) for i in untouched if i not in clean),
        "known": len(untouched) - len(clean),
        "clean": len(clean),
        "clean_flagged": [
            (base[i][0], base[i][1], sorted(by_record[i])) for i in clean if by_record[i]
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-rule", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = parser.parse_args()
    shared = Path(args.shared)
    if not (shared / "corpus" / "llamafactory").is_dir():
        print(f"{shared}/corpus/llamafactory not found: pass --shared", file=sys.stderr)
        return 2
    base, records, labels = build(shared, args.per_rule, args.seed)
    result = evaluate(base, records, labels, reviewed())
    print(f"labelled set: {len(records)} records, {len(labels)} with an injected defect")
    print(f"{'rule':<26} recall")
    for rule, (hit, total) in result["recall"].items():
        print(f"{rule:<26} {hit / max(total, 1):.2f}  ({hit}/{total})")
    flagged = result["clean_flagged"]
    known = f"{result['known_found']}/{result['known']}"
    print(f"untouched records with a tool finding: {len(flagged)}/{result['clean']} clean; "
          f"{known} of the demos' reviewed defects found")  # fmt: skip
    for name, index, rules in flagged:
        print(f"  {name} #{index}: {', '.join(rules)}")
    print("reasoning-dropped, records named / expected (reason_tool_use, bundled tokenizer):")
    for name, (named, expected) in reasoning_dropped(shared).items():
        print(f"  {name:<28} {named}/{expected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
