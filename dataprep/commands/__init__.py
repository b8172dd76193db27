"""One module per `dataprep` command: its flags (`arguments`) beside what runs them (`run`),
over library functions the tests call too. `dataprep.cli` imports only the command it runs."""

from __future__ import annotations

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2

# name -> the one line `dataprep --help` lists; the module dataprep.commands.<name> does it
COMMANDS = {
    "lint": "report every problem in data files, with file:line, rule and fix",
    "clean": "fix what is safe to fix, reject the rest with reasons",
    "report": "write a self-contained HTML data-quality report",
    "build": "clean, tokenize and label-mask data into Arrow shards (cached, never stale)",
    "stats": "token lengths and the cutoff_len they call for",
    "rules": "list the rules, or explain one",
}
