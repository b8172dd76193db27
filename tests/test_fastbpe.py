"""The tiktoken fast path: exact where it is used, and never used where it would not be."""

from __future__ import annotations

import json

import pytest

from dataprep import builder, templates, tokenizer
from dataprep.builder import Input, Options
from dataprep.encode import token_ranges
from dataprep.fastbpe import FastBPE, _byte_decoder
from dataprep.lengths import token_at
from dataprep.linter import LengthSetup, PackArgs
from tests.tokenizers import make

TEXTS = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
    "请介绍一下长城。长城是中国古代的军事防御工程，全长两万多公里。",
    "Numbers 1234567 and 3.14159, emoji 🙂👍🏽, accents café naïve Ångström.",
    "  leading spaces, tabs\tand\n\n\nblank lines   \n trailing  ",
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "東京"}}\n</tool_call>',
    "Mixed 中文 and English في العربية и русский текст; ｜full-width｜ punctuation！",
    "code: `def f(x):\n    return x ** 2`  # it's, we'll, they're, I'd",
    "",
]


def test_ids_and_character_positions_equal_tokenizers_on_the_bundled_qwen():
    model = tokenizer.load(None)
    fast = FastBPE.from_tokenizer(model.backend)
    assert fast is not None  # Qwen2.5's byte-level BPE has the shape tiktoken reproduces
    for text, mine in zip(TEXTS, fast.encode(TEXTS), strict=True):
        exact = model.backend.encode(text, add_special_tokens=False)
        assert mine.ids == exact.ids, text
        for char in range(len(text) + 1):
            assert mine.char_to_token(char) == exact.char_to_token(char), (text, char)
        ranges = [(a, min(b, len(text))) for a in range(0, len(text) + 1, 3)
                  for b in (a, a + 1, a + 7, len(text))]  # fmt: skip
        expected = [(token_at(exact, a, b, forward=True), token_at(exact, a, b, forward=False))
                    for a, b in ranges]  # fmt: skip
        assert token_ranges(mine, ranges) == expected, text


def test_text_that_is_not_nfc_goes_to_tokenizers():
    fast = FastBPE.from_tokenizer(tokenizer.load(None).backend)
    (decomposed,) = fast.encode(["cafe\u0301"])  # e + combining acute: NFC would compose it
    assert decomposed is None


def test_tokenizers_of_other_shapes_get_no_fast_path(tmp_path):
    from tokenizers import Tokenizer

    folder = make(tmp_path / "tok")  # ByteLevel with its own regex, not a Split then ByteLevel
    assert FastBPE.from_tokenizer(Tokenizer.from_file(str(folder / "tokenizer.json"))) is None
    spec = json.loads(_ordered_merges_but_not_tiktoken().to_str())
    spec["model"]["merges"] = list(reversed(spec["model"]["merges"]))  # ranks out of merge order
    assert FastBPE.from_tokenizer(Tokenizer.from_str(json.dumps(spec))) is None


def _ordered_merges_but_not_tiktoken():
    """A byte-level BPE of the supported shape whose merges are in rank order, and still not
    what tiktoken makes of "abc": tokenizers merges b+c, then finds no merge a+bc; tiktoken
    merges b+c, then a+bc because "abc" is in the vocabulary (made by ab+c)."""
    from tokenizers import Tokenizer

    byte_chars = {b: c for c, b in _byte_decoder().items()}
    vocab = {byte_chars[b]: b for b in range(256)}
    vocab.update({"bc": 256, "ab": 257, "abc": 258})
    pattern = json.loads(tokenizer.load(None).backend.to_str())["pre_tokenizer"]  # Qwen2.5's
    added = [{"id": 259 + k, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}
             for k, c in enumerate(("<|im_start|>", "<|im_end|>"))]  # fmt: skip
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"}, "pre_tokenizer": pattern,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": ["b c", "a b", "ab c"]},
    }  # fmt: skip
    return Tokenizer.from_str(json.dumps(spec))


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _folder(tmp_path, backend):
    folder = tmp_path / "tok"
    folder.mkdir()
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": CHATML, "eos_token": "<|im_end|>"})
    )
    return folder


def _build_with(tmp_path, model, answer: str):
    template = templates.resolve("auto", model.chat_template, model.special)
    data = tmp_path / "data.jsonl"
    rows = [{"instruction": f"q{i}", "input": "", "output": f"{answer} {i}"} for i in range(40)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = builder.build([Input((str(data),))], str(tmp_path / "out"),
                           LengthSetup(model, template, False), PackArgs(),
                           Options(cutoff_len=512))  # fmt: skip
    assert result.counts.kept == 40
    return result, rows, template


def _rows_are_tokenizers(result, rows, template, backend):
    import datasets

    for row, record in zip(datasets.load_from_disk(str(result.out))["train"], rows, strict=True):
        text = template.render(
            [{"role": "user", "content": record["instruction"]},
             {"role": "assistant", "content": record["output"]}]
        )  # fmt: skip
        assert row["input_ids"] == backend.encode(text, add_special_tokens=False).ids


def test_the_checks_run_in_a_second_process_and_tokenizers_never_loads_here(tmp_path):
    backend = _ordered_merges_but_not_tiktoken()
    model = tokenizer.load(str(_folder(tmp_path, backend)))
    result, rows, template = _build_with(tmp_path, model, "xyz")
    assert result.manifest["tokenizer"]["engine"] == "tiktoken"
    assert model._backend is None  # derived and checked in dataprep.vocabcheck's process
    _rows_are_tokenizers(result, rows, template, backend)


def test_a_second_process_that_dies_leaves_its_checks_to_this_one(tmp_path, monkeypatch):
    from dataprep import vocabcheck

    derived = vocabcheck.Checker.derived

    def derived_then_killed(self):
        value = derived(self)
        self._process.kill()
        self._process.wait()
        return value

    monkeypatch.setattr(vocabcheck.Checker, "derived", derived_then_killed)
    backend = _ordered_merges_but_not_tiktoken()
    model = tokenizer.load(str(_folder(tmp_path, backend)))
    result, rows, template = _build_with(tmp_path, model, "abc")  # where tiktoken differs
    assert result.manifest["tokenizer"]["engine"] == "tokenizers"  # found here, started over
    _rows_are_tokenizers(result, rows, template, backend)


@pytest.mark.parametrize(("answer", "engine"), [("xyz", "tiktoken"), ("abc", "tokenizers")])
def test_a_build_checks_the_fast_path_on_its_data_and_starts_over_exactly(tmp_path, answer, engine):
    backend = _ordered_merges_but_not_tiktoken()
    model = tokenizer.load(str(_folder(tmp_path, backend)))
    assert FastBPE.from_tokenizer(model.backend) is not None  # its shape passes
    result, rows, template = _build_with(tmp_path, model, answer)
    assert result.manifest["tokenizer"]["engine"] == engine  # "abc": tiktoken differs
    _rows_are_tokenizers(result, rows, template, backend)
