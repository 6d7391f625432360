"""`hnet-diag verify-fix RUN`: train the follow-up the report recommends, then compare it with RUN."""
from __future__ import annotations

import argparse

EPILOG = """\
For a run made by `hnet-diag train` (its config.json is in the run): the report's
recommended flags become a follow-up, a new run (same seed and data, only the recommended
settings changed) or a resume of a copy of the run, as the report's plan says, plus a new
sample with the recommended sampling flags where generation was the problem. It is trained
with the bundled trainer, then `hnet-diag compare RUN FOLLOW_UP` writes
FOLLOW_UP/hnet-diag-report/compare.md. The original run folder is never written to.

--steps N stops the follow-up at step N (its schedule stays the plan's; N above the plan
makes the plan N steps). Findings whose evidence lies beyond step N cannot be shown
resolved and stay "persisting" with a note.

For a run from another trainer, or with --dry-run, it prints the exact commands and
nothing else. On a run without alarms it says there is nothing to fix and trains nothing.

exit codes:
  0  nothing to fix, commands printed (--dry-run, other trainers), or every finding of RUN
     at or above --fail-on is resolved on the follow-up with no new one
  1  the follow-up still has (or newly has) a finding at or above --fail-on
  2  unusable input (no such folder, bad settings, the original data is gone)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analyze import add_rule_options

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("run", help="run folder to fix")
    p.add_argument("--steps", type=int, metavar="N", help="stop the follow-up at step N (default: the plan)")
    p.add_argument("--out", metavar="DIR", help="follow-up run folder (default: ./<run-name>-fix)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--fail-on", choices=("critical", "high", "medium", "low"), default="high",
                   help="severity whose findings must be resolved for exit 0 (default: high)")
    add_rule_options(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import HnetDiagError
    from ..verify import build, execute
    from .analyze import diagnose_from_args
    from .compare import print_summary, write

    if args.steps is not None and args.steps < 1:
        raise HnetDiagError("--steps must be at least 1")
    run_, d = diagnose_from_args(args)
    f = build(args.run, run_, d, steps=args.steps, out=args.out)
    if f.nothing:
        print(f"{args.run}: {f.nothing}; nothing trained.")
        return 0
    if args.dry_run or f.foreign:
        print("\n".join(f.lines()))
        return 0
    for note in f.notes:
        print(f"note: {note}")
    execute(f)
    from ..compare import compare_paths

    print("$ " + " ".join(f.compare_command()))
    c = compare_paths([args.run, str(f.out)], select=args.select, ignore=args.ignore, thresholds=args.threshold or (),
                      settings_file=args.settings)
    write(c, f.report, "md")
    write(c, f.report.with_suffix(".json"), "json")
    print_summary(c, f.report)
    left = c.at_or_above("persisting", args.fail_on) + c.at_or_above("new", args.fail_on)
    return 1 if left else 0
