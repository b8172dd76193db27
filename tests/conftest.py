"""Shared test helpers: run the CLI in process, write data files, find ../shared."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest

from dataprep.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"
LLAMAFACTORY = SHARED / "corpus" / "llamafactory"
REALWORLD = SHARED / "corpus" / "realworld"

# Parse, structure and LLaMA-Factory rules: what reader and format tests are about.
STRUCTURAL = (
    "invalid-json,invalid-utf8,not-an-object,unknown-format,missing-field,wrong-type,"
    "mixed-format,json-array-file,duplicate-key,empty-conversation,invalid-role,role-order,"
    "no-final-response,prompt-mismatch,column-reset,unknown-column"
)

needs_shared = pytest.mark.skipif(
    not LLAMAFACTORY.is_dir(), reason="../shared/corpus is not present (only in CI and sessions)"
)


def unescape(line: str) -> bytes:
    r"""A test line as bytes; `\xNN` stands for a raw byte (JSON itself never contains `\x`)."""
    if "\\x" not in line:
        return line.encode("utf-8")
    out = b""
    for i, part in enumerate(line.split("\\x")):
        if i == 0:
            out += part.encode("utf-8")
        else:
            out += codecs.decode(part[:2], "hex") + part[2:].encode("utf-8")
    return out


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(b"".join(unescape(line) + newline.encode() for line in lines))
    return path


@pytest.fixture
def cli(capsys):
    """Run `dataprep ARGS...` in process: returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# torch.distributed's rendezvous variables: a DeepSpeed test in this process sets them (one
# process group of one), and a child process that inherits them joins that group's port.
DIST_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that trains on its own."""
    import os

    return {**{k: v for k, v in os.environ.items() if k not in DIST_VARS}, **extra}


def readme_snippet(name: str, language: str) -> str:
    """The README's code block after `<!-- readme-snippet: NAME -->`, exactly as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- readme-snippet: {name} -->\n```{language}\n(.*?)```", text, re.S)
    assert found, f"README has no snippet {name}"
    return found.group(1)
