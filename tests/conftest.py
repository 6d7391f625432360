"""Shared test set-up: the repository on sys.path, and builders several test files use.

`fixture_analyses(name)` analyses a committed run of fixtures/runs/ once per session (the
runs are real trainer output; analysing one takes about a second).
"""
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RUNS = ROOT / "fixtures" / "runs"
#: the committed fixture runs (every folder of fixtures/runs/ with a metrics.jsonl)
FIXTURE_RUNS = tuple(sorted(p.name for p in RUNS.iterdir() if (p / "metrics.jsonl").is_file()))


@lru_cache(maxsize=None)
def _load(name: str):
    from hnet_diag import load_run

    return load_run(RUNS / name)


@lru_cache(maxsize=None)
def fixture_analyses(name: str, decoding: bool = False) -> dict:
    """`analyze_all` of fixtures/runs/<name> (decoding skipped unless asked: it rebuilds the model)."""
    from hnet_diag.analyzers import analyze_all

    if not (RUNS / name / "metrics.jsonl").is_file():
        pytest.skip(f"fixture run {name} not generated (python fixtures/make_runs.py {name})")
    return analyze_all(_load(name), skip=() if decoding else ("decoding",))


def fixture_results(name: str):
    """The typed `Results` of a fixture run (analyses plus the run's settings), decoding skipped."""
    from hnet_diag.results import Results

    return Results.of(fixture_analyses(name), _load(name))
