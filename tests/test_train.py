"""train run: config validation, LoRA SFT and DPO on tiny random models, refusals, resume."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tests.conftest import LLAMAFACTORY, needs_shared
from tests.models import tiny_llama
from train.cli import main as train_main

SFT_ROWS = [{"instruction": f"What is {a} plus {b}?", "input": "", "output": f"{a} plus {b} is {a + b}."}
            for a in range(4) for b in range(4)]  # fmt: skip
DPO_ROWS = [{"prompt": f"Say something nice about {t}.", "chosen": f"{t.capitalize()} is lovely.",
             "rejected": f"I hate {t}."} for t in ("cats", "dogs", "rain", "tea", "books", "music",
                                                   "the sea", "trees")]  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


def _build(tmp_path: Path, rows, model_dir: Path, name="data") -> Path:
    from dataprep.cli import main as dataprep_main

    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / f"{name}-build"
    assert dataprep_main(["build", str(data), "--out", str(out), "--tokenizer", str(model_dir),
                          "--cutoff-len", "128"]) == 0  # fmt: skip
    return out


def _config(tmp_path: Path, **keys) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items()))
    return path


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]


def test_config_problems_are_listed_at_once(tmp_path, capsys):
    path = _config(tmp_path, model_name_or_path="m", dataset="d", output_dir="o",
                   learning_rat=1e-4, finetuning_type="full", quantization_bit=4,
                   per_device_train_batch_size="four", pref_loss="ipo")  # fmt: skip
    assert train_main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'learning_rat' (did you mean 'learning_rate'?)" in err
    assert "quantization_bit with finetuning_type full" in err
    assert "per_device_train_batch_size must be an integer, not str" in err
    assert "pref_loss: DPO settings, and method is sft" in err


def test_print_config_shows_method_aware_defaults(tmp_path, capsys):
    path = _config(tmp_path, model_name_or_path="m", dataset="d", output_dir="o")
    assert train_main(["run", str(path), "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["learning_rate"] == 2e-4
    assert train_main(["run", str(path), "method=dpo", "--print-config"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["learning_rate"] == 5e-6 and resolved["lora_alpha"] == 16
    assert train_main(["run", str(path), "finetuning_type=full", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["learning_rate"] == 1e-5


def test_help_config_documents_every_key_with_its_default(capsys):
    import dataclasses

    from train.config import TrainConfig, field_docs

    with pytest.raises(SystemExit) as stop:
        train_main(["run", "--help-config"])  # no config file needed, as with --help
    assert stop.value.code == 0
    out = capsys.readouterr().out
    docs = field_docs()
    for f in dataclasses.fields(TrainConfig):
        assert docs.get(f.name), f"{f.name} has no docstring"
        if f.name != "source":
            assert f"{f.name}: {f.type} = {f.default!r}\n" in out
            assert " ".join(docs[f.name].split()[:4]) in " ".join(out.split())
    assert "source" not in docs or "source:" not in out


def test_lora_sft_lowers_the_loss_and_saves_a_loadable_adapter(tmp_path, model_dir):
    build = _build(tmp_path, SFT_ROWS, model_dir)
    out = tmp_path / "run"
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(out), max_steps=50, per_device_train_batch_size=4,
                   learning_rate=0.02, logging_steps=5, lora_rank=8)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    log = _log(out)
    assert log[0]["step"] == 5 and log[-1]["step"] == 50
    assert log[-1]["loss"] < 0.6 * log[0]["loss"], (log[0]["loss"], log[-1]["loss"])
    assert all(0 <= r["padding"] < 0.5 and r["tokens_per_s"] > 0 for r in log)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    PeftModel.from_pretrained(base, out)  # the adapter folder loads


def test_dpo_starts_at_ln2_with_zero_rewards_and_learns_a_margin(tmp_path, model_dir):
    build = _build(tmp_path, DPO_ROWS, model_dir, "pairs")
    out = tmp_path / "dpo"
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(out), method="dpo", max_steps=30, logging_steps=1,
                   per_device_train_batch_size=4, learning_rate=5e-3, warmup_ratio=0.0)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    log = _log(out)
    first, last = log[0], log[-1]
    assert math.isclose(first["loss"], math.log(2), abs_tol=1e-4)
    assert first["rewards/chosen"] == 0 and first["rewards/rejected"] == 0
    assert last["rewards/margins"] > 0 and last["loss"] < first["loss"]


def test_a_build_for_another_tokenizer_is_refused(tmp_path, model_dir, capsys):
    from tests import tokenizers

    other = tokenizers.make(tmp_path / "other", eos_token="</s>",
                            chat_template="{% for m in messages %}{{ m.content }}</s>{% endfor %}")  # fmt: skip
    build = _build(tmp_path, SFT_ROWS, other)
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(tmp_path / "run"))  # fmt: skip
    assert train_main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "whose files differ from the model's" in err and "dataprep build" in err


def test_a_kto_build_is_refused_not_trained_as_sft(tmp_path, model_dir, capsys):
    rows = [{"messages": [{"role": "user", "content": f"Q{i}?"},
                          {"role": "assistant", "content": f"Answer {i}."}], "label": i % 2 == 0}
            for i in range(8)]  # fmt: skip
    build = _build(tmp_path, rows, model_dir, name="kto")
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(tmp_path / "run"))  # fmt: skip
    assert train_main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is a KTO build" in err and "stage: kto" in err


def test_resume_reproduces_the_uninterrupted_run(tmp_path, model_dir):
    build = _build(tmp_path, SFT_ROWS, model_dir)
    common = dict(model_name_or_path=str(model_dir), dataset=str(build), max_steps=10,
                  per_device_train_batch_size=4, learning_rate=5e-3, logging_steps=1,
                  save_steps=5)  # fmt: skip
    whole = tmp_path / "whole"
    assert train_main(["run", str(_config(tmp_path, output_dir=str(whole), **common))]) == 0
    # As if the run had died after step 5: a new run picks up its checkpoint.
    resumed = tmp_path / "resumed"
    config = _config(tmp_path, output_dir=str(resumed), **common,
                     resume_from_checkpoint=str(whole / "checkpoint-5"))  # fmt: skip
    assert train_main(["run", str(config)]) == 0
    a = {r["step"]: r["loss"] for r in _log(whole)}
    b = {r["step"]: r["loss"] for r in _log(resumed)}
    for step in range(6, 11):
        assert math.isclose(a[step], b[step], rel_tol=1e-4), (step, a[step], b[step])


def test_output_dir_is_not_overwritten_without_asking(tmp_path, model_dir, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(tmp_path),
                   output_dir=str(out))  # fmt: skip
    assert train_main(["run", str(path)]) == 2
    assert "is not empty" in capsys.readouterr().err and (out / "keep.txt").exists()


def test_qlora_runs_on_a_4bit_base_and_saves_an_adapter_that_loads(tmp_path, model_dir):
    pytest.importorskip("bitsandbytes")
    build = _build(tmp_path, SFT_ROWS, model_dir)
    out = tmp_path / "qlora"
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(out), finetuning_type="qlora", max_steps=10,
                   per_device_train_batch_size=4, learning_rate=0.02, logging_steps=5)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    log = _log(out)
    assert log[-1]["loss"] < log[0]["loss"]
    assert json.loads((out / "run.json").read_text())["config"]["quantization_bit"] == 4
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), out)


def test_example_configs_are_valid(capsys):
    root = Path(__file__).parent.parent / "examples" / "train"
    for name in ("tiny_sft", "tiny_qlora", "tiny_dpo"):
        assert train_main(["run", str(root / f"{name}.yaml"), "--print-config"]) == 0
        resolved = json.loads(capsys.readouterr().out)
        assert (root.parent.parent / resolved["dataset"]).is_file()


def test_merge_and_generate_after_training(tmp_path, model_dir, capsys):
    build = _build(tmp_path, SFT_ROWS, model_dir)
    out = tmp_path / "run"
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(out), max_steps=20, per_device_train_batch_size=4,
                   learning_rate=0.02, logging_steps=10)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    merged = tmp_path / "merged"
    assert train_main(["merge", str(out), str(merged)]) == 0
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from dataprep import templates, tokenizer

    model_tok = tokenizer.load(str(model_dir))
    template = templates.resolve("auto", model_tok.chat_template, model_tok.special)
    text = template.render([{"role": "user", "content": "What is 1 plus 2?"}],
                           add_generation_prompt=True)  # fmt: skip
    assert text.endswith("<|im_start|>assistant\n")
    ids = torch.tensor([model_tok.backend.encode(text, add_special_tokens=False).ids])
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), out)
    folded = AutoModelForCausalLM.from_pretrained(merged)
    with torch.no_grad():
        assert torch.allclose(adapted(ids).logits, folded(ids).logits, atol=1e-4)
        greedy = folded.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=8, do_sample=False, eos_token_id=151645,
                                 pad_token_id=151643)  # fmt: skip
    capsys.readouterr()
    assert train_main(["generate", str(out), "What is 1 plus 2?", "--max-new-tokens", "8"]) == 0
    expected = model_tok.backend.decode(
        greedy[0, ids.shape[1] :].tolist(), skip_special_tokens=True
    )
    assert capsys.readouterr().out == expected + "\n"  # the same template, tokens and stops
    assert (merged / "tokenizer.json").is_file()


def test_two_processes_train_like_one_with_the_same_effective_batch(tmp_path, model_dir):
    import subprocess
    import sys

    build = _build(tmp_path, SFT_ROWS, model_dir)
    common = dict(model_name_or_path=str(model_dir), dataset=str(build), max_steps=6,
                  learning_rate=0.02, logging_steps=1, gradient_accumulation_steps=2)  # fmt: skip
    one = tmp_path / "one"
    config = _config(tmp_path, output_dir=str(one), per_device_train_batch_size=4, **common)
    assert train_main(["run", str(config)]) == 0
    two = tmp_path / "two"
    config = _config(tmp_path, output_dir=str(two), per_device_train_batch_size=2, **common)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29533", "-m", "train.cli", "run", str(config)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    a, b = _log(one), _log(two)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 7))
    for x, y in zip(a, b, strict=True):
        assert math.isclose(x["loss"], y["loss"], rel_tol=1e-4), (x["step"], x["loss"], y["loss"])


def test_a_nan_loss_stops_the_run_at_once_with_advice(tmp_path, model_dir, capsys):
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    model = AutoModelForCausalLM.from_pretrained(broken)
    with torch.no_grad():  # one overflowed weight, as a bad fp16 step leaves behind
        model.model.layers[0].mlp.up_proj.weight[0, 0] = float("inf")
    model.save_pretrained(broken)
    build = _build(tmp_path, SFT_ROWS, model_dir)
    path = _config(tmp_path, model_name_or_path=str(broken), dataset=str(build),
                   output_dir=str(tmp_path / "nan"), max_steps=5)  # fmt: skip
    assert train_main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"step 1: the loss is nan \(build rows \[", err), err[-500:]
    assert "lower the learning rate 10x" in err


def test_eval_loss_is_logged_and_the_best_adapter_kept(tmp_path, model_dir):
    from dataprep.cli import main as dataprep_main

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS * 2))
    build = tmp_path / "split-build"
    assert dataprep_main(["build", str(data), "--out", str(build), "--tokenizer", str(model_dir),
                          "--cutoff-len", "128", "--val-size", "0.25",
                          "--ignore", "exact-duplicate"]) == 0  # fmt: skip
    out = tmp_path / "eval"
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(out), max_steps=8, eval_steps=4, learning_rate=0.02,
                   per_device_train_batch_size=4, logging_steps=4)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    evals = [r for r in _log(out) if "eval_loss" in r]
    assert [r["step"] for r in evals] == [4, 8] and evals[1]["eval_loss"] < evals[0]["eval_loss"]
    assert (out / "best" / "adapter_config.json").is_file()


@pytest.mark.parametrize("loss", ["sigmoid", "hinge", "ipo"])
def test_the_dpo_loss_equals_trls_for_the_same_batch(tmp_path, model_dir, loss):
    trl = pytest.importorskip("trl")
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from train.config import TrainConfig
    from train.data import Rows, collate
    from train.recipes.dpo import make_step

    build = _build(tmp_path, DPO_ROWS, model_dir, "pairs")
    rows = Rows(build / "train")
    batch = collate([rows[i] for i in range(4)], "dpo", 151643)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"),
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>")  # fmt: skip
    args = trl.DPOConfig(output_dir=str(tmp_path / "trl"), beta=0.1, loss_type=[loss],
                         report_to=[], bf16=False, use_cpu=True)  # fmt: skip
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    pairs = Dataset.from_list(DPO_ROWS)
    trainer = trl.DPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args,
                             train_dataset=pairs, processing_class=tok, peft_config=lora)  # fmt: skip
    with torch.no_grad():  # a trained adapter: the policy now differs from its reference
        torch.manual_seed(0)
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    trainer.model.train()
    completion = (batch["labels"] != -100).long()
    theirs = trainer._compute_loss(
        trainer.model,
        {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
         "completion_mask": completion},
        return_outputs=False,
    )  # fmt: skip
    config = TrainConfig(method="dpo", pref_beta=0.1, pref_loss=loss)
    ours, _ = make_step(config, None)(trainer.model, batch)
    assert math.isclose(float(ours) / 4, float(theirs), rel_tol=1e-4), (float(ours) / 4, theirs)
    # Each pair in one row (the default layout), kept apart by the mask: the same loss.
    paired, _ = make_step(config, None)(trainer.model,
                                        collate([rows[i] for i in range(4)], "pairs", 151643))  # fmt: skip
    assert math.isclose(float(paired) / 4, float(theirs), rel_tol=1e-4), (float(paired) / 4, theirs)


@needs_shared
def test_a_pair_in_one_row_keeps_dpo_padding_under_ten_percent(tmp_path, model_dir):
    """dpo_en_demo, batches of 4 grouped by length: chosen and rejected as rows of their own
    are both padded to the batch's longest answer; one row per pair pads only between pairs."""
    from dataprep.cli import main as dataprep_main
    from train.data import Rows, batches, collate

    out = tmp_path / "build"
    assert dataprep_main(["build", str(LLAMAFACTORY / "dpo_en_demo.json"), "--out", str(out),
                          "--tokenizer", str(model_dir), "--cutoff-len", "2048"]) == 0  # fmt: skip
    rows = Rows(out / "train")

    def padding(kind: str) -> float:
        real = total = 0
        for chunk in batches(rows, kind, 4, seed=42, epoch=0):
            batch = collate([rows[i] for i in chunk], kind, 151643)
            real += batch["tokens"]
            total += batch["tokens"] / (1 - batch["padding"])
        return 1 - real / total

    apart, together = padding("dpo"), padding("pairs")
    assert together < 0.10 < apart, (together, apart)


def test_packed_rows_train_exactly_like_their_sequences_apart(tmp_path, model_dir):
    from transformers import AutoModelForCausalLM

    from dataprep.cli import main as dataprep_main
    from train.data import Rows, collate
    from train.recipes.sft import step

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS))
    packed, plain = tmp_path / "packed", tmp_path / "plain"
    for out, extra in ((packed, ["--packing"]), (plain, [])):
        assert dataprep_main(["build", str(data), "--out", str(out), "--tokenizer",
                              str(model_dir), "--cutoff-len", "256", *extra]) == 0  # fmt: skip
    row = Rows(packed / "train")[0]
    count = max(row["attention_mask"])
    assert count > 2  # several sequences in one row
    apart = Rows(plain / "train")
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    import torch

    with torch.no_grad():
        together, _ = step(model, collate([row], "packed", 151643))
        separate, _ = step(model, collate([apart[i] for i in range(count)], "sft", 151643))
    assert torch.allclose(together, separate, rtol=1e-4), (together, separate)
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(packed),
                   output_dir=str(tmp_path / "run"), max_steps=10, learning_rate=0.02,
                   per_device_train_batch_size=1, logging_steps=5)  # fmt: skip
    assert train_main(["run", str(path)]) == 0
    log = _log(tmp_path / "run")
    assert log[-1]["loss"] < log[0]["loss"] and log[0]["padding"] < 0.1


def test_tf32_on_a_cpu_is_refused(tmp_path, model_dir, capsys):
    build = _build(tmp_path, SFT_ROWS, model_dir)
    path = _config(tmp_path, model_name_or_path=str(model_dir), dataset=str(build),
                   output_dir=str(tmp_path / "run2"), tf32=True)  # fmt: skip
    assert train_main(["run", str(path)]) == 2
    assert "tf32 is a CUDA" in capsys.readouterr().err


def _torchrun(config: Path, port: int, *extra: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(port), "-m", "train.cli", "run", str(config), *extra],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("sharding", [{"deepspeed": "zero3_offload"}, {"fsdp": "full_shard"}],
                         ids=["zero3_offload", "fsdp"])  # fmt: skip
def test_sharded_training_on_two_processes_trains_and_saves_like_one_plain_process(
    tmp_path, model_dir, sharding
):
    """The chapter's last resort against OOM: ZeRO-3 (here with CPU offload) or FSDP shards
    weights, gradients and optimizer states over the processes; the training must not
    change, and what is saved is whole."""
    if "deepspeed" in sharding:
        pytest.importorskip("deepspeed")
    from peft.utils import load_peft_weights

    build = _build(tmp_path, SFT_ROWS, model_dir)
    common = dict(model_name_or_path=str(model_dir), dataset=str(build), max_steps=6,
                  learning_rate=0.02, logging_steps=1, gradient_accumulation_steps=2)  # fmt: skip
    one = tmp_path / "one"
    assert train_main(["run", str(_config(tmp_path, output_dir=str(one),
                                          per_device_train_batch_size=4, **common))]) == 0  # fmt: skip
    zero = tmp_path / "zero"
    config = _config(tmp_path, output_dir=str(zero), per_device_train_batch_size=2,
                     save_steps=3, **sharding, **common)  # fmt: skip
    run = _torchrun(config, 29535)
    assert run.returncode == 0, run.stderr[-3000:]
    a, b = _log(one), _log(zero)
    assert [r["step"] for r in b] == list(range(1, 7))
    for x, y in zip(a, b, strict=True):
        assert math.isclose(x["loss"], y["loss"], rel_tol=1e-4), (x["step"], x["loss"], y["loss"])
    # The adapter is gathered from its shards before it is saved: whole, and the same weights.
    plain, sharded = load_peft_weights(str(one)), load_peft_weights(str(zero))
    assert plain.keys() == sharded.keys() and plain
    for key, value in plain.items():
        assert sharded[key].shape == value.shape
        assert (sharded[key] - value).abs().max() < 1e-3, key
    # Resuming from the sharded checkpoint at step 3 gives steps 4-6 of the same run.
    resumed = tmp_path / "resumed"
    config = _config(tmp_path, output_dir=str(resumed), per_device_train_batch_size=2,
                     resume_from_checkpoint=str(zero / "checkpoint-3"), **sharding,
                     **common)  # fmt: skip
    run = _torchrun(config, 29536)
    assert run.returncode == 0, run.stderr[-3000:]
    again = _log(resumed)
    assert [r["step"] for r in again] == [4, 5, 6]
    for x, y in zip(b[3:], again, strict=True):
        assert math.isclose(x["loss"], y["loss"], rel_tol=1e-4), (x["step"], x["loss"], y["loss"])


@pytest.mark.parametrize(("preset", "method"), [("zero2", "sft"), ("zero3", "sft"),
                                               ("zero3", "dpo")])  # fmt: skip
def test_a_deepspeed_preset_trains_alone_like_plain_pytorch(tmp_path, model_dir, preset, method):
    pytest.importorskip("deepspeed")
    build = _build(tmp_path, SFT_ROWS if method == "sft" else DPO_ROWS, model_dir)
    common = dict(model_name_or_path=str(model_dir), dataset=str(build), max_steps=3,
                  learning_rate=0.02, logging_steps=1, per_device_train_batch_size=4,
                  method=method)  # fmt: skip
    assert (
        train_main(["run", str(_config(tmp_path, output_dir=str(tmp_path / "a"), **common))]) == 0
    )
    assert train_main(["run", str(_config(tmp_path, output_dir=str(tmp_path / "b"),
                                          deepspeed=preset, **common))]) == 0  # fmt: skip
    for x, y in zip(_log(tmp_path / "a"), _log(tmp_path / "b"), strict=True):
        assert math.isclose(x["loss"], y["loss"], rel_tol=1e-4)
        if method == "dpo":  # the reference (adapters disabled) is sharded too
            assert math.isclose(x["rewards/margins"], y["rewards/margins"], rel_tol=1e-3,
                                abs_tol=1e-6)  # fmt: skip


def test_deepspeed_settings_that_contradict_the_config_are_listed(tmp_path, capsys):
    from dataprep.errors import ConfigError
    from train import config as configs
    from train.engine import deepspeed_config

    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({
        "train_micro_batch_size_per_gpu": 8, "gradient_clipping": "auto",
        "scheduler": {"type": "WarmupLR"}, "zero_optimization": {"stage": 3},
    }))  # fmt: skip
    config = configs.load(None, ["model_name_or_path=m", "dataset=d", "output_dir=o",
                                 f"deepspeed={ds}", "finetuning_type=qlora"])  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        deepspeed_config(config, world=2)
    text = "\n".join(caught.value.problems)
    assert "train_micro_batch_size_per_gpu is 8 but the training config gives 4" in text
    assert "scheduler section" in text
    assert "ZeRO-3 shards the weights" in text  # qlora + zero3
    filled = deepspeed_config(configs.load(None, ["model_name_or_path=m", "dataset=d",
                                                  "output_dir=o", "deepspeed=zero3_offload",
                                                  "gradient_accumulation_steps=4", "bf16=true"]),
                              world=2)  # fmt: skip
    assert filled["train_batch_size"] == 4 * 4 * 2
    assert filled["optimizer"]["params"]["lr"] == 2e-4 and filled["bf16"]["enabled"] is True
    # A missing file is a config problem, listed with the others.
    code = train_main(["run", str(_config(tmp_path, model_name_or_path="m", dataset="d",
                                          output_dir="o", deepspeed="zero9", lora_rnk=4))])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "deepspeed: cannot read" in err and "zero3_offload" in err
    assert "did you mean 'lora_rank'" in err
    code = train_main(["run", str(_config(tmp_path, model_name_or_path="m", dataset="d",
                                          output_dir="o", deepspeed="zero2", fsdp="full_shard",
                                          finetuning_type="qlora"))])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "fsdp and deepspeed together" in err and "fsdp with quantization" in err
    code = train_main(["run", str(_config(tmp_path, model_name_or_path="m", dataset="d",
                                          output_dir="o", fsdp="zero3", fsdp_offload=True))])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "fsdp must be full_shard or shard_grad_op" in err


def test_eight_runs_and_two_ranks_on_one_data_file_build_it_once(tmp_path, model_dir):
    """Eight `train run` processes started together, then `torchrun` with two ranks, each
    naming the data file: one build happens, every process waits for it and trains on it."""
    import subprocess
    import sys

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS * 20))
    common = dict(model_name_or_path=str(model_dir), dataset=str(data), max_steps=1,
                  cutoff_len=128, per_device_train_batch_size=2)  # fmt: skip
    runs = []
    for k in range(8):
        config = tmp_path / f"run{k}.yaml"
        config.write_text("".join(f"{key}: {json.dumps(v)}\n" for key, v in
                                  {**common, "output_dir": str(tmp_path / f"out{k}")}.items()))  # fmt: skip
        runs.append(subprocess.Popen([sys.executable, "-m", "train.cli", "run", str(config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    said = [proc.communicate(timeout=600) for proc in runs]
    assert [proc.returncode for proc in runs] == [0] * 8, said[0][1][-2000:]
    errs = [err for _, err in said]
    assert sum(" built " in err for err in errs) == 1
    assert sum("reused the build" in err for err in errs) == 7
    keys = {json.loads((tmp_path / f"out{k}" / "run.json").read_text())["build_key"]
            for k in range(8)}  # fmt: skip
    assert len(keys) == 1
    (folder,) = [p for p in (tmp_path / ".dataprep-builds").iterdir() if p.is_dir()]
    assert json.loads((folder / "manifest.json").read_text())["counts"]["kept"] == 16

    ranks = tmp_path / "ranks"
    ranks.mkdir()
    (ranks / "data.jsonl").write_bytes(data.read_bytes().replace(b"plus", b"and"))
    config = _config(ranks, **{**common, "dataset": str(ranks / "data.jsonl"),
                               "output_dir": str(ranks / "out")})  # fmt: skip
    run = _torchrun(config, 29537)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count(" built ") == 1 and run.stderr.count("reused the build") == 1
