"""llm-dataprep: lint, report, clean and build fine-tuning data for LLMs.

The library behind the CLI, in three calls (each imported when first used, so `import dataprep`
stays cheap):

- `dataprep.lint_paths(paths, ...)`: the findings of `dataprep lint`, streamed;
- `dataprep.build(inputs, out, setup, pack, options)`: `dataprep build`'s shards and manifest
  (`dataprep.builder` holds `Input`, `Options` and `check`);
- `dataprep.render_report(paths, ...)`: the HTML page of `dataprep report`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "build", "lint_paths", "render_report"]

_PUBLIC = {
    "lint_paths": "dataprep.linter",
    "build": "dataprep.builder",
    "render_report": "dataprep.report",
}


def __getattr__(name: str):
    # The CLI imports only what a command needs.
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
