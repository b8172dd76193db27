"""Token lengths: equal to transformers' apply_chat_template, labels from offsets, the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataprep import readers, templates, tokenizer
from dataprep.formats import normalise
from dataprep.lengths import Lengths, Meter, infer_seqlen, rendered
from dataprep.linter import LengthSetup, Summary, lint_paths
from dataprep.records import Record
from tests.conftest import LLAMAFACTORY, SHARED, needs_shared

QWEN = SHARED / "tokenizers" / "qwen2.5"
needs_qwen = pytest.mark.skipif(
    not (QWEN / "tokenizer.json").is_file(), reason="../shared/tokenizers/qwen2.5 is absent"
)
DATA = Path(__file__).parent / "data"


def _samples(path: Path):
    for source in readers.expand([str(path)]):
        for record in readers.read_source(source):
            sample, _ = normalise(record, None)
            if sample is not None and sample.kind != "pretrain":
                yield record, sample


def _measure(model, paths, template="auto"):
    tpl = templates.resolve(template, model.chat_template, model.special)
    meter = Meter(model, tpl)
    samples = []
    for path in paths:
        for record, sample in _samples(path):
            meter.add(record.line, record.index, sample)
            samples.append(sample)
    return meter.finish(), samples, tpl


@needs_shared
@needs_qwen
def test_lengths_equal_apply_chat_template_on_every_demo_file():
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(QWEN))
    paths = sorted(p for p in LLAMAFACTORY.glob("*.json*") if p.name != "dataset_info.json")
    lengths, samples, _ = _measure(tokenizer.load(str(QWEN)), paths)
    assert len(samples) > 4000 and len(lengths) == len(samples)
    for i, sample in enumerate(samples):
        want = max(
            len(reference.apply_chat_template(messages, tools=tools, tokenize=True)["input_ids"])
            for messages, tools in rendered(sample)
        )
        assert lengths.full[i] == want, (sample.source, sample.line)


@needs_qwen
def test_the_bundled_tokenizer_is_qwen25_token_for_token():
    bundled, real = tokenizer.load(None), tokenizer.load(str(QWEN))
    assert bundled.estimate and not real.estimate
    assert bundled.chat_template == real.chat_template and bundled.eos == real.eos == "<|im_end|>"
    texts = [s.messages[-1].content for _, s in _samples(DATA / "identity.json")]
    texts += ["长城是中国古代的军事防御工程。", "emoji 🤖 and   spaces", "<|im_start|>x<|im_end|>"]
    for text in texts:
        assert bundled.backend.encode(text).ids == real.backend.encode(text).ids


def test_label_tokens_are_the_answer_and_its_end_of_turn_token():
    # Single-turn records: labels = tokens of (prompt + answer) minus tokens of the prompt with
    # the generation prompt, minus the newline ChatML writes after <|im_end|>.
    model = tokenizer.load(None)
    lengths, samples, tpl = _measure(model, [DATA / "identity.json"])
    encode = model.backend.encode
    for i, sample in enumerate(samples):
        (messages, tools), = rendered(sample)  # fmt: skip
        whole = len(encode(tpl.render(messages, tools=tools), add_special_tokens=False))
        prompt = len(
            encode(tpl.render(messages[:-1], tools=tools, add_generation_prompt=True),
                   add_special_tokens=False)
        )  # fmt: skip
        assert lengths.label[i] == whole - prompt - 1
        assert lengths.record_turns(i) == [(prompt, whole - prompt - 1)]


def test_multi_turn_and_pair_turns_from_one_rendering():
    model = tokenizer.load(None)
    rows = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                           {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Goodbye!"}]},
        {"prompt": "Say hi", "chosen": "Hi there, friend!", "rejected": "No."},
    ]  # fmt: skip
    path = Path(__file__).parent / "_tmp_turns.jsonl"
    try:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        lengths, _, _ = _measure(model, [path])
    finally:
        path.unlink()
    first, pair = lengths.record_turns(0), lengths.record_turns(1)
    assert len(first) == 2 and first[0][1] == len(model.backend.encode("Hello!<|im_end|>"))
    assert first[1][1] == len(model.backend.encode("Goodbye!<|im_end|>"))
    assert sum(p + a for p, a in first) + 1 == lengths.full[0]  # + the final newline
    # A pair is measured by its longer side: prompt + chosen here.
    assert pair == [(pair[0][0], len(model.backend.encode("Hi there, friend!<|im_end|>")))]


def test_percentiles_recommended_cutoff_and_policy_losses():
    lengths = Lengths()
    for i, (prompt, answer) in enumerate([(10, 10), (20, 20), (30, 30), (100, 300)]):
        lengths.lines.append(i + 1)
        lengths.records.append(i)
        lengths.full.append(prompt + answer)
        lengths.label.append(answer)
        lengths.starts.append(len(lengths.turns))
        lengths.turns.extend([prompt, answer])
    assert lengths.percentiles() == {"p50": 40, "p90": 400, "p95": 400, "p99": 400, "max": 400}
    assert lengths.recommended(0.75, 64) == 64 and lengths.recommended(0.95, 64) == 448
    losses = lengths.losses(128)
    assert losses["drop"] == {"records": 1, "label_tokens": 300, "no_labels": 0}
    # Cut after 128 tokens: the 100-token prompt leaves 28 answer tokens.
    assert losses["truncate_end"] == {
        "records": 1,
        "label_tokens": 272,
        "eos_cut": 1,
        "answer_cut": 0,
        "no_labels": 0,
    }
    # At 100 tokens the prompt alone fills the cutoff: that record would train on nothing.
    assert lengths.losses(100)["truncate_end"]["no_labels"] == 1
    assert lengths.losses(100)["llamafactory"]["no_labels"] == 0  # it splits the budget
    # LLaMA-Factory: the answer gets int(128 * 300/400) = 96 tokens, the prompt the other 32.
    assert infer_seqlen(100, 300, 128) == (32, 96)
    assert losses["llamafactory"]["label_tokens"] == 300 - 96


def test_infer_seqlen_matches_llamafactory_cases():
    assert infer_seqlen(10, 20, 100) == (10, 20)  # fits
    assert infer_seqlen(500, 20, 100) == (80, 20)  # short answer: the prompt is cut
    assert infer_seqlen(20, 500, 100) == (20, 80)  # short prompt: the answer is cut
    assert infer_seqlen(300, 300, 100) == (50, 50)  # both long: cut in proportion


def test_lint_prints_the_length_summary_and_stats_json_contract(cli, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(
            json.dumps({"instruction": f"Question {i}?", "input": "", "output": "word " * (i * 5)})
            + "\n"
            for i in range(1, 41)
        )
    )
    code, out, _ = cli("lint", str(data), "--lengths")
    assert code == 0
    assert "token lengths with Qwen2.5 (bundled default) - an estimate" in out
    assert "recommended cutoff_len" in out
    code, out, _ = cli("lint", str(data), "--cutoff-len", "64")
    assert code == 0 and "exceeds-cutoff" in out and "cutoff_len 64, llamafactory: loses" in out
    code, out, _ = cli("stats", str(data), "--format", "json")
    assert code == 0
    result = json.loads(out)
    for key in ("records", "tokenizer", "template", "length", "label_length",
                "recommended_cutoff_len", "coverage", "round"):  # fmt: skip
        assert key in result
    assert result["records"] == 40 and set(result["length"]) == {"p50", "p90", "p95", "p99", "max"}
    assert result["recommended_cutoff_len"] % 64 == 0
    code, out, _ = cli("stats", str(data), "--round", "32", "--coverage", "0.5")
    assert code == 0 and "smallest multiple of 32 that keeps 50%" in out


def test_length_errors_are_clear(cli, tmp_path, monkeypatch):
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "Hi", "input": "", "output": "Hello."}\n')
    code, _, err = cli("stats", str(data), "--template", "vicuna9")
    assert code == 2 and "unknown --template 'vicuna9'" in err
    code, _, err = cli("stats", str(data), "--tokenizer", str(tmp_path / "nope"))
    assert code == 2 and "no such folder" in err
    (tmp_path / "empty_model").mkdir()
    code, _, err = cli("stats", str(data), "--tokenizer", str(tmp_path / "empty_model"))
    assert code == 2 and "no tokenizer.json" in err
    import huggingface_hub.constants

    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_OFFLINE", True
    )  # tests never reach a hub
    code, _, err = cli("stats", str(data), "--tokenizer", "someone/some-model")
    assert code == 2 and "the hub did not give its tokenizer.json" in err


def test_images_count_as_the_models_image_tokens(tmp_path):
    model = tokenizer.load(None)
    tpl = templates.resolve("auto", model.chat_template, model.special)
    row = {"messages": [{"role": "user", "content": "<image>What is this?"},
                        {"role": "assistant", "content": "A cat."}], "images": ["a.jpg"]}  # fmt: skip
    data = tmp_path / "mm.jsonl"
    data.write_text(json.dumps(row) + "\n")
    plain, with_images = Summary(), Summary()
    list(lint_paths([str(data)], None, plain, lengths=LengthSetup(model, tpl)))
    list(
        lint_paths(
            [str(data)], None, with_images, lengths=LengthSetup(model, tpl, image_tokens=576)
        )
    )
    placeholder = len(model.backend.encode("<image>", add_special_tokens=False))
    a, b = plain.lengths[str(data)], with_images.lengths[str(data)]
    assert b.full[0] - a.full[0] == 576 - placeholder and b.label[0] == a.label[0]


def test_image_tokens_come_from_the_models_processor_config(tmp_path):
    from tests import tokenizers

    folder = tokenizers.make(tmp_path / "llava", eos_token="</s>")
    (folder / "processor_config.json").write_text('{"image_seq_length": 576}')
    model = tokenizer.load(str(folder))
    assert model.image_tokens == 576 and model.eos == "</s>" and model.chat_template is None


def test_an_answers_span_takes_in_the_reasoning_the_template_renders():
    from dataprep.lengths import message_spans

    # Qwen3's shape: the last answer's reasoning_content as a think block before its text.
    tpl = templates.resolve(
        "auto",
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.reasoning_content is defined "
        "and loop.last %}<think>\n{{ m.reasoning_content }}\n</think>\n\n{% endif %}"
        "{{ m.content }}<|im_end|>\n{% endfor %}",
        {},
    )
    sample, _ = normalise(Record("p", 1, 0, {"messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": [{"type": "reasoning", "value": "Two and two."},
                                          {"type": "text", "value": "4"}]},
    ]}, b""), None)  # fmt: skip
    (messages, _), = rendered(sample)  # fmt: skip
    assert messages[1] == {"role": "assistant", "content": "4", "reasoning_content": "Two and two."}
    text = tpl.render(messages)
    _, (role, start, end, stop) = message_spans(text, messages, ("<|im_end|>",))
    assert role == "assistant" and stop == "<|im_end|>"
    assert text[start:end] == "<think>\nTwo and two.\n</think>\n\n4<|im_end|>"
    # A template that ignores reasoning_content: the span is the text alone.
    plain = templates.resolve(
        "auto",
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
        {},
    )
    text = plain.render(messages)
    _, (_, start, end, _) = message_spans(text, messages, ("<|im_end|>",))
    assert text[start:end] == "4<|im_end|>"
