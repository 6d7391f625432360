"""`hnet-diag scan DIR`: every run folder under DIR, diagnosed in parallel, one table worst first."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
A run folder is any folder holding files hnet-diag reads (event files, metric logs,
configs, checkpoints), directly or in train/val/checkpoints sub-folders; folders below a
run folder belong to it. Each run is diagnosed as `hnet-diag analyze` would (its own
hnet-diag.toml / pyproject.toml applies). A run that cannot be read is a row with its error.

exit codes (as `check`):
  0  no run has a finding at or above the --fail-on severity
  1  at least one run does
  2  a run could not be analysed, or unusable input (no such folder, no run folders,
     bad rule codes, unreachable Dask scheduler)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analyze import add_rule_options

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("dir", help="folder holding run folders (a sweep)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the table here (default: stdout)")
    p.add_argument("--format", choices=("md", "json", "csv"), default=None,
                   help="table format (default: from the -o suffix, else md)")
    p.add_argument("--workers", type=_positive, default=None, metavar="N",
                   help="worker processes (default: one per CPU, at most one per run)")
    p.add_argument("--fail-on", choices=("critical", "high", "medium", "low"), default="high",
                   help="lowest severity that makes the exit code 1 (default: high)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="send the work to an existing Dask cluster (scheduler address, e.g. tcp://host:8786); "
                        "needs dask.distributed (pip install 'hnet-diag[dask]') and DIR readable by its workers")
    add_rule_options(p)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.output).suffix.lower().lstrip(".") if args.output else ""
    return suffix if suffix in ("json", "csv") else "md"


def run(args: argparse.Namespace) -> int:
    from ..report.scan_table import RENDERERS, summary_line
    from ..scan import scan

    result = scan(args.dir, workers=args.workers, dask=args.dask, select=args.select, ignore=args.ignore,
                  thresholds=args.threshold or (), settings_file=args.settings)
    text = RENDERERS[_format(args)](result)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"{summary_line(result)}\ntable: {out}")
    else:
        sys.stdout.write(text)
    return result.exit_code(args.fail_on)
