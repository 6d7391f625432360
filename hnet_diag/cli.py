"""Command line: argument parsing only. Every command calls the library.

Each subcommand lives in the module that owns it and exposes `add_arguments(parser)` and
`run(args) -> int`; this file only knows their names, so `hnet-diag --help` imports nothing
heavy. Errors the user can fix (bad input) print one line and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("hnet_diag.commands.summary", "load a run folder and print what was found"),
    "train": ("hnet_diag.commands.train", "train the bundled reference H-Net (writes a real run folder)"),
    "generate": ("hnet_diag.commands.generate", "sample text from a trained checkpoint; writes generation.json"),
    "analyze": ("hnet_diag.commands.analyze", "diagnose a run and write the full report (Markdown or JSON)"),
    "check": ("hnet_diag.commands.check", "CI gate: exit 1 when a finding reaches --fail-on (SARIF, JUnit, GitHub annotations)"),
    "compare": ("hnet_diag.commands.compare", "compare runs: settings that differ, findings resolved/new/persisting, expected outcomes checked"),
    "verify-fix": ("hnet_diag.commands.verify_fix", "train the follow-up the report recommends (bundled trainer), then compare it with the run"),
    "scan": ("hnet_diag.commands.scan", "diagnose every run folder under a folder in parallel: one table, worst first"),
    "watch": ("hnet_diag.commands.watch", "judge a run while it trains; exit 1 as soon as a finding reaches --fail-on"),
    "rules": ("hnet_diag.commands.rules", "list every rule with its code, severity and title"),
    "explain": ("hnet_diag.commands.explain", "print a rule's page: what, why, example, fix, thresholds"),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hnet-diag",
        description="Diagnose H-Net and LLM training runs from the files they leave behind.",
    )
    parser.add_argument("--version", action="version", version=f"hnet-diag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Adding arguments needs the module; argparse builds all subparsers up front, so
        # commands keep their add_arguments free of heavy imports.
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import HnetDiagError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 0
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except HnetDiagError as err:
        print(f"hnet-diag: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
