"""A run folder in, the doctor's answer out: the logged records and config of a `train run`
output_dir, and the diagnoses as text, JSON or a self-contained HTML page with the curves."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from dataprep.errors import DataprepError
from train import doctor
from train.doctor import Diagnosis


def read_run(folder: str) -> tuple[list[dict], dict]:
    """A run folder's logged records and its config (train_config.json, or run.json)."""
    root = Path(folder)
    log = root / "trainer_log.jsonl"
    if not log.is_file():
        raise DataprepError(f"{root}: no trainer_log.jsonl", fix="name a `train run` output_dir")
    records = []
    for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise DataprepError(
                f"{log}:{number}: not a JSON line", fix="a run writes one JSON object per line"
            ) from None
    config: dict = {}
    for name in ("train_config.json", "run.json"):
        if (root / name).is_file():
            loaded = json.loads((root / name).read_text(encoding="utf-8"))
            config = loaded.get("config", loaded)
            break
    return records, config


def as_json(found: list[Diagnosis]) -> list[dict]:
    return [asdict(d) | {"steps": list(d.steps)} for d in found]


def text(found: list[Diagnosis], folder: str) -> str:
    if not found:
        return f"{folder}: no problems found in the logged numbers"
    lines = []
    for d in found:
        lines.append(f"{folder}: {d.severity} {d.code} {d.name}: {d.message}")
        lines.append(f"  advice: {d.advice}")
        if d.change:
            lines.append("  change: " + ", ".join(f"{k}: {_show(v)}" for k, v in d.change.items()))
    return "\n".join(lines)


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def html(found: list[Diagnosis], records: list[dict], folder: str) -> str:
    """A self-contained page in the data report's style: the diagnoses and the curves."""
    from datetime import datetime, timezone

    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from dataprep import __version__, svg
    from dataprep.resources import reports_dir

    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    markers = [(d.code, float(d.steps[0])) for d in found if d.steps]
    loss = svg.lines([("loss", [(r["step"], _number(r["loss"])) for r in train]),
                      ("eval loss", [(r["step"], _number(r["eval_loss"])) for r in evals])],
                     markers=markers)  # fmt: skip
    rewards = None
    if any("rewards/margins" in r for r in train):
        rewards = svg.lines([(key, [(r["step"], _number(r.get(key))) for r in train])
                             for key in ("rewards/margins", "rewards/accuracies")])  # fmt: skip
    env = Environment(loader=FileSystemLoader(str(reports_dir())),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    return env.get_template("doctor.html.j2").render(
        found=found,
        docs={c.code: c.doc for c in doctor.CHECKS},
        steps=len(train),
        loss_chart=loss,
        reward_chart=rewards,
        css=(reports_dir() / "report.css").read_text(encoding="utf-8"),
        version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        title=folder,
    )


def _number(value) -> float:
    return float(value) if doctor.finite(value) else float("nan")
