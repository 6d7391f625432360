"""PyTorch examples' word_language_model console output, read by the text-log reader.

Its lines carry no `step`/`iter` counter: each training line counts batches within an epoch
(`| epoch 1 |   200/ 2983 batches | lr 20.00 | ms/batch 11.61 | loss 5.90 | ppl 365.37`) and
each epoch ends with `| end of epoch 1 | time: 35.58s | valid loss 5.70 | valid ppl 299.35`.
Before this shape was known the whole file was "nothing readable", so a run whose loss is
NaN from its first logged batch got no report at all.
"""
import math
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "wordlm_rnn_relu_nan_5ep"

LINES = [
    "Namespace(batch_size=20, bptt=35, clip=0.25, epochs=2, log_interval=200, lr=20, model='LSTM')",
    "| epoch   1 |   200/ 2983 batches | lr 20.00 | ms/batch 11.61 | loss  7.63 | ppl  2050.13",
    "| epoch   1 |   400/ 2983 batches | lr 20.00 | ms/batch 11.49 | loss  6.85 | ppl   943.37",
    "| epoch   1 |  2800/ 2983 batches | lr 20.00 | ms/batch 11.49 | loss  5.90 | ppl   365.37",
    "-" * 89,
    "| end of epoch   1 | time: 35.58s | valid loss  5.70 | valid ppl   299.35",
    "-" * 89,
    "| epoch   2 |   200/ 2983 batches | lr 20.00 | ms/batch 11.49 | loss  5.60 | ppl   270.12",
    "| epoch   2 |  2800/ 2983 batches | lr  5.00 | ms/batch 11.52 | loss  5.40 | ppl   221.40",
    "-" * 89,
    "| end of epoch   2 | time: 35.36s | valid loss  5.30 | valid ppl   200.35",
    "=" * 89,
    "| End of training | test loss  5.25 | test ppl   190.57",
    "=" * 89,
]


def test_batch_lines_become_global_steps_and_the_epoch_end_gives_val_loss(tmp_path):
    (tmp_path / "train.log").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    # the batch counter restarts each epoch: epoch 2 continues after epoch 1's last batch
    assert run.metric("loss").to_dict() == pytest.approx({200: 7.63, 400: 6.85, 2800: 5.90, 2801: 5.60, 5401: 5.40})
    assert run.metric("val_loss").to_dict() == pytest.approx({2800: 5.70, 5401: 5.30})
    assert run.metric("lr").to_dict() == pytest.approx({200: 20.0, 400: 20.0, 2800: 20.0, 2801: 20.0, 5401: 5.0})
    assert run.metric("step_time")[200] == pytest.approx(0.01161)  # ms/batch -> seconds
    assert run.metric("ppl")[2800] == pytest.approx(365.37)
    assert not [e for e in run.events if e.kind == "restart"]
    # "B/ 2983 batches" counts one epoch: it is no planned step count; the test line is no record
    assert run.training.max_steps is None
    assert "test_loss" not in run.metric_names()


def test_real_run_whose_loss_is_nan_from_its_first_logged_batch_is_read_whole():
    run = load_run(REAL)
    loss = run.metric("loss")
    assert len(loss) == 70 and loss.isna().all()  # 14 lines a epoch, 5 epochs, every one nan
    assert loss.index.is_monotonic_increasing and loss.index[0] == 200
    val = run.metric("val_loss")
    assert len(val) == 5 and val.isna().all()
    assert set(val.index) <= set(loss.index)  # each at its epoch's last logged batch
    lr = run.metric("lr")
    # the script's plateau schedule divides the rate by 4 after every epoch without improvement
    assert [lr.iloc[i] for i in (0, 14, 28, 42, 56)] == pytest.approx([20.0, 20.0, 5.0, 1.25, 0.3125])
    assert all(math.isfinite(v) for v in run.metric("step_time"))
