"""`hnet-diag rules`: every rule with its code, name, severity and title."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print every rule as JSON")


def run(args: argparse.Namespace) -> int:
    from ..rules.registry import RULES

    if args.json:
        import json

        print(json.dumps([
            {"code": r.code, "name": r.name, "severity": r.severity.value, "area": r.area, "title": r.title,
             "reads": list(r.reads), "thresholds": {t.name: t.default for t in r.all_thresholds()}}
            for r in RULES
        ], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    from ..report.terminal import STYLES

    table = Table(highlight=False)
    for col in ("code", "name", "severity"):
        table.add_column(col, no_wrap=True)
    table.add_column("title")
    for r in RULES:
        table.add_row(r.code, r.name, f"[{STYLES[r.severity.value]}]{r.severity.value}[/]", r.title)
    console = Console()
    console.print(table)
    console.print("`hnet-diag explain CODE` prints a rule's page.", highlight=False)
    return 0
