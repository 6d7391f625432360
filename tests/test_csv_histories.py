"""Per-epoch CSV histories as hand-written loops and pandas write them (cohort 2026-12-01-g).

hnet-diag read none of these four real files ("CSV has no step column"): a capitalised `Epoch`
header with `Train Loss`-style names, a Keras history saved with `to_csv(index=False)` (no
epoch column at all), and one saved with its pandas index (an empty first header).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def test_capitalised_epoch_and_spaced_names_are_read_as_epoch_loss_val_loss_lr():
    run = load_run(RUNS / "hevisum_spatial_csv_84")  # Epoch,Train Loss,Val Loss,Val Spearman,Learning Rate
    loss, val, lr = run.metric("loss"), run.metric("val_loss"), run.metric("lr")
    assert len(loss) == len(val) == len(lr) == 84
    assert (loss.index[0], loss.iloc[0]) == (1, pytest.approx(0.9821737068001783))
    assert val.iloc[-1] == pytest.approx(0.8082266353561492) and lr.iloc[-1] == pytest.approx(1e-5)
    assert any("read per epoch" in w.message for w in run.warnings)
    fjord = load_run(RUNS / "fjordvision_hier_csv_20")  # Epoch,Training Loss,Validation Loss,Learnable Weights
    assert len(fjord.metric("loss")) == len(fjord.metric("val_loss")) == 20
    assert fjord.metric("loss").iloc[-1] == pytest.approx(0.048576064970971715)


def test_keras_history_without_an_epoch_column_is_read_one_row_an_epoch():
    run = load_run(RUNS / "weather_transformer_keras_57")  # loss,mae,rmse,val_loss,val_mae,val_rmse,learning_rate
    loss = run.metric("loss")
    assert list(loss.index) == list(range(57))
    assert len(run.metric("val_loss")) == len(run.metric("lr")) == 57
    assert any("each row is read as one epoch" in w.message for w in run.warnings)


def test_pandas_index_column_is_the_epoch():
    run = load_run(RUNS / "maeseq_protein_keras_100")  # ,Loss,ValLoss,ReconstructRate,ValReconstructRate
    assert list(run.metric("loss").index) == list(range(100))
    assert run.metric("val_loss").iloc[-1] == pytest.approx(0.1489483267068863)
    assert "Unnamed: 0" not in set(run.scalars["tag"])


def test_a_table_with_no_step_and_no_loss_column_is_still_not_a_metric_log(tmp_path):
    (tmp_path / "data.csv").write_text("price,rooms\n1.5,3\n2.5,4\n")
    with pytest.raises(InputError, match="no step column"):
        load_run(tmp_path)


def test_a_spaced_name_that_is_no_known_metric_keeps_its_name(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,Final Test F1 Score,train_loss\n0,1,,2.0\n0,2,0.5,1.5\n")
    run = load_run(tmp_path)
    assert "Final Test F1 Score" in set(run.scalars["tag"])
    assert run.metric("loss").to_dict() == {1: 2.0, 2: 1.5}
