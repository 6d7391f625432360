"""The run-folder builders of conftest.py produce what the rule, report and CLI tests rely on."""
from __future__ import annotations

from conftest import run_folder

def test_builder_writes_a_loadable_run_with_every_metric_family(tmp_path):
    from hnet_diag import load_run

    run = load_run(run_folder(tmp_path / "r", max_steps=200))
    names = set(run.metric_names())
    assert {"loss", "grad_norm", "lr", "val_loss", "compression/stage0", "ratio_loss/stage1"} <= names
    assert run.training.max_steps == 200 and run.training.lr_multipliers == (2.0, 1.5, 1.0)
    assert run.last_step == 199
