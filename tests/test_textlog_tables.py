"""Metric tables written into text logs (`*.log`, `*.txt`): Keras' CSVLogger and plain loops.

Keras' documentation writes `CSVLogger('training.log')`, so a per-epoch CSV named `.log` is
what a Keras user hands over; a hand-written loop prints `step<TAB>loss`. Before these were
read, both were "nothing readable". The real files are from the public real-run corpus
(fixtures/real_runs/, SOURCE notes there).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError
from hnet_diag.sources.csv import table_delimiter

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def test_keras_csvlogger_training_log_is_read_per_epoch(tmp_path):
    shutil.copy(REAL / "emotion_resnet_keras_log_17" / "training.log", tmp_path / "training.log")
    run = load_run(tmp_path)
    assert set(run.metric_names()) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    loss, val = run.metric("loss"), run.metric("val_loss")
    assert list(loss.index) == list(range(17))  # epochs 0-16 as steps
    assert loss.iloc[0] == pytest.approx(1.7160215377807617) and loss.iloc[-1] == pytest.approx(0.963910698890686)
    assert val[1] == pytest.approx(7.41715145111084)
    assert any("per epoch" in w.message for w in run.warnings)  # the unit is said, not implied


def test_tab_separated_step_loss_table_is_read_at_its_steps(tmp_path):
    shutil.copy(REAL / "shakespeare_gpt2_tsv_4570" / "train.log", tmp_path / "train.log")
    run = load_run(tmp_path)
    loss = run.metric("loss")
    assert run.metric_names() == ["loss"]
    assert len(loss) == 457 and loss.index[0] == 10 and loss.index[-1] == 4570
    assert loss[10] == pytest.approx(8.460716) and loss[4570] == pytest.approx(0.128361)


def test_a_table_needs_a_step_or_epoch_column_and_a_numeric_first_row():
    assert table_delimiter("epoch,loss,val_loss\n0,1.5,1.6\n") == ","
    assert table_delimiter("step\tloss\n10\t8.46\n") == "\t"
    assert table_delimiter("epoch,loss\n0,,\n") is None  # cells do not match the header
    assert table_delimiter("epoch,loss\n0,\n") == ","  # an empty cell is "not logged"
    assert table_delimiter("name,loss\nabc,1.0\n") is None  # no step column
    assert table_delimiter("epoch,loss\nfirst,1.0\n") is None  # a word where a number belongs
    assert table_delimiter("step 5, loss 2.1\nstep 6, loss 2.0\n") is None  # prose with commas
    assert table_delimiter("epoch,loss\n") is None  # a header alone is no table


def test_console_logs_with_commas_are_still_read_as_console_logs(tmp_path):
    (tmp_path / "train.log").write_text(
        "step 0: train loss 4.1938, val loss 4.2005\n"
        "iter 0: loss 4.2000, time 1838.43ms, mfu 0.20%\n"
        "iter 10: loss 4.1000, time 1838.43ms, mfu 0.20%\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({0: 4.2, 10: 4.1})
    assert run.metric("val_loss").to_dict() == pytest.approx({0: 4.2005})


def test_a_broken_table_in_a_text_log_is_one_clear_line(tmp_path):
    (tmp_path / "training.log").write_text("epoch,loss\n0,1.0\n1,0.9,extra,cells\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_run(tmp_path)
    assert "training.log" in str(err.value) and "malformed CSV" in str(err.value)
