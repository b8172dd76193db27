"""llm-dataprep: lint, report, clean and build fine-tuning data for LLMs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "lint_paths"]


def __getattr__(name: str):
    # The CLI imports only what a command needs; `import dataprep` stays cheap.
    if name == "lint_paths":
        from dataprep.linter import lint_paths

        return lint_paths
    raise AttributeError(name)
