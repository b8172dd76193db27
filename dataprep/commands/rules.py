"""`dataprep rules`: list the rules, or explain one."""

from __future__ import annotations

import argparse
import textwrap

from dataprep.commands import EXIT_OK
from dataprep.errors import DataprepError

DESCRIPTION = "List every rule with its code, severity and summary, or explain one rule."
EPILOG = "Examples:\n  dataprep rules\n  dataprep rules role-order\n  dataprep rules PA01"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="RULE", help="a rule name or code")
    parser.add_argument("--rules", metavar="FILE", help="show severities from this rule pack")


def run(args: argparse.Namespace) -> int:
    from dataprep import checks, rulepack

    if args.name:
        return explain(args.name)
    pack = rulepack.load(args.rules)
    width = max(len(m.NAME) for m in checks.ALL)
    for module in checks.ALL:
        setting = pack.settings[module.NAME]
        severity = setting.severity if setting.enabled else "off"
        summary = (module.__doc__ or "").strip().splitlines()[0]
        print(f"{module.CODE}  {module.NAME:<{width}}  {severity:<7}  {summary}")
    print(
        "\nPreference data: DPO, ORPO and SimPO all train on chosen/rejected pairs, so the PR "
        "pair rules apply to each; KTO records (a boolean label) get invalid-kto-label and "
        "kto-imbalance."
    )
    return EXIT_OK


def explain(name: str) -> int:
    from dataprep import checks

    module = checks.get(name)
    if module is None:
        raise DataprepError(f"no rule {name!r}", fix="`dataprep rules` lists them")
    print(f"{module.CODE} {module.NAME}\n")
    print(textwrap.dedent(module.__doc__ or "").strip())
    return EXIT_OK
