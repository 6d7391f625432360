"""`hnet-diag analyze RUN`: write the full report and print a short summary.

The report goes to ./hnet-diag-report/<run-name>/report.md by default, never into the run
folder (a diagnostic tool must not change what it diagnoses) unless `-o` says so.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EPILOG = """\
exit codes:
  0  report written
  2  unusable input (no such folder, nothing readable, bad settings)

rule selection (also in [tool.hnet-diag] of pyproject.toml or hnet-diag.toml):
  --select HND1,HND4 --ignore HND405 --threshold HND101.min_ratio=8
"""


def add_rule_options(p: argparse.ArgumentParser) -> None:
    """Options shared by analyze and check: which rules run and with which thresholds."""
    p.add_argument("--select", action="append", metavar="CODES",
                   help="rule codes or prefixes to run, comma-separated (replaces the settings file's select)")
    p.add_argument("--ignore", action="append", metavar="CODES",
                   help="rule codes or prefixes to skip, comma-separated (the more specific of select/ignore wins)")
    p.add_argument("--threshold", action="append", default=[], metavar="CODE.NAME=VALUE",
                   help="override a rule threshold, e.g. HND101.min_ratio=8 (repeatable; see `hnet-diag explain CODE`)")
    p.add_argument("--settings", metavar="FILE",
                   help="read [tool.hnet-diag] from this hnet-diag.toml or pyproject.toml instead of the nearest "
                        "one in the run folder or above it (e.g. for a remote run)")


def add_link_option(p: argparse.ArgumentParser) -> None:
    """--follow-external-links: the one way to read text/config files linked from outside the run."""
    p.add_argument("--follow-external-links", action="store_true",
                   help="read text and config files that are symlinks to outside the run folder "
                        "(by default they are skipped with a warning, so nothing from elsewhere ends up in a report)")


def add_sample_options(p: argparse.ArgumentParser) -> None:
    """--no-samples / --prompts FILE: whether and from what the checkpoint writes samples for the report."""
    p.add_argument("--no-samples", action="store_true",
                   help="do not run the run's checkpoint for samples or the boundary map (the sampling findings "
                        "then judge the settings by value)")
    p.add_argument("--prompts", metavar="FILE",
                   help="prompts for the samples, one per line (write \\n for a line break; default: passages "
                        "from the run's validation text)")


def sample_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The input loaders' options from --no-samples / --prompts (a bad prompts file is an InputError)."""
    from ..sources.samples_input import read_prompts

    if getattr(args, "no_samples", False):  # the model is not run: no samples, no boundary map
        return {"samples": {"enabled": False}, "boundaries": {"enabled": False}}
    if getattr(args, "prompts", None):
        return {"samples": {"prompts": read_prompts(args.prompts)}}
    return {}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("run", help="run folder (or a single log/checkpoint file)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="report file (default: ./hnet-diag-report/<run-name>/report.md or .json)")
    p.add_argument("--format", choices=("md", "json"), default=None,
                   help="report format (default: from the -o suffix, else md)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    add_sample_options(p)
    add_link_option(p)
    add_rule_options(p)


def diagnose_from_args(args: argparse.Namespace) -> tuple[Any, Any]:
    """Load the run, read the settings that apply to it, and diagnose: (run, diagnosis).

    The settings file is found once (by `load_run`, from the run's path, or the `--settings`
    file); the rule options typed on the command line override it.
    """
    from ..diagnosis import diagnose_path

    return diagnose_path(args.run, select=args.select, ignore=args.ignore, thresholds=args.threshold or (),
                         settings_file=getattr(args, "settings", None),
                         follow_external_links=getattr(args, "follow_external_links", False),
                         options=sample_options(args))


def default_output(run_path: Path, name: str, suffix: str) -> Path:
    """./hnet-diag-report/<name>/report.<suffix>, moved beside the run when cwd is inside it."""
    out = Path("hnet-diag-report") / name / f"report.{suffix}"
    run_dir = run_path if run_path.is_dir() else run_path.parent
    try:
        out.resolve().relative_to(run_dir.resolve())
    except ValueError:
        return out
    return run_dir.resolve().parent / "hnet-diag-report" / name / f"report.{suffix}"


def run(args: argparse.Namespace) -> int:
    from ..report.machine import to_json
    from ..report.markdown import write_report
    from ..report.terminal import print_summary

    _, d = diagnose_from_args(args)
    fmt = args.format or ("json" if args.output and args.output.endswith(".json") else "md")
    out = Path(args.output) if args.output else default_output(Path(args.run), d.run_name, fmt)
    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_json(d), encoding="utf-8")
    else:
        write_report(d, out, with_plots=not args.no_plots)
    print_summary(d, report_path=str(out))
    return 0
