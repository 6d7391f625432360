"""`hnet-diag check RUN --fail-on high`: a CI gate over the same rules as the report."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

EPILOG = """\
exit codes:
  0  no finding at or above the --fail-on severity
  1  at least one finding at or above it
  2  unusable input (no such folder, nothing readable, bad settings or rule codes)

When GITHUB_ACTIONS=true, every finding is also printed as a GitHub Actions annotation
(::error file=...::message), so it shows on the pull request. Annotation files and SARIF
locations are relative to GITHUB_WORKSPACE when set, else to the working directory (SARIF
with uriBaseId %SRCROOT%), the only paths GitHub places on a file.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analyze import add_link_option, add_rule_options, add_sample_options

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("run", help="run folder (or a single log/checkpoint file)")
    p.add_argument("--fail-on", choices=("critical", "high", "medium", "low"), default="high",
                   help="lowest severity that fails the check (default: high)")
    p.add_argument("--sarif", metavar="FILE", help="also write the findings as SARIF 2.1.0 (code scanning)")
    p.add_argument("--junit", metavar="FILE", help="also write one JUnit XML test case per rule")
    p.add_argument("--json", metavar="FILE", help="also write the JSON report")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    add_sample_options(p)
    add_link_option(p)
    add_rule_options(p)


def _write(path: str, text: str) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..report.machine import github_annotations, to_json, to_junit, to_sarif, workspace_root
    from ..report.terminal import print_summary
    from .analyze import diagnose_from_args

    _, d = diagnose_from_args(args)
    root = workspace_root()
    if args.sarif:
        _write(args.sarif, to_sarif(d, root))
    if args.junit:
        _write(args.junit, to_junit(d))
    if args.json:
        _write(args.json, to_json(d))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(d, root):
            print(line, flush=True)
    console = Console()
    if not args.quiet:
        print_summary(d, console=console, show_positive=False)
    failing = d.at_or_above(args.fail_on)
    if failing:
        console.print(f"[red]FAIL[/red]: {len(failing)} finding(s) at or above {args.fail_on}: "
                      + ", ".join(f.code for f in failing), highlight=False)
        return 1
    console.print(f"[green]PASS[/green]: nothing at or above {args.fail_on}", highlight=False)
    return 0
