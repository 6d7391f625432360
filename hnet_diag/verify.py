"""`verify-fix`: apply a report's own advice with the bundled trainer and show whether it worked.

For a run made by `hnet-diag train` (its config.json holds every setting), the follow-up
is the report's plan (`followup.plan`) turned into commands:
- a new run with the same settings except the recommended ones (same seed and data, so
  the difference isolates the fix), when a setting acting from step 0 changes;
- else a resume of a copy of the run (the original folder is never written to);
- a new sample with the recommended sampling flags where generation was the problem, from
  the follow-up's checkpoint (or the original's, when training does not change).
The commands are plain `hnet-diag train` / `generate` lines, printed as they are run, so
`--dry-run` shows exactly what would happen; afterwards the original and the follow-up are
compared (`compare.py`). A run from another trainer gets the changes to make and the
compare command, and nothing is trained.
"""
from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HnetDiagError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from .diagnosis import Diagnosis
    from .followup import FollowUpPlan

#: the trainer's default corpus: no --data flag needed
BUNDLED_DATA_PREFIX = "bundled:"

#: where the compare report goes inside the follow-up folder (a folder discovery skips)
REPORT_DIR = "hnet-diag-report"


@dataclass
class FollowUp:
    """What verify-fix will do for one run: commands, or why there is nothing to run."""

    run: Path
    out: Path
    plan: "FollowUpPlan | None" = None
    commands: list[list[str]] = field(default_factory=list)  # argv lists; ["cp", "-r", A, OUT] copies
    nothing: str = ""  # why nothing is trained (healthy run, no settings to change)
    foreign: bool = False  # not a bundled-trainer run: the user makes the follow-up
    notes: list[str] = field(default_factory=list)
    final_step: int | None = None  # the step the follow-up stops at

    @property
    def report(self) -> Path:
        return self.out / REPORT_DIR / "compare.md"

    def compare_command(self) -> list[str]:
        target = str(self.out) if not self.foreign else "NEW_RUN"
        cmd = ["hnet-diag", "compare", str(self.run), target]
        return cmd + (["-o", str(self.report)] if not self.foreign else [])

    def lines(self) -> list[str]:
        """The exact commands, one per line, as a shell would take them."""
        if self.nothing:
            return []
        if self.foreign:
            changes = "; ".join(f"{c.flag} {c.to} ({', '.join(c.codes)})" for c in self.plan.train + self.plan.generate)
            return [f"# {self.run} was not written by the bundled trainer (no config.json from `hnet-diag train`): "
                    f"make the follow-up with its own trainer, changing {changes}; then:",
                    shlex.join(self.compare_command())]
        return [shlex.join(c) for c in self.commands] + [shlex.join(self.compare_command())]


def default_out(run: Path) -> Path:
    """./<run-name>-fix, moved beside the run when the current folder is inside it."""
    name = run.resolve().name + "-fix"
    out = Path(name)
    try:
        out.resolve().relative_to(run.resolve())
    except ValueError:
        return out
    return run.resolve().parent / name


def build(run_path: str | Path, run: Any, d: "Diagnosis", steps: int | None = None,
          out: str | Path | None = None) -> FollowUp:
    """The follow-up for a diagnosed run (nothing is run here)."""
    from .compare import trainer_config
    from .followup import plan

    run_dir = Path(run_path)
    if not run_dir.is_dir():
        raise InputError(run_dir, "verify-fix needs a run folder")
    f = FollowUp(run=run_dir, out=Path(out) if out else default_out(run_dir))
    p = plan(d)
    f.plan = p
    if not d.alarms:
        f.nothing = "nothing to fix: no check raised an alarm"
        return f
    if p.empty:
        codes = ", ".join(x.code for x in d.alarms)
        f.nothing = (f"nothing verify-fix can change: the findings ({codes}) recommend checks, not settings"
                     + (f" ({'; '.join(p.notes)})" if p.notes else ""))
        return f
    placeholders = [c for c in p.train + p.generate if c.placeholder]
    cfg = trainer_config(run)
    if cfg is None:
        f.foreign = True
        return f
    if placeholders:
        raise HnetDiagError(f"{run_dir}: the report could not compute {', '.join(c.flag for c in placeholders)}; "
                            "set it by hand and compare the runs with `hnet-diag compare`")
    training = dict(cfg["training"])
    train_argv: list[str] | None = None
    resume = p.resume
    if resume and _newest_checkpoint(run_dir) is None:
        resume = False
        f.notes.append("the plan says resume, but the run has no checkpoint: the follow-up is a new run")
    if p.train:
        train_argv, f.final_step = (_resume_argv if resume else _new_run_argv)(run_dir, f.out, training, p, steps)
        if resume:
            f.commands.append(["cp", "-r", str(run_dir), str(f.out)])
        f.commands.append(train_argv)
    elif resume:  # the report asks for a resume without changing a setting: just continue
        f.commands.append(["cp", "-r", str(run_dir), str(f.out)])
        train_argv, f.final_step = _resume_argv(run_dir, f.out, training, p, steps)
        f.commands.append(train_argv)
    if p.generate:
        gen = _generate_argv(run_dir, run, f, p)
        if gen is None:
            f.notes.append("no checkpoint to sample from: the sampling changes "
                           + " ".join(f"{c.flag} {c.to}" for c in p.generate) + " are not tried")
        else:
            if not f.commands:  # generation only: the follow-up is a copy of the run with a new sample
                f.commands.append(["cp", "-r", str(run_dir), str(f.out)])
            f.commands.append(gen)
    if not f.commands:
        f.nothing = "nothing verify-fix can run: " + "; ".join(f.notes)
    return f


def _newest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    return found[-1] if found else None


def _flag_args(settings: dict[str, Any]) -> list[str]:
    from .flags import TRAIN_SETTINGS, flag, value_text

    argv: list[str] = []
    for name in TRAIN_SETTINGS:
        v = settings.get(name)
        if v is None:
            continue
        if name == "data":
            files = [str(x) for x in (v if isinstance(v, (list, tuple)) else [v]) if not str(x).startswith(BUNDLED_DATA_PREFIX)]
            if files:
                argv += ["--data", *files]
            continue
        argv += [flag(name), value_text(v)]
    return argv


def _apply(settings: dict[str, Any], p: "FollowUpPlan") -> dict[str, Any]:
    out = dict(settings)
    for c in p.train:
        out[c.setting] = c.to
    return out


def _limit(settings: dict[str, Any], steps: int | None) -> int:
    """Apply --steps N: stop at step N (the plan stays), or a longer plan when N exceeds it."""
    plan_steps = int(float(settings["max_steps"]))
    if steps is None:
        settings["stop_at_step"] = None
        return plan_steps
    if steps > plan_steps:
        settings["max_steps"], settings["stop_at_step"] = steps, None
        return steps
    settings["stop_at_step"] = steps if steps < plan_steps else None
    return steps


def _new_run_argv(run_dir: Path, out: Path, training: dict[str, Any], p: "FollowUpPlan",
                  steps: int | None) -> tuple[list[str], int]:
    settings = _apply(training, p)
    final = _limit(settings, steps)
    data = [str(x) for x in settings.get("data") or [] if not str(x).startswith(BUNDLED_DATA_PREFIX)]
    missing = [x for x in data if not Path(x).is_file()]
    if missing:
        raise InputError(missing[0], "training data of the original run is gone: the follow-up cannot use the same data")
    argv = ["hnet-diag", "train", "--config", str(run_dir / "config.json"), "--out", str(out), "--quiet"]
    return argv + _flag_args(settings), final


def _resume_argv(run_dir: Path, out: Path, training: dict[str, Any], p: "FollowUpPlan",
                 steps: int | None) -> tuple[list[str], int]:
    """Continue a copy of the run; only the changed settings are typed (the checkpoint has
    the rest), and --stop-at-step is always typed so an earlier cut does not stop it again."""
    settings = _apply(training, p)
    final = _limit(settings, steps)
    typed = {c.setting: c.to for c in p.train}
    if steps is not None and steps > int(float(training.get("max_steps") or 0)) and "max_steps" not in typed:
        typed["max_steps"] = settings["max_steps"]
    typed["stop_at_step"] = final
    return ["hnet-diag", "train", "--out", str(out), "--resume", "--quiet"] + _flag_args(typed), final


def _generate_argv(run_dir: Path, run: Any, f: FollowUp, p: "FollowUpPlan") -> list[str] | None:
    """Sample again with the recommended flags, from the follow-up's checkpoint when it trains."""
    from .flags import GENERATE_SETTINGS, flag, value_text

    record = _generation_record(run_dir, run)
    if f.final_step is not None:
        checkpoint: Path | None = f.out / "checkpoints" / f"step_{f.final_step:06d}.pt"
    else:
        checkpoint = _recorded_checkpoint(run_dir, record) or _newest_checkpoint(run_dir)
    if checkpoint is None:
        return None
    gen = getattr(run, "generation", None)
    values = {name: record.get(name, getattr(gen, name, None)) for name in GENERATE_SETTINGS}
    values.update({c.setting: c.to for c in p.generate})
    argv = ["hnet-diag", "generate", "--checkpoint", str(checkpoint), "--prompt", str(record.get("prompt", ""))]
    for name in GENERATE_SETTINGS:
        if values.get(name) is not None:
            argv += [flag(name), value_text(values[name])]
    if record.get("seed") is not None:
        argv += ["--seed", str(record["seed"])]
    return argv + ["--out", str(f.out)]


def _generation_record(run_dir: Path, run: Any) -> dict[str, Any]:
    """The generation.json `hnet-diag generate` wrote (prompt, seed, settings), or {}."""
    source = getattr(getattr(run, "generation", None), "source", None)
    for candidate in ([run_dir / source] if source else []) + [run_dir / "generation.json"]:
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return {}


def _recorded_checkpoint(run_dir: Path, record: dict[str, Any]) -> Path | None:
    """The checkpoint the original sample came from: as recorded, or beside the run."""
    rec = record.get("checkpoint")
    if not rec:
        return None
    for candidate in (Path(rec), run_dir / rec, run_dir / "checkpoints" / Path(rec).name):
        if candidate.is_file():
            return candidate
    return None


def execute(f: FollowUp, echo: Any = print) -> None:
    """Run the follow-up's commands in this process, printing each first."""
    from .cli import main

    if f.out.exists() and any(f.out.iterdir()):
        raise InputError(f.out, "already exists and is not empty: choose another --out (verify-fix never mixes runs)")
    for argv in f.commands:
        echo("$ " + shlex.join(argv))
        if argv[0] == "cp":
            shutil.copytree(argv[2], argv[3], ignore=shutil.ignore_patterns(REPORT_DIR), dirs_exist_ok=True)
            continue
        rc = main(argv[1:])
        if rc != 0:
            raise HnetDiagError(f"the follow-up command failed (exit {rc}): {shlex.join(argv)}")
