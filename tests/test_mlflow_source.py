"""MLflow runs written by mlflow itself: its default store (SQLite in MLflow 3) and the file store."""
import math
import os
import subprocess
import sys
import textwrap

import pytest

from hnet_diag import load_run
from hnet_diag.sources import mlflow_run

pytest.importorskip("mlflow")

SCRIPT = textwrap.dedent("""
    import math, sys
    import mlflow
    if len(sys.argv) > 1:
        mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("exp1")
    with mlflow.start_run(run_name="tiny"):
        mlflow.log_params({"learning_rate": 3e-4, "warmup_steps": 5, "max_steps": 300, "optimizer": "adamw"})
        for i in range(30):
            loss = float("nan") if i == 12 else 4.0 * 0.97 ** i
            mlflow.log_metrics({"train/loss": loss, "grad_norm": 1.0 + 0.01 * i}, step=i * 10)
""")


def _write(folder, *uri):
    """Log one run the way a user would, with mlflow's defaults unless a store URI is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_ALLOW_FILE_STORE="true", PYTHONWARNINGS="ignore")
    subprocess.run([sys.executable, "-c", SCRIPT, *uri], cwd=folder, env=env, check=True, capture_output=True, timeout=300)


def _snapshot(folder):
    return sorted((os.path.join(d, f), os.stat(os.path.join(d, f)).st_mtime_ns) for d, _, fs in os.walk(folder) for f in fs)


def _check(run):
    loss = run.metric("loss")
    assert len(loss) == 30 and list(loss.index[:2]) == [0, 10]
    assert loss[0] == pytest.approx(4.0) and math.isnan(loss[120])
    assert run.metric("grad_norm")[290] == pytest.approx(1.29)
    assert run.training.learning_rate == pytest.approx(3e-4)
    assert run.training.warmup_steps == 5 and run.training.max_steps == 300


@pytest.mark.slow
def test_default_store_of_current_mlflow(tmp_path):
    _write(tmp_path)  # MLflow 3: sqlite:///mlflow.db in the working folder
    before = _snapshot(tmp_path)
    run = load_run(tmp_path)
    assert any(f.endswith(".db") or f.endswith("meta.yaml") for f in run.files)
    _check(run)
    assert _snapshot(tmp_path) == before, "nothing in the store is written (no -journal, no migration)"


def test_file_store(tmp_path):
    _write(tmp_path, "file:./mlruns")
    before = _snapshot(tmp_path)
    run = load_run(tmp_path / "mlruns")
    assert len(run.files) == 1 and run.files[0].endswith("meta.yaml"), run.files
    assert not run.warnings
    _check(run)
    params = next(iter(run.configs.values()))
    assert params["optimizer"] == "adamw" and params["warmup_steps"] == 5
    assert _snapshot(tmp_path) == before


def test_other_sqlite_files_are_not_mlflow(tmp_path):
    import sqlite3

    con = sqlite3.connect(tmp_path / "cache.db")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    assert mlflow_run.read_db(tmp_path / "cache.db") is None
    (tmp_path / "notes.db").write_text("not a database")
    assert mlflow_run.read_db(tmp_path / "notes.db") is None
