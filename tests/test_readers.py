"""Bad input never crashes: each gives findings, or one clear error with exit code 2."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import sys

import orjson
import pytest

from dataprep import jsonrecords, readers
from dataprep.records import UNPARSED
from tests.conftest import STRUCTURAL, write_lines

GOOD = '{"instruction": "Name a prime number.", "output": "7"}'


def records(path) -> list:
    return list(readers.read_source(readers.expand([str(path)])[0]))


def lint_json(cli, *args):
    if "--select" not in args:
        args = (*args, "--select", STRUCTURAL)
    code, out, err = cli("lint", *args, "--format", "json")
    return code, [json.loads(line) for line in out.splitlines()], err


# --- the line-level cases -----------------------------------------------------------------


def test_crlf_bom_blank_lines_and_no_final_newline(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + GOOD.encode() + b"\r\n\r\n   \n" + GOOD.encode() + b"\r\n" + GOOD.encode()
    )
    found = records(path)
    assert [r.line for r in found] == [1, 4, 5]
    assert [r.index for r in found] == [0, 1, 2]
    assert all(r.value["output"] == "7" and not r.problems for r in found)


def test_lint_of_crlf_bom_file_is_clean(tmp_path, cli):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode() + b"\r\n" + GOOD.encode())
    code, findings, err = lint_json(cli, path)
    assert (code, findings, err) == (0, [], "")


def test_invalid_utf8_is_a_finding_on_its_line_and_reading_goes_on(tmp_path, cli):
    path = write_lines(
        tmp_path / "d.jsonl", [GOOD, '{"instruction": "caf\\xe9", "output": "x"}', GOOD]
    )
    code, findings, _ = lint_json(cli, path)
    assert code == 1
    assert [(f["line"], f["name"]) for f in findings] == [(2, "invalid-utf8")]


def test_a_50mb_single_line(tmp_path, cli):
    big = os.urandom(25 * 1024 * 1024).hex()  # 50 MB of text that does not loop
    path = tmp_path / "big.jsonl"
    path.write_text(GOOD + "\n" + json.dumps({"instruction": "long", "output": big}) + "\n" + GOOD)
    code, findings, _ = lint_json(cli, path)
    assert (code, findings) == (0, [])
    # and cut short: one finding on that line, the next line still read
    path.write_text(GOOD + "\n" + '{"instruction": "long", "output": "' + big + "\n" + GOOD + "\n")
    code, findings, _ = lint_json(cli, path)
    assert [(f["line"], f["name"]) for f in findings] == [(2, "invalid-json")]
    assert len(findings[0]["message"]) < 300  # the offending value is shortened


def test_nan_infinity_duplicate_keys_and_numbers_for_strings(tmp_path, cli):
    path = write_lines(
        tmp_path / "d.jsonl",
        [
            '{"instruction": "a", "output": "b", "score": NaN}',
            '{"instruction": "a", "output": "b", "score": -Infinity}',
            '{"instruction": "a", "output": "b", "output": "c"}',
            '{"instruction": 12, "output": 3.5}',
        ],
    )
    code, findings, _ = lint_json(cli, path)
    assert code == 1
    got = [(f["line"], f["name"], f["field"]) for f in findings]
    assert got == [
        (1, "invalid-json", None),
        (2, "invalid-json", None),
        (3, "duplicate-key", "output"),
        (4, "wrong-type", "instruction"),
        (4, "wrong-type", "output"),
    ]
    assert "NaN" in findings[0]["fix"]


def test_deeply_nested_json(tmp_path, cli):
    deep = '{"instruction": "a", "output": ' + "[" * 10_000 + "]" * 10_000 + "}"
    path = write_lines(tmp_path / "d.jsonl", [deep, GOOD])
    code, findings, err = lint_json(cli, path)
    assert (code, err) == (1, "")
    assert [(f["line"], f["name"]) for f in findings] == [(1, "invalid-json")]
    assert "deeper than 1024" in findings[0]["fix"]
    # in a JSON array too
    array = tmp_path / "d.json"
    array.write_text("[" + deep + ", " + GOOD + "]")
    _code, findings, _err = lint_json(cli, array)
    assert [(f["record"], f["name"]) for f in findings if f["name"] != "json-array-file"] == [
        (0, "invalid-json")
    ]


# --- whole files --------------------------------------------------------------------------


def test_missing_file(cli, tmp_path):
    code, out, err = cli("lint", tmp_path / "nope.jsonl")
    assert code == 2 and out == ""
    assert "nope.jsonl: no such file or directory" in err and "Traceback" not in err


def test_directory_with_no_data(cli, tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    code, _, err = cli("lint", tmp_path)
    assert code == 2 and "directory holds no data files" in err


def test_directory_reads_data_files_recursively_in_order(cli, tmp_path):
    (tmp_path / "b").mkdir()
    write_lines(tmp_path / "b" / "z.jsonl", [GOOD])
    write_lines(tmp_path / "a.jsonl", [GOOD, '{"instruction": "x"}'])
    (tmp_path / "dataset_info.json").write_text("{}")  # config, not data
    (tmp_path / "readme.txt").write_text("not data")
    code, out, _ = cli("lint", tmp_path, "--format", "parsable", "--select", STRUCTURAL)
    assert code == 1
    assert (
        out
        == f"{tmp_path / 'a.jsonl'}:2:output: [error] no 'output': nothing to learn (PA05 missing-field)\n"
    )


def test_empty_file_is_zero_records_not_an_error(cli, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, out, err = cli("lint", path)
    assert code == 0 and "0 records in 1 file" in out and err == ""


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"instruction,input,output\nhi,,hello\n", "does not look like JSON or JSONL"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP archive"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 1\n", "Git LFS pointer"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_files_that_are_not_data(cli, tmp_path, content, says):
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    code, out, err = cli("lint", path, "--format", "json")
    assert code == 2 and out == ""
    assert says in err and "fix:" in err and "Traceback" not in err


def test_truncated_gzip_reports_records_before_the_damage(cli, tmp_path):
    rng = random.Random(0)
    good = [
        json.dumps({"instruction": f"{i}", "output": rng.randbytes(60).hex()}) for i in range(2000)
    ]
    bad = [json.dumps({"instruction": rng.randbytes(60).hex()}) for _ in range(2000)]
    body = ("\n".join(good + bad) + "\n").encode()
    packed = gzip.compress(body)
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    code, out, err = cli("lint", path, "--format", "json", "--select", STRUCTURAL)
    assert code == 2
    assert "damaged or truncated" in err and "Traceback" not in err
    lines = [json.loads(line)["line"] for line in out.splitlines()]
    assert lines and lines == sorted(lines) and lines[0] == 2001


def test_gzip_jsonl_and_gzip_detected_by_content(cli, tmp_path):
    body = (GOOD + "\n" + '{"instruction": "x"}' + "\n").encode()
    for name in ("d.jsonl.gz", "d.jsonl"):  # a gzip file without .gz is still gzip
        path = tmp_path / name
        path.write_bytes(gzip.compress(body))
        _code, findings, _ = lint_json(cli, path)
        assert [(f["line"], f["name"]) for f in findings] == [(2, "missing-field")]


def test_json_array_with_one_broken_element(cli, tmp_path):
    path = tmp_path / "d.json"
    items = [
        GOOD,
        '{"instruction": "b" "output": "c"}',
        GOOD,
        '{"instruction": "[{,]}", "output": "ok"}',
    ]
    path.write_text("[\n  " + ",\n  ".join(items) + "\n]\n")
    _code, findings, _ = lint_json(cli, path)
    assert [(f["line"], f["record"], f["name"]) for f in findings] == [
        (3, 1, "invalid-json"),
        (None, None, "json-array-file"),
    ]


def test_json_array_on_one_line_tells_records_apart(cli, tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}] * 2))
    _code, findings, _ = lint_json(cli, path, "--ignore", "json-array-file")
    assert [(f["line"], f["record"], f["field"]) for f in findings] == [
        (1, 1, "output"),
        (1, 3, "output"),
    ]


def test_pretty_printed_single_object_and_jsonl_of_arrays(tmp_path):
    obj = tmp_path / "one.json"
    obj.write_text(json.dumps({"instruction": "a", "output": "b"}, indent=2))
    assert [(r.line, r.value["output"]) for r in records(obj)] == [(1, "b")]
    arrays = tmp_path / "arrays.jsonl"
    arrays.write_text("[1, 2]\n[3]\n")
    assert [(r.line, r.value) for r in records(arrays)] == [(1, [1, 2]), (2, [3])]


def test_text_files_are_one_record_per_line(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_bytes(b"first\n\nsecond line\r\n")
    assert [(r.line, r.value) for r in records(path)] == [
        (1, {"text": "first"}),
        (3, {"text": "second line"}),
    ]


def test_stdin(cli, monkeypatch, tmp_path):
    data = (GOOD + "\n" + '{"instruction": "x"}' + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    code, out, _ = cli("lint", "-", "--format", "parsable", "--select", STRUCTURAL)
    assert code == 1
    assert out == "<stdin>:2:output: [error] no 'output': nothing to learn (PA05 missing-field)\n"


def test_stdin_gzip(cli, monkeypatch):
    data = gzip.compress((GOOD + "\n").encode())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    code, out, _ = cli("lint", "-", "--format", "json")
    assert (code, out) == (0, "")


def test_unparsed_records_keep_their_bytes(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", ['{"broken": '])
    (record,) = records(path)
    assert record.value is UNPARSED and record.raw == b'{"broken": \n'
    assert record.problems[0].rule == "invalid-json"


def test_array_spans_ignore_brackets_inside_strings():
    data = orjson.dumps([{"a": "],[{"}, {"b": '\\"]'}, 3])
    spans, broken = jsonrecords.array_spans(data)
    assert not broken
    assert [orjson.loads(data[a:b]) for a, b in spans] == [{"a": "],[{"}, {"b": '\\"]'}, 3]


def test_gzipped_json_array(cli, tmp_path):
    path = tmp_path / "d.json.gz"
    path.write_bytes(
        gzip.compress(
            json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}]).encode()
        )
    )
    code, findings, _ = lint_json(cli, path)
    assert code == 1
    assert [(f["record"], f["name"]) for f in findings] == [
        (1, "missing-field"),
        (None, "json-array-file"),
    ]
