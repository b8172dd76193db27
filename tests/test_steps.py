"""Training steps from row counts: Hugging Face's Trainer's own count, and the CLI flags."""

from __future__ import annotations

import json

import pytest

from dataprep.cli import main
from dataprep.steps import Batching, steps


@pytest.mark.parametrize(("rows", "batch", "accum", "epochs"),
                         [(7, 4, 2, 3), (100, 8, 3, 1.5), (5, 16, 4, 2), (1000, 3, 7, 0.3),
                          (64, 8, 8, 1)])  # fmt: skip
def test_steps_are_the_trainers_own(tmp_path, rows, batch, accum, epochs):
    import datasets
    import torch
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=batch,
                             gradient_accumulation_steps=accum, num_train_epochs=epochs,
                             remove_unused_columns=False, report_to=[], use_cpu=True)  # fmt: skip
    trainer = Trainer(model=torch.nn.Linear(2, 2), args=args,
                      train_dataset=datasets.Dataset.from_dict({"x": list(range(rows))}),
                      data_collator=lambda f: {"x": torch.tensor([r["x"] for r in f])})  # fmt: skip
    values = trainer.set_initial_training_values(args, trainer.get_train_dataloader())
    found = steps(rows, Batching(batch, accum, 1, epochs))
    assert (found["per_epoch"], found["max_steps"]) == (values[1], values[6])
    assert found["global_batch"] == values[4]


def test_each_process_takes_its_share_of_the_batches():
    # 100 rows, 2 processes of 8: 7 batches each (the last short), 4 steps of 2.
    assert steps(100, Batching(8, 2, 2, 3)) == {
        "rows": 100, "global_batch": 32, "per_epoch": 4, "epochs": 3, "max_steps": 12}  # fmt: skip


def test_stats_and_build_print_the_steps(tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Question {i}?", "input": "",
                                        "output": f"Answer number {i}."}) + "\n"
                            for i in range(30)))  # fmt: skip
    flags = ["--per-device-batch", "4", "--grad-accum", "2", "--epochs", "2"]
    assert main(["stats", str(data), "--format", "json", *flags]) == 0
    found = json.loads(capsys.readouterr().out)["steps"]
    assert found == {"rows": 30, "global_batch": 8, "per_epoch": 4, "epochs": 2.0, "max_steps": 8}
    assert main(["build", str(data), "--out", str(tmp_path / "b"), "--cutoff-len", "128",
                 *flags, "--world", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "training: 2 optimizer steps per epoch over 30 rows (global batch 16); max_steps 4" in out
    )
    counts = json.loads((tmp_path / "b" / "manifest.json").read_text())["counts"]
    assert (
        f"tokens: {counts['tokens']:,} ({counts['label_tokens']:,} labelled) in 30 samples" in out
    )
    assert main(["build", str(data), "--out", str(tmp_path / "p"), "--cutoff-len", "128",
                 "--packing", *flags]) == 0  # fmt: skip
    out = capsys.readouterr().out
    rows = json.loads((tmp_path / "p" / "manifest.json").read_text())["counts"]["splits"]["train"]
    assert rows < 30 and f"in 30 samples; packed into {rows:,} rows" in out
    assert f"over {rows:,} rows" in out  # the steps count the packed rows
    assert main(["stats", str(data), "--per-device-batch", "0"]) == 2
    assert "--per-device-batch must be 1 or more" in capsys.readouterr().err
