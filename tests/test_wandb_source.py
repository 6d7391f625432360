"""W&B runs written by wandb itself in offline mode, read through wandb's own record reader."""
import math
import os

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError
from hnet_diag.sources import wandb_run

wandb = pytest.importorskip("wandb")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    for var, sub in (("WANDB_DIR", "out"), ("WANDB_CONFIG_DIR", "cfg"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path / "out"


def _log_run(folder, steps=30, nan_at=None):
    run = wandb.init(project="hnet-diag-test", dir=str(folder), config={"learning_rate": 3e-4, "warmup_steps": 5, "model": {"d_model": 64}})
    run.config.update({"max_steps": steps * 10})
    for i in range(steps):
        loss = float("nan") if i == nan_at else 4.0 * 0.97 ** i
        run.log({"train/loss": loss, "optim": {"grad_norm": 1.0 + 0.01 * i}, "lr": 3e-4}, step=i * 10)
    run.finish()
    wandb.teardown()  # the service process stops writing its own logs before we look


def _snapshot(folder):
    return sorted((os.path.join(d, f), os.stat(os.path.join(d, f)).st_mtime_ns) for d, _, fs in os.walk(folder) for f in fs)


def test_offline_run_history_and_config(offline):
    _log_run(offline, nan_at=12)
    before = _snapshot(offline)
    run = load_run(offline)
    assert [f for f in run.files if f.endswith(".wandb")] == run.files, "W&B's own logs are not training logs"
    loss = run.metric("loss")
    assert list(loss.index[:3]) == [0, 10, 20] and len(loss) == 30
    assert loss[0] == pytest.approx(4.0) and math.isnan(loss[120])
    assert run.metric("optim.grad_norm")[290] == pytest.approx(1.29)
    assert run.training.learning_rate == pytest.approx(3e-4)
    assert run.training.warmup_steps == 5 and run.training.max_steps == 300
    assert run.training.source.endswith(".wandb")
    assert not run.events
    assert _snapshot(offline) == before


def test_cut_short_log_is_read_up_to_the_cut_and_says_so(offline, tmp_path):
    _log_run(offline, steps=400)
    (log,) = offline.rglob("run-*.wandb")
    cut = tmp_path / "cut" / "run-x.wandb"
    cut.parent.mkdir()
    cut.write_bytes(log.read_bytes()[: log.stat().st_size // 2])
    data = wandb_run.read(cut)
    steps = data.scalars["step"]
    assert 0 < steps.nunique() < 400
    (event,) = data.events
    assert event.kind == "truncated" and event.step == steps.max()


def test_not_a_wandb_log_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(b"this is not a transaction log")
    with pytest.raises(InputError) as err:
        wandb_run.read(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
