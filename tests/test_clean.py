"""`dataprep clean`: safe fixes, rejects with reasons, exact accounting, idempotence."""

from __future__ import annotations

import json

import pytest

from dataprep.checks.content.template_tokens import Options, pattern
from dataprep.fixers import fix_text, strip_markup
from tests.conftest import LLAMAFACTORY, needs_shared, write_lines

TOKENS = pattern(Options().tokens)
LINES = [
    '{"instruction": "Name a colour.", "input": "", "output": "<p>Blue&nbsp;is a colour.</p>"}',
    '{"instruction": "Say hi.", "input": "No input", "output": "Hi!<script>track()</script>"}',
    '{"instruction": "Greet.", "input": "", "output": "Hello!<|im_end|>"}',
    '{"instruction": "Describe a sunset.", "input": "", "output": ""}',
    '{"instruction": "Write an HTML paragraph.", "input": "", "output": "<p>Hi</p>"}',
    '{"output": "7", "input": "", "instruction": "Name a prime."}',
    '{"instruction": "Name a colour.", "input": "", "output": "Blue is a colour."}',
    '{"instruction": "Use code.", "input": "", "output": "Write `<b>x</b>` or ```html\\n<i>y</i>\\n```\\u200b "}',
    '{"broken": ',
    '{"conversations": [{"from": "human", "value": "Page?"}, {"from": "function_call", "value": "{\\"name\\": \\"fetch\\", \\"arguments\\": {}}"}, {"from": "observation", "value": "<html><body>data</body></html>"}, {"from": "gpt", "value": "It says data."}]}',
]


def test_clean_fixes_rejects_and_accounts(cli, tmp_path):
    data = write_lines(tmp_path / "in.jsonl", LINES)
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    code, stdout, err = cli("clean", data, "-o", out, "--rejects", rejects)
    assert code == 0 and err == ""
    assert stdout == (
        "read 10 records: wrote 7, rejected 3 (empty-output 1, exact-duplicate 1, invalid-json 1)\n"
        "fixed: whitespace-unicode 2, html-markup 1, placeholder-output 1, script-content 1, "
        "template-tokens 1\n"
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    rows = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(kept) + len(rows) == 10
    by_line = {r["line"]: r["rules"] for r in rows}
    assert by_line == {4: ["empty-output"], 7: ["exact-duplicate"], 9: ["invalid-json"]}
    outputs = [r.get("output") for r in kept]
    assert outputs[0] == "Blue is a colour."  # tags stripped, &nbsp; unescaped to a space
    assert kept[1] == {
        "instruction": "Say hi.",
        "input": "",
        "output": "Hi!",
    }  # script gone, placeholder emptied
    assert outputs[2] == "Hello!"  # template token removed
    assert outputs[3] == "<p>Hi</p>"  # HTML asked for: kept
    assert list(kept[4]) == ["output", "input", "instruction"]  # field order kept
    assert (
        outputs[5] == "Write `<b>x</b>` or ```html\n<i>y</i>\n```"
    )  # code untouched; zero-width gone
    assert (
        kept[6]["conversations"][2]["value"] == "<html><body>data</body></html>"
    )  # tool result kept


def test_clean_is_idempotent_and_copies_untouched_records(cli, tmp_path):
    data = write_lines(tmp_path / "in.jsonl", LINES)
    once, twice = tmp_path / "once.jsonl", tmp_path / "twice.jsonl"
    cli("clean", data, "-o", once)
    code, stdout, _ = cli("clean", once, "-o", twice)
    assert code == 0 and once.read_bytes() == twice.read_bytes()
    assert "rejected 0" in stdout and "fixed" not in stdout
    # An untouched record is copied byte for byte (spacing included).
    assert LINES[5].encode() in once.read_bytes()


def test_clean_writes_a_json_array_for_json_output(cli, tmp_path):
    data = write_lines(tmp_path / "in.jsonl", LINES[:3])
    out = tmp_path / "out.json"
    cli("clean", data, "-o", out)
    assert [r["instruction"] for r in json.loads(out.read_text())] == [
        "Name a colour.",
        "Say hi.",
        "Greet.",
    ]


def test_clean_refuses_to_overwrite_its_input(cli, tmp_path):
    data = write_lines(tmp_path / "in.jsonl", LINES[:1])
    code, _, err = cli("clean", data, "-o", data)
    assert code == 2 and "would overwrite an input" in err


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("<div>One</div><div>Two</div>", "One\nTwo"),
        ("a<br>b", "a\nb"),
        ("List<Integer> x; a < b > c", "List<Integer> x; a < b > c"),
        ("<!DOCTYPE html><html><body><p>Hi</p><p>there</p></body></html>", "Hi\nthere"),
        ("&lt;nooutput&gt;", "<nooutput>"),
    ],
)
def test_strip_markup(text, cleaned):
    assert strip_markup(text).strip() == cleaned


def test_fix_text_is_idempotent_on_nasty_text():
    nasty = " <p>A&amp;B</p>\r\n<script>x()</script>[INST]\u200bdone\t \n"
    once, fixes = fix_text(nasty, markup=True, tokens=TOKENS)
    assert once == "A&B\n\ndone"
    assert set(fixes) == {"script-content", "html-markup", "template-tokens", "whitespace-unicode"}
    assert fix_text(once, markup=True, tokens=TOKENS) == (once, [])


@needs_shared
def test_clean_real_machine_translated_alpaca(cli, tmp_path):
    path = (
        LLAMAFACTORY.parent / "realworld" / "alpaca_zh_machine_translated" / "zh-data-part-00.json"
    )
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    code, _, _ = cli("clean", path, "-o", out, "--rejects", rejects)
    kept = out.read_text().splitlines()
    rows = rejects.read_text().splitlines()
    assert code == 0 and len(kept) + len(rows) == 10021
    # The entities are gone from what is kept, and lint agrees.
    code, lint_out, _ = cli(
        "lint", out, "--select", "html-markup,empty-output,exact-duplicate", "--format", "json"
    )
    assert lint_out == ""


def test_clean_follows_the_rule_packs_options(cli, tmp_path):
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "rules:\n"
        "  placeholder-output: {options: {input_placeholders: [see above]}}\n"
        "  html-markup: {options: {allow_when_asked: false}}\n"
    )
    data = write_lines(
        tmp_path / "in.jsonl",
        [
            '{"instruction": "Write an HTML greeting.", "input": "", "output": "<p>Hi</p>"}',
            '{"instruction": "Name a colour.", "input": "See above", "output": "Red."}',
            '{"instruction": "Name a fruit.", "input": "No input", "output": "Apple."}',
        ],
    )
    out = tmp_path / "out.jsonl"
    code, _, _ = cli("clean", data, "-o", out, "--rules", pack)
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0
    assert kept[0]["output"] == "Hi"  # markup stripped even though the task asks for HTML
    assert kept[1]["input"] == ""  # the pack's own placeholder
    assert kept[2]["input"] == "No input"  # not a placeholder in this pack


REJECTED_AS_READ = '{"instruction": "<b>Describe</b> a sunset.",  "output": ""}'


@pytest.mark.parametrize("command", ["clean", "build"])
def test_a_reject_keeps_the_record_exactly_as_it_was_read(cli, tmp_path, command):
    jsonl = write_lines(tmp_path / "in.jsonl", [REJECTED_AS_READ])
    array = tmp_path / "in.json"
    array.write_text('[\n  {"instruction": "<b>Describe</b> a sunset.",\n   "output": ""}\n]\n')
    for data in (jsonl, array):
        rejects = tmp_path / f"{data.name}.rejects.jsonl"
        if command == "clean":
            code, _, err = cli("clean", data, "-o", tmp_path / "out.jsonl", "--rejects", rejects)
        else:
            out = tmp_path / f"{data.name}.build"
            code, _, err = cli("build", data, "--out", out, "--cutoff-len", "256")
            rejects = out / "rejects.jsonl"
        assert code in (0, 1), err
        (row,) = [json.loads(line) for line in rejects.read_text().splitlines()]
        assert row["rules"] == ["empty-output"]
        assert row["value"] == {"instruction": "<b>Describe</b> a sunset.", "output": ""}
        if data is jsonl:
            assert row["raw"] == REJECTED_AS_READ  # the line byte for byte: findable with grep
        else:
            assert row["raw"].startswith('{"instruction": "<b>Describe</b> a sunset.",\n')
        assert row["fixed"] == {"instruction": "Describe a sunset.", "output": ""}
        assert row["fixed_by"] == ["html-markup"]


FIXABLE = [
    '{"instruction": "Name a colour.", "input": "", "output": "<p>Blue is a colour.</p>"}',
    '{"instruction": "Say hi.", "input": "No input", "output": "Hi there!  \\nBye."}',
    '{"instruction": "Greet.", "input": "", "output": "Hello!<|im_end|>"}',
    '{"instruction": "Count.", "input": "", "output": "One, two, three."}',
    '{"instruction": "Say <b>bye</b>.", "input": "", "output": ""}',
]


def _report_fixes(html: str) -> dict[str, int]:
    import re

    table = html.split('<table id="fixes">', 1)[1].split("</table>", 1)[0]
    return {name: int(n.replace(",", "")) for name, n in
            re.findall(r"<tr><td>([\w-]+)</td><td class=\"num\">([\d,]+)</td></tr>", table)}  # fmt: skip


def _fixes_line(stdout: str) -> dict[str, int]:
    line = next(x for x in stdout.splitlines() if x.strip().startswith("fixed: "))
    return {k: int(v.replace(",", "")) for k, v in
            (part.rsplit(" ", 1) for part in line.split("fixed: ", 1)[1].split(", "))}  # fmt: skip


def _fix_counts_agree(cli, tmp_path, data) -> dict[str, int]:
    """clean --dry-run, the HTML report and build's manifest and summary: the same counts."""
    code, dry, err = cli("clean", data, "--dry-run")
    assert code == 0, err
    code, _, err = cli("report", data, "-o", tmp_path / "report.html")
    assert code in (0, 1), err
    code, built, err = cli("build", data, "--out", tmp_path / "build", "--cutoff-len", "4096")
    assert code == 0, err
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    counts = _fixes_line(dry)
    assert counts == _report_fixes((tmp_path / "report.html").read_text())
    assert counts == manifest["counts"]["fixed"] == _fixes_line(built)
    code, _, err = cli("build", data, "--out", tmp_path / "unfixed", "--cutoff-len", "4096",
                       "--fix", "none")  # fmt: skip
    assert code == 0, err
    unfixed = json.loads((tmp_path / "unfixed" / "manifest.json").read_text())
    assert unfixed["counts"]["fixed"] == {} and unfixed["options"]["fix"] == "none"
    return counts


def test_clean_dry_run_the_report_and_build_count_the_same_fixes(cli, tmp_path):
    data = write_lines(tmp_path / "in.jsonl", FIXABLE)
    counts = _fix_counts_agree(cli, tmp_path, data)
    # The rejected record (empty output) was fixed too: fixes count every record they changed;
    # `</p>` becomes a line break that the whitespace fixer then trims.
    assert counts == {"html-markup": 2, "whitespace-unicode": 2, "placeholder-output": 1,
                      "template-tokens": 1}  # fmt: skip
    assert not (tmp_path / "out.jsonl").exists()  # a dry run writes nothing


@needs_shared
def test_fix_counts_agree_on_llamafactorys_alpaca_demo(cli, tmp_path):
    counts = _fix_counts_agree(cli, tmp_path, LLAMAFACTORY / "alpaca_en_demo.json")
    assert 50 <= sum(counts.values()) <= 200  # about one record in ten


def test_the_gate_rejects_broken_tool_records_with_their_rules(cli, tmp_path):
    schema = {"name": "get_weather", "parameters": {"type": "object", "required": ["city"],
              "properties": {"city": {"type": "string"}}}}  # fmt: skip
    tools = json.dumps([schema])

    def record(call: str, tools: str = tools, answer: str = "It is 21 degrees.") -> dict:
        return {"conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": call},
            {"from": "observation", "value": '{"temp": 21}'},
            {"from": "gpt", "value": answer}], "tools": tools}  # fmt: skip

    good = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})
    rows = [
        record(good),
        record(good[:40], answer="Twenty-one degrees."),
        record(good.replace("get_weather", "get_forecast"), answer="Warm: 21."),
        record(good, tools=tools[:30], answer="21 degrees, sunny."),
    ]
    data = write_lines(tmp_path / "tools.jsonl", [json.dumps(r) for r in rows])
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    code, stdout, _ = cli("clean", data, "-o", out, "--rejects", rejects, "--ignore",
                          "near-duplicate")  # fmt: skip
    assert code == 0
    assert stdout.startswith(
        "read 4 records: wrote 1, rejected 3 (invalid-tool-call 1, invalid-tools 1, unknown-tool 1)"
    )
    reasons = {json.loads(line)["line"]: json.loads(line)["reasons"][0]
               for line in rejects.read_text().splitlines()}  # fmt: skip
    assert reasons[2].startswith("invalid-tool-call: the call is not valid JSON")
    assert reasons[3].startswith("unknown-tool: calls 'get_forecast'")
    assert reasons[4].startswith("invalid-tools: tools is not valid JSON")
