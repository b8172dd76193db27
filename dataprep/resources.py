"""Locate the bundled rules/ and reports/ folders, in a checkout or an installed wheel."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


@cache
def _in_checkout() -> bool:
    project = _CHECKOUT / "pyproject.toml"
    return project.is_file() and 'name = "llm-dataprep"' in project.read_text(encoding="utf-8")


def _folder(name: str, package: str) -> Path:
    if _in_checkout():
        return _CHECKOUT / name
    return Path(str(resources.files(package)))


def rules_dir() -> Path:
    return _folder("rules", "dataprep._rules")


def reports_dir() -> Path:
    return _folder("reports", "dataprep._reports")


def rule_pack(name: str) -> Path:
    """A bundled pack by name (`default`, `strict`, ...)."""
    return rules_dir() / f"{name}.yaml"
