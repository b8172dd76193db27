"""Every format normalises to the same Sample; dataset_info.json means what LLaMA-Factory means."""

from __future__ import annotations

import json

from dataprep import dataset_info
from dataprep.formats import detect, normalise
from dataprep.records import Record


def sample(obj, spec=None):
    s, problems = normalise(Record("p", 1, 0, obj, b""), spec)
    assert not problems, problems
    return s


def turns(s):
    return [(t.role, t.content) for t in s.messages]


def test_alpaca_with_system_and_history_joins_instruction_and_input():
    s = sample(
        {
            "instruction": "Translate",
            "input": "Hola",
            "output": "Hello",
            "system": "Be brief.",
            "history": [["Hi", "Hello!"]],
        }
    )
    assert (s.format, s.kind, s.system) == ("alpaca", "sft", "Be brief.")
    assert turns(s) == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Translate\nHola"),
        ("assistant", "Hello"),
    ]


def test_sharegpt_with_tools_and_function_calls():
    s = sample(
        {
            "conversations": [
                {"from": "human", "value": "Weather?"},
                {"from": "function_call", "value": '{"name": "w"}'},
                {"from": "observation", "value": "sunny"},
                {"from": "gpt", "value": "Sunny."},
            ],
            "tools": '[{"name": "w"}]',
        }
    )
    assert s.format == "sharegpt" and s.tools == '[{"name": "w"}]'
    assert [t.role for t in s.messages] == ["user", "function_call", "observation", "assistant"]


def test_openai_typed_parts_and_v1_parts_collect_text_and_images():
    s = sample(
        {
            "messages": [
                {"role": "system", "content": "Look."},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "a.png"}},
                        {"type": "text", "text": "Who?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "reasoning", "value": "Hmm. "},
                        {"type": "text", "value": "Them."},
                    ],
                },
            ]
        }
    )
    assert s.format == "openai" and s.system == "Look." and s.images == ("a.png",)
    # An image part stands where the image goes, as an <image> placeholder.
    # A reasoning part is the turn's reasoning, not its text (LLaMA-Factory v1 hands it to the
    # template as reasoning_content).
    assert turns(s)[1:] == [("user", "<image>Who?"), ("assistant", "Them.")]
    assert s.messages[2].reasoning == "Hmm. " and s.messages[1].reasoning is None


def test_reasoning_content_is_the_turns_reasoning():
    s = sample(
        {
            "messages": [
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4", "reasoning_content": "Two and two."},
            ]
        }
    )
    assert s.messages[1].content == "4" and s.messages[1].reasoning == "Two and two."
    # Two records with the same reply reached by different reasoning are not the same record.
    other = sample(
        {
            "messages": [
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4", "reasoning_content": "Count: 1, 2, 3, 4."},
            ]
        }
    )
    assert s.content_key != other.content_key
    record = {"messages": [{"role": "user", "content": "2+2?"},
                           {"role": "assistant", "content": "4", "reasoning_content": ["Two"]}]}  # fmt: skip
    _, problems = normalise(Record("p", 1, 0, record, b""), None)
    assert [(p.rule, p.field) for p in problems] == [
        ("wrong-type", "messages[1].reasoning_content")
    ]


def test_preference_styles_share_one_shape():
    styles = [
        {"instruction": "Say hi", "chosen": "Hi!", "rejected": "No."},
        {
            "conversations": [{"from": "human", "value": "Say hi"}],
            "chosen": {"from": "gpt", "value": "Hi!"},
            "rejected": {"from": "gpt", "value": "No."},
        },
        {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."},
        {
            "prompt": [{"role": "user", "content": "Say hi"}],
            "chosen": [{"role": "assistant", "content": "Hi!"}],
            "rejected": [{"role": "assistant", "content": "No."}],
        },
        {
            "chosen": "\n\nHuman: Say hi\n\nAssistant: Hi!",
            "rejected": "\n\nHuman: Say hi\n\nAssistant: No.",
        },
        {
            "chosen_messages": [
                {"role": "user", "content": "Say hi"},
                {"role": "assistant", "content": "Hi!"},
            ],
            "rejected_messages": [
                {"role": "user", "content": "Say hi"},
                {"role": "assistant", "content": "No."},
            ],
        },
    ]
    for obj in styles:
        s = sample(obj)
        assert s.kind == "dpo", obj
        assert turns(s) == [("user", "Say hi")], obj
        assert [t.content for t in s.chosen] == ["Hi!"] and [t.content for t in s.rejected] == [
            "No."
        ]


def test_llava_original_and_llamafactory_multimodal():
    llava = sample(
        {
            "image": "1.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat?"},
                {"from": "gpt", "value": "A cat."},
            ],
        }
    )
    mllm = sample(
        {
            "messages": [
                {"role": "user", "content": "<image>What?"},
                {"role": "assistant", "content": "A cat."},
            ],
            "images": ["1.jpg"],
        }
    )
    assert llava.images == mllm.images == ("1.jpg",)


def test_detection():
    assert detect({"text": "raw corpus"}) == ("pretrain", "pretrain")
    assert detect({"prompt": "p", "completion": "c", "label": False}) == ("trl", "kto")
    assert detect({"messages": [], "label": True}) == ("openai", "kto")
    assert detect({"foo": 1}) == ("", "")


def _entry(tmp_path, attrs, records):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"d": {"file_name": "d.jsonl", **attrs}}, indent=2))
    (entry,), _ = dataset_info.load(str(info), ["d"])
    return entry


def test_columns_block_resets_omitted_columns_like_llamafactory(tmp_path):
    record = {"instruction": "Translate", "input": "Hola", "output": "Hello"}
    entry = _entry(tmp_path, {"columns": {"prompt": "instruction", "response": "output"}}, [record])
    s, _ = normalise(Record("p", 1, 0, record, b""), entry.spec)
    assert turns(s) == [("user", "Translate"), ("assistant", "Hello")]  # the input is gone
    default = _entry(tmp_path, {}, [record])
    s, _ = normalise(Record("p", 1, 0, record, b""), default.spec)
    assert turns(s)[0] == ("user", "Translate\nHola")


def test_tags_block_resets_omitted_tags(tmp_path):
    attrs = {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }
    entry = _entry(tmp_path, attrs, [])
    assert entry.spec.role_map == {"user": "user", "assistant": "assistant"}
    record = {
        "messages": [
            {"role": "system", "content": "x"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Yo"},
        ]
    }
    _, problems = normalise(Record("p", 1, 0, record, b""), entry.spec)
    assert [p.rule for p in problems] == ["invalid-role"]
    assert 'add "system_tag": "system" to tags' in problems[0].fix


def test_dataset_info_entry_errors(tmp_path, cli):
    info = tmp_path / "dataset_info.json"
    info.write_text(
        json.dumps(
            {
                "hub": {"hf_hub_url": "org/ds"},
                "local": {"file_name": "x.jsonl", "formatting": "sharegtp"},
            }
        )
    )
    code, _, err = cli("lint", "--dataset-info", info, "--dataset", "hub")
    assert code == 2 and "loads from 'org/ds', not from a local file" in err
    code, _, err = cli("lint", "--dataset-info", info, "--dataset", "locl")
    assert code == 2 and "did you mean 'local'?" in err
    code, _, err = cli("lint", "--dataset-info", info, "--dataset", "local")
    assert code == 2 and "use 'sharegpt'" in err
