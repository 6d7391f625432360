"""`hnet-diag watch RUN`: judge a run while it trains, and fail as soon as it goes wrong.

    hnet-diag watch runs/x --fail-on critical || kill $TRAIN_PID

Every poll reads only what was appended since the last one (`hnet_diag.live.follow`);
the rules are `analyze`'s own, run again when there is new data and their share of the
time allows, at once when a metric turns NaN/Inf (`hnet_diag.live.judge`). Each new
finding is printed once, with the step at which it was first seen; a finding that goes
away is printed as cleared. Findings go to stdout (text, or one JSON object per line);
what the watcher itself says (waiting, finished) goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EPILOG = """\
exit codes:
  0  the run finished (or stayed idle for --idle polls) with nothing at or above --fail-on
  1  a finding at or above --fail-on appeared (printed first; --exec has run)
  2  unusable input (a file of unknown format, bad settings or options)

--exec runs CMD through the shell once per new finding, with the finding in
HNET_DIAG_CODE, HNET_DIAG_NAME, HNET_DIAG_SEVERITY, HNET_DIAG_TITLE, HNET_DIAG_MESSAGE,
HNET_DIAG_STEP, HNET_DIAG_RUN and HNET_DIAG_JSON (the --format json object).
"""

SEVERITIES = ("critical", "high", "medium", "low")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analyze import add_rule_options

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("run", help="run folder (or one log file); waited for if it does not exist yet")
    p.add_argument("--interval", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between polls (default: %(default)s)")
    p.add_argument("--fail-on", choices=SEVERITIES + ("never",), default="critical",
                   help="exit 1 as soon as a finding at or above this severity appears (default: %(default)s)")
    p.add_argument("--until-done", action="store_true",
                   help="end when the run says it finished (the bundled trainer's end marker in metrics.jsonl)")
    p.add_argument("--idle", type=int, metavar="N",
                   help="end after N polls in a row without new data (the run is taken as stopped)")
    p.add_argument("--exec", dest="exec_cmd", metavar="CMD",
                   help="shell command to run per new finding (finding in HNET_DIAG_* variables)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text lines, or one JSON object per line per new or cleared finding (default: %(default)s)")
    add_rule_options(p)


def _say(msg: str) -> None:
    print(f"hnet-diag watch: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..live.follow import RunFollower
    from ..live.judge import LiveJudge
    from ..rules.engine import build_settings

    if args.interval <= 0:
        raise InputError("--interval", f"must be a positive number of seconds, got {args.interval}")
    if args.idle is not None and args.idle < 1:
        raise InputError("--idle", f"must be at least 1, got {args.idle}")
    path = Path(args.run)
    from ..settings_file import find_settings

    # the settings file nearest the run (as load_run finds it); for a folder that does not
    # exist yet, the nearest one above it
    where = path
    while not where.exists() and where != where.parent:
        where = where.parent
    project = find_settings(where)
    settings = build_settings(project.table, project.origin, select=args.select, ignore=args.ignore,
                              thresholds=args.threshold or ())
    follower = RunFollower(path, project)
    if path.is_file() and not follower._discover():
        raise InputError(path, "unknown file format")
    judge = LiveJudge(settings)
    fail_on = None if args.fail_on == "never" else args.fail_on
    out = _Output(args.format, args.exec_cmd, str(path))
    idle = 0
    waiting_said = False
    pending = False  # data arrived that no judgement has seen yet

    while True:
        t0 = time.monotonic()
        if not follower.exists():
            if not waiting_said:
                _say(f"waiting for {path} to appear")
                waiting_said = True
            idle += 1
        else:
            res = follower.poll()
            idle = 0 if res.changed else idle + 1
            pending = pending or res.changed
            if res.end is not None:
                _say(f"the run says it {res.end.status} at step {res.end.step}" + (f": {res.end.reason}" if res.end.reason else ""))
            ended = follower.end is not None
            if args.until_done and (ended or (args.idle and idle >= args.idle)):
                return _final(follower, judge, out, fail_on, ended, idle)
            if follower.has_data() and judge.due(pending, urgent=bool(res.first_nonfinite)):
                pending = False
                if _report(judge.judge(follower.run(), finished=ended), out, fail_on):
                    return 1
        if not args.until_done and args.idle and idle >= args.idle:
            return _final(follower, judge, out, fail_on, False, idle)
        time.sleep(max(0.0, args.interval - (time.monotonic() - t0)))


def _final(follower: Any, judge: Any, out: "_Output", fail_on: str | None, ended: bool, idle: int) -> int:
    """The end-of-run judgement (end-of-run rules included): exit 1 if anything at or above
    --fail-on stands, else 0."""
    from ..errors import InputError

    if not ended:
        _say(f"no new data for {idle} polls: judging the run as stopped")
    if not follower.exists() or not follower.has_data():
        raise InputError(follower.path, "no training artefacts appeared")
    follower.poll(final=True)
    _report(judge.judge(follower.run(), finished=True), out, fail_on)
    bad = judge.standing_at_or_above(fail_on) if fail_on else []
    if bad:
        _say(f"{len(bad)} finding(s) at or above {fail_on} stand at the end: {', '.join(f.code for f in bad)}")
        return 1
    _say("done: nothing at or above " + (fail_on or "any severity (--fail-on never)"))
    return 0


def _report(changes: list, out: "_Output", fail_on: str | None) -> bool:
    """Print each change; True when a new one is at or above --fail-on."""
    hit = False
    for ch in changes:
        out.emit(ch)
        hit = hit or ch.at_or_above(fail_on)
    return hit


class _Output:
    def __init__(self, fmt: str, exec_cmd: str | None, run: str):
        self.fmt = fmt
        self.exec_cmd = exec_cmd
        self.run = run

    def emit(self, ch: Any) -> None:
        obj = ch.to_dict(self.run)
        if self.fmt == "json":
            print(json.dumps(obj), flush=True)
        else:
            print(ch.line(), flush=True)
        if self.exec_cmd and ch.kind == "new":
            self._exec(ch, obj)

    def _exec(self, ch: Any, obj: dict) -> None:
        f = ch.finding
        env = dict(os.environ, HNET_DIAG_CODE=f.code, HNET_DIAG_NAME=f.name, HNET_DIAG_SEVERITY=f.severity.value,
                   HNET_DIAG_TITLE=f.title, HNET_DIAG_MESSAGE=f.message, HNET_DIAG_STEP=str(ch.step),
                   HNET_DIAG_RUN=self.run, HNET_DIAG_JSON=json.dumps(obj))
        try:
            rc = subprocess.run(self.exec_cmd, shell=True, env=env, check=False).returncode
        except OSError as err:
            _say(f"--exec could not run: {err}")
            return
        if rc:
            _say(f"--exec exited {rc} for {f.code}")
