"""ms-swift's `logging.jsonl`: the step and the plan live in one string, `"global_step/max_steps":
"N/M"`, and the file closes with two run summaries that are no steps.

deepclima_swift_lora_438 (fixtures/real_runs/, SOURCE note there) is such a file: 44 training
records (step 1, then every 10 steps to 430), 5 evaluation records (100, 200, 300, 400, 438; the
first four share their step with a training record), a `train_runtime` summary (average
`train_loss` 0.284) and a last record holding the whole trainer state (`global_step` 438 and its
`log_history`). Before this reading every record but the last had "no step" and was dropped, and
the last one's `global_step` made it the only step: no loss at all.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "deepclima_swift_lora_438"


def test_swift_step_string_gives_the_step_and_the_plan():
    run = load_run(REAL)
    loss = run.metric("loss")
    assert list(loss.index) == [1] + list(range(10, 431, 10))
    assert loss[1] == pytest.approx(20.53074074) and loss[430] == pytest.approx(0.15476817)
    assert run.training.max_steps == 438
    assert not run.warnings


def test_an_evaluation_sharing_a_step_with_a_training_record_keeps_both():
    run = load_run(REAL)
    val = run.metric("val_loss")
    assert list(val.index) == [100, 200, 300, 400, 438]
    assert val[400] == pytest.approx(0.12932175)
    assert run.metric("loss")[100] == pytest.approx(0.16255112)
    assert run.metric("grad_norm")[100] == pytest.approx(1.31140614)


def test_closing_summaries_never_enter_the_loss_series():
    run = load_run(REAL)
    assert 438 not in run.metric("loss").index  # the summary's average train_loss 0.284 is no step
    assert "best_metric" not in run.metric_names() and "train_runtime" not in run.metric_names()
    summary = run.configs["logging.jsonl"]["train_summary"]
    assert summary["train_loss"] == pytest.approx(0.28420261)


def test_a_stepped_log_closing_with_a_trainer_summary_keeps_it_out_of_the_metrics(tmp_path):
    rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5},
            {"step": 2, "train_runtime": 12.5, "train_loss": 1.75}]
    (tmp_path / "log.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 2.0, 2: 1.5})
    assert "train_runtime" not in run.metric_names()
    assert run.configs["log.jsonl"]["train_summary"]["train_loss"] == pytest.approx(1.75)
