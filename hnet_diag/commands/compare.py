"""`hnet-diag compare RUN_A RUN_B [RUN_C ...]`: what changed, what got fixed, what is new."""
from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
RUN_A is the baseline; every other run is compared with it. Each run is diagnosed as
`hnet-diag analyze` would. The report lists the settings that differ (as flags), the
findings resolved / new / persisting with the evidence of both runs, each expected outcome
of A's report checked on the other run, and overlay plots of loss, gradient norm, LR and
compression per stage.

exit codes:
  0  report written
  2  unusable input (no such folder, nothing readable, bad settings or rule codes)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analyze import add_rule_options

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders: the baseline first, then one or more others")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="report file (default: ./hnet-diag-report/<A>-vs-<B>/compare.md or .json)")
    p.add_argument("--format", choices=("md", "json"), default=None,
                   help="report format (default: from the -o suffix, else md)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the overlay plots")
    add_rule_options(p)


def write(c, out: Path, fmt: str, with_plots: bool = True) -> Path:
    """Write the comparison as Markdown (with plots beside it) or JSON."""
    from ..report.compare_report import to_json, write_report

    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_json(c), encoding="utf-8")
        return out
    return write_report(c, out, with_plots=with_plots)


def print_summary(c, out: Path) -> None:
    from rich.console import Console

    from ..report.compare_report import HELD, verdict

    console = Console(soft_wrap=True)  # paths and verdicts stay on one line in logs
    console.print(verdict(c), highlight=False)
    for key in ("resolved", "new", "persisting"):
        for x in c.findings[key]:
            console.print(f"  {key:<10} {x.code} {x.severity:<8} {x.title}" + (f" ({x.note})" if x.note else ""),
                          highlight=False)
    for o in c.outcomes:
        console.print(f"  outcome {o.code}: {HELD[o.held]}: {o.observed}", highlight=False)
    console.print(f"report: {out}", highlight=False)


def run(args: argparse.Namespace) -> int:
    from ..compare import compare_paths
    from ..errors import HnetDiagError

    if len(args.runs) < 2:
        raise HnetDiagError("compare needs at least two runs: RUN_A RUN_B [RUN_C ...]")
    c = compare_paths(args.runs, select=args.select, ignore=args.ignore, thresholds=args.threshold or (),
                      settings_file=args.settings)
    fmt = args.format or ("json" if args.output and args.output.endswith(".json") else "md")
    if args.output:
        out = Path(args.output)
    else:
        names = "-vs-".join(r.label.replace(" ", "_").replace("(", "").replace(")", "") for r in c.runs[:2])
        out = Path("hnet-diag-report") / names / f"compare.{fmt}"
    write(c, out, fmt, with_plots=not args.no_plots)
    print_summary(c, out)
    return 0
