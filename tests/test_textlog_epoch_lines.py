"""Per-epoch console lines counted by the epoch alone, read by the text-log reader.

Two shapes met in cohort 2026-12-01-h (corpus19) carry no `step`/`iter` counter, only the
epoch and its planned count: the PyTorch tutorials' `Epoch [3/150], Loss: 0.4, Accuracy: 84%`
and a tagged logger's `[pretrain] epoch 3/40  train=14.9  heldout=13.2  lr=3.0e-04`. Before
this shape was known both files were "nothing readable". The epoch is the step and `E` the
planned count (so a run cut at epoch 61 of 150 has a plan to be judged against); on these
lines only `key: value` / `key=value` fields count, and the bare `train` / `heldout` of the
second shape are the epoch's training and held-out (validation) losses.
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"

TUTORIAL = [
    "Loading data...",
    "Epoch [1/150], Loss: 1.0077, Accuracy: 54.77%",
    "Test Accuracy: 61.66%",
    "New best model saved with accuracy 61.66%",
    "Epoch [2/150], Loss: 0.6495, Accuracy: 77.12%",
    "Test Accuracy: 66.50%",
    "Epoch [3/150], Loss: 0.5411, Accuracy: 81.03%",
]

TAGGED = [
    "/home/u/card_encoder.py:112: UserWarning: enable_nested_tensor is True",
    "[pretrain] epoch   1/40  train=35.0026  heldout=26.8717  lr=1.50e-04  (best)",
    "[pretrain] epoch   2/40  train=21.1222  heldout=16.2280  lr=3.00e-04  (best)",
    "[pretrain] epoch   3/40  train=14.9218  heldout=13.1910  lr=2.99e-04  (best)",
    "[pretrain] early stop after 3 epochs (no improvement for 6)",
]


def test_tutorial_epoch_lines_are_records_at_their_epoch_with_the_plan(tmp_path):
    (tmp_path / "output.log").write_text("\n".join(TUTORIAL) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 1.0077, 2: 0.6495, 3: 0.5411})
    assert run.metric("accuracy")[2] == pytest.approx(77.12)
    assert run.training.max_steps == 150
    # "Test Accuracy: 61.66%" has no counter: it is no record
    assert run.last_step == 3


def test_tagged_epoch_lines_give_train_and_heldout_losses_and_the_lr(tmp_path):
    (tmp_path / "pretrain.log").write_text("\n".join(TAGGED) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 35.0026, 2: 21.1222, 3: 14.9218})
    assert run.metric("val_loss").to_dict() == pytest.approx({1: 26.8717, 2: 16.2280, 3: 13.1910})
    assert run.metric("lr").to_dict() == pytest.approx({1: 1.5e-4, 2: 3.0e-4, 3: 2.99e-4})
    assert run.training.max_steps == 40


def test_real_runs_cut_before_their_planned_epochs_are_read_whole():
    run = load_run(REAL / "cifar_eca_resnet_kd_cut_61of150")
    loss = run.metric("loss")
    assert len(loss) == 61 and list(loss.index[:2]) == [1, 2] and loss.index[-1] == 61
    assert loss[1] == pytest.approx(1.0077) and loss[61] == pytest.approx(0.2229)
    assert run.training.max_steps == 150
    run = load_run(REAL / "lorcana_card_encoder_earlystop_28of40")
    assert len(run.metric("loss")) == 28 and run.metric("val_loss")[22] == pytest.approx(5.1822)
    assert run.metric("lr")[28] == pytest.approx(6.8e-5)
    assert run.training.max_steps == 40
