"""JSONL logs whose records carry a step, with a header or summary record that does not.

opd_distill_jsonl_51 (fixtures/real_runs/, SOURCE note there) opens with
`{"event": "config", "lr": 1e-06, "seed": 42, ...}` and closes with `{"event": "done",
"num_steps": 51}`. Read as "the previous step + 1", the config became metrics at step 0 (its
peak `lr` 1e-6 beside the logged `train/lr` 1e-7 of step 0, `seed`, `batch_size`, ...).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "opd_distill_jsonl_51"


def test_config_and_done_records_of_a_stepped_log_are_no_metrics():
    run = load_run(REAL)
    names = set(run.metric_names())
    assert not {"seed", "batch_size", "num_steps", "temperature", "max_grad_norm"} & names
    lr = run.metric("lr")
    assert lr[0] == pytest.approx(1e-7) and lr[9] == pytest.approx(1e-6)  # train/lr as logged
    assert list(run.metric("loss").index) == list(range(51))
    assert any("without a step" in w.message and "line 1, 53" in w.message for w in run.warnings)


def test_a_log_without_any_step_key_still_counts_its_records(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"loss": 3.0 - i / 10}) for i in range(4)) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({0: 3.0, 1: 2.9, 2: 2.8, 3: 2.7})
    assert not run.warnings


def test_stepless_records_between_stepped_ones_are_left_out_not_shifted(tmp_path):
    rows = [{"step": 10, "loss": 2.0}, {"note": 1, "lr": 0.5}, {"step": 20, "loss": 1.8}]
    (tmp_path / "log.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({10: 2.0, 20: 1.8})
    assert "lr" not in run.metric_names() and "note" not in run.metric_names()
