"""`scan(DIR)`: diagnose every run folder under a directory, one row per run, worst first.

A sweep is tens to hundreds of run folders; the question is which of them are sick. Each
run is diagnosed exactly as `hnet-diag analyze` does it (its own settings file, the same
rules), in its own worker process, so one slow or broken run neither blocks nor crashes
the others: a run that fails to load is a row carrying its error. The same work can go to
an existing Dask cluster (`dask.distributed`, optional) for fleets beyond one machine.

Workers return plain `ScanRow`s (picklable, no Diagnosis), so a process pool and a Dask
cluster give the same table.
"""
from __future__ import annotations

import fnmatch
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .errors import HnetDiagError, InputError

#: sub-folders that belong to the run above them (TensorBoard splits, checkpoint folders)
RUN_PARTS = {"train", "val", "valid", "validation", "eval", "test", "checkpoints"}

#: severities worst first; "error" (could not be analysed) ranks above them all, as
#: `check` lets unusable input (exit 2) override a failing finding (exit 1)
ORDER = ("error", "critical", "high", "medium", "low", "ok")


@dataclass(frozen=True)
class ScanFinding:
    code: str
    severity: str
    title: str


@dataclass(frozen=True)
class ScanRow:
    """One run of a scan: where it stands, or why it could not be analysed."""

    run: str  # path relative to the scanned folder ("." for the folder itself)
    last_step: int | None = None
    planned_steps: int | None = None
    worst: str = "ok"  # one of ORDER
    findings: tuple[ScanFinding, ...] = ()  # alarms, most important first (as in the report)
    top_cause: str = ""  # title of the first root cause (or of the first alarm)
    error: str | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)

    @property
    def rank(self) -> int:
        """Position in ORDER: 0 is worst."""
        return ORDER.index(self.worst)

    def fails(self, fail_on: str) -> bool:
        """Would `check --fail-on fail_on` exit 1 on this run?"""
        limit = ORDER.index(fail_on)
        return any(ORDER.index(f.severity) <= limit for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings"] = [asdict(f) for f in self.findings]
        d["codes"] = list(self.codes)
        return d


@dataclass
class ScanResult:
    """The table of a scan, sorted worst first, and how it was computed."""

    root: str
    rows: list[ScanRow] = field(default_factory=list)
    workers: int = 1
    backend: str = "processes"  # or "dask"

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ORDER}
        for r in self.rows:
            out[r.worst] += 1
        return out

    def exit_code(self, fail_on: str) -> int:
        """As `check`: 2 when a run could not be analysed, else 1 when one fails, else 0."""
        if any(r.error for r in self.rows):
            return 2
        return 1 if any(r.fails(fail_on) for r in self.rows) else 0


# -- finding the runs ------------------------------------------------------------------------

def _artefact_patterns() -> list[str]:
    from .sources.discover import READERS

    return [pattern for pattern, _module, _func in READERS]


def _skipped(name: str) -> bool:
    from .sources.discover import SKIP_DIRS

    return name in SKIP_DIRS or name.startswith(".")


def _holds_artefacts(folder: Path, patterns: Sequence[str]) -> bool:
    """True when `folder` itself, or one of its run-part sub-folders, holds a file a source reads."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    for e in entries:
        if e.is_file() and any(fnmatch.fnmatch(e.name, p) for p in patterns):
            return True
    for e in entries:
        if e.is_dir() and e.name.lower() in RUN_PARTS and _holds_artefacts(Path(e.path), patterns):
            return True
    return False


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Every run folder under `root`, sorted.

    A run folder holds files a source reads (logs, event files, configs, checkpoints)
    directly or in its train/val/checkpoints sub-folders; nothing below a run folder is a
    run of its own. Files lying directly in `root` (a sweep's own summary) do not make it a
    run unless no sub-folder is one, so `scan runs/exp1` of a single run gives one row.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(root, "no such folder")
    if not root.is_dir():
        raise InputError(root, "not a folder (scan takes a folder of run folders)")
    patterns = _artefact_patterns()
    runs: list[Path] = []
    for dirpath, dirnames, _files in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        if here != root and _holds_artefacts(here, patterns):
            runs.append(here)
            dirnames[:] = []
    if not runs and _holds_artefacts(root, patterns):
        runs.append(root)
    return sorted(runs)


# -- one run -----------------------------------------------------------------------------------

def scan_run(path: str, name: str, select: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
             thresholds: Sequence[str] = (), settings_file: str | None = None) -> ScanRow:
    """Diagnose one run as `hnet-diag analyze` would and reduce it to a row. Never raises.

    Runs in a worker: third-party warnings are kept off the terminal (the report of the run
    itself shows its load warnings), and any error, ours or a reader's bug, becomes the
    row's `error` so the scan goes on.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _row(path, name, select, ignore, thresholds, settings_file)
        except HnetDiagError as err:
            return ScanRow(run=name, worst="error", error=str(err))
        except Exception as err:  # noqa: BLE001 - one broken run must not end the scan
            return ScanRow(run=name, worst="error", error=f"{path}: analysis failed ({type(err).__name__}: {err})")


def _row(path: str, name: str, select: Sequence[str] | None, ignore: Sequence[str] | None,
         thresholds: Sequence[str], settings_file: str | None) -> ScanRow:
    from .diagnosis import diagnose_path

    _run, d = diagnose_path(path, select=select, ignore=ignore, thresholds=thresholds, settings_file=settings_file)
    findings = tuple(ScanFinding(f.code, f.severity.value, f.title) for f in d.alarms)
    worst = min((f.severity for f in findings), key=ORDER.index, default="ok")
    top = d.causes[0].title if d.causes else (d.alarms[0].title if d.alarms else "")
    return ScanRow(run=name, last_step=d.last_step, planned_steps=d.planned_steps, worst=worst,
                   findings=findings, top_cause=top)


def sort_rows(rows: Iterable[ScanRow]) -> list[ScanRow]:
    """Worst first: errors, then by worst severity, then more alarms, then by name."""
    return sorted(rows, key=lambda r: (r.rank, -len(r.findings), r.run))


# -- many runs -------------------------------------------------------------------------------

def _name(run: Path, root: Path) -> str:
    rel = run.relative_to(root).as_posix() if run != root else "."
    return rel or "."


def _context():
    """Workers start from a clean interpreter (forkserver, else spawn), never by fork: a
    process that already imported torch (a notebook, a test session) holds thread-pool locks
    that a forked child inherits locked and waits on forever."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _init_worker() -> None:
    """One thread per worker: N workers on N cores beat N workers each spawning N threads."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def scan(root: str | os.PathLike, workers: int | None = None, dask: Any = None,
         select: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
         thresholds: Sequence[str] = (), progress: Callable[[ScanRow], None] | None = None,
         dask_timeout: float = 10.0, settings_file: str | os.PathLike | None = None) -> ScanResult:
    """Diagnose every run under `root` in parallel; rows sorted worst first.

    `workers` processes on this machine (default: one per CPU, at most one per run), or,
    with `dask` (a scheduler address such as "tcp://host:8786", or a Cluster/Client
    object), the same work on an existing Dask cluster whose workers can read `root`
    (`dask_timeout` seconds to reach its scheduler). `settings_file` replaces each run's own
    settings file for every run (`--settings FILE`).
    Settings (select/ignore/thresholds as on the CLI) are checked once here, so a bad rule
    code is one error for the scan, not one per row.
    """
    from .rules.engine import build_settings

    root_path = Path(root)
    runs = find_runs(root_path)
    if not runs:
        raise InputError(root_path, "no run folders found (no event files, metric logs, configs or checkpoints)")
    table, origin = {}, "command line"
    if settings_file is not None:
        from .settings_file import read_settings_file

        given = read_settings_file(settings_file)
        if given is None:
            raise InputError(settings_file, "has no [tool.hnet-diag] table")
        table, origin = given.table, given.origin
        settings_file = str(Path(settings_file).resolve())
    build_settings(table, origin, select=select, ignore=ignore, thresholds=thresholds or ())
    jobs = [(str(r.resolve()), _name(r, root_path)) for r in runs]
    kwargs = {"select": select, "ignore": ignore, "thresholds": tuple(thresholds or ()), "settings_file": settings_file}
    if dask is not None:
        rows, n = _scan_dask(jobs, dask, kwargs, progress, dask_timeout)
        return ScanResult(root=str(root), rows=sort_rows(rows), workers=n, backend="dask")
    n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    rows = _scan_processes(jobs, n, kwargs, progress)
    return ScanResult(root=str(root), rows=sort_rows(rows), workers=n, backend="processes")


def _scan_processes(jobs: list[tuple[str, str]], workers: int, kwargs: dict[str, Any],
                    progress: Callable[[ScanRow], None] | None) -> list[ScanRow]:
    """A process pool; when a worker process dies (a crash in native code, the OOM killer),
    the runs it left unfinished are retried one per process, so only the culprit gets an
    error row."""
    rows: list[ScanRow] = []
    unfinished: list[tuple[str, str]] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker) as pool:
        futures = {pool.submit(scan_run, path, name, **kwargs): (path, name) for path, name in jobs}
        for fut in as_completed(futures):
            try:
                row = fut.result()
            except BrokenProcessPool:
                unfinished.append(futures[fut])
                continue
            rows.append(row)
            if progress:
                progress(row)
    for path, name in sorted(unfinished):
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=_context(), initializer=_init_worker) as pool:
                row = pool.submit(scan_run, path, name, **kwargs).result()
        except BrokenProcessPool:
            row = ScanRow(run=name, worst="error", error=f"{path}: the worker process analysing it died")
        rows.append(row)
        if progress:
            progress(row)
    return rows


def _scan_dask(jobs: list[tuple[str, str]], target: Any, kwargs: dict[str, Any],
               progress: Callable[[ScanRow], None] | None, timeout: float) -> tuple[list[ScanRow], int]:
    """The same `scan_run` calls as tasks on a Dask cluster: (rows, number of workers)."""
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise HnetDiagError("--dask needs dask.distributed: pip install 'hnet-diag[dask]'") from None
    own_client = not isinstance(target, Client)
    try:
        client = Client(target, timeout=f"{timeout}s") if own_client else target
    except (OSError, TimeoutError) as err:
        raise HnetDiagError(f"cannot reach the Dask scheduler at {target}: {err}") from None
    rows: list[ScanRow] = []
    try:
        n = len(client.nthreads())
        futures = [client.submit(scan_run, path, name, pure=False, **kwargs) for path, name in jobs]
        names = {f.key: name for f, (_p, name) in zip(futures, jobs)}
        for fut in dask_completed(futures):
            try:
                row = fut.result()
            except Exception as err:  # noqa: BLE001 - a lost worker (KilledWorker) is one row's error
                row = ScanRow(run=names[fut.key], worst="error", error=f"{names[fut.key]}: Dask task failed ({type(err).__name__}: {err})")
            rows.append(row)
            if progress:
                progress(row)
    finally:
        if own_client:
            client.close()
    return rows, n
