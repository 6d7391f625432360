"""More per-epoch / per-batch console shapes read by the text-log reader.

Five shapes met in cohort 2026-12-01-i (corpus23) carry no `step`/`iter` counter and were
"nothing readable" before:

- hand-written batch lines `Epoch: 1/99 | Batch 5/11 | Loss: 6.86` (the batch counter restarts
  each epoch, the epoch beside it makes it global, as for word_language_model) with a
  once-an-epoch `Epoch: 2/99 | Current Learning Rate: 0.001` (the LR, at the last step read);
- minitorch's `Epoch 3, loss 0.65, train accuracy: 64.00%` (the epoch is the step);
- `Epoch 03 | train_loss=0.41 train_acc=0.81 | val_loss=0.37 ...` and `Epoch 3 | Train Loss: 10.6 |
  Token Acc: 0.07 | ... | Val Loss: 10.5 | ...` (the epoch is the step; only `key: value` /
  `key=value` fields, the first of a repeated name);
- Python-logging `... - Epoch 3 - Batch loss: 0.52` lines without a counter: the k-th is step k.

No rule, threshold or judgement is involved: these tests pin the reading only.
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"

BATCH_LINES = [
    "now using cuda",
    "Epoch: 001/099 | Current Learning Rate: 0.001000",
    "Epoch: 001/099 | Batch 0000/0011 | Loss: 8.315066",
    "Epoch: 001/099 | Batch 0005/0011 | Loss: 6.861682",
    "Epoch: 001/099 | Batch 0010/0011 | Loss: 6.424147",
    "Time elapsed: 0.05 min",
    "Epoch: 002/099 | Current Learning Rate: 0.000500",
    "Epoch: 002/099 | Batch 0000/0011 | Loss: 6.162871",
    "Epoch: 002/099 | Batch 0005/0011 | Loss: 5.975317",
]


def test_epoch_batch_lines_count_batches_across_epochs_and_read_the_epoch_lr(tmp_path):
    (tmp_path / "train.log").write_text("\n".join(BATCH_LINES) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx(
        {0: 8.315066, 5: 6.861682, 10: 6.424147, 11: 6.162871, 16: 5.975317})
    assert run.metric("lr").to_dict() == pytest.approx({0: 0.001, 10: 0.0005})
    assert not run.events  # the batch counter going back with the epoch is no restart


def test_epoch_comma_and_pipe_lines_are_records_at_their_epoch(tmp_path):
    (tmp_path / "a.log").write_text(
        "Epoch 1, loss 0.6916, train accuracy: 54.67%\nValidation accuracy: 51.00%\n"
        "Epoch 2, loss 0.6810, train accuracy: 58.00%\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 0.6916, 2: 0.6810})
    (tmp_path / "a.log").unlink()
    (tmp_path / "b.log").write_text(
        "Epoch 0 |             Train Loss: 11.2338 | Token Acc: 0.0490 | Seq Acc: 0.0000 |"
        "             Val Loss: 10.9681 | Token Acc: 0.0660 | Seq Acc: 0.0000\n"
        "Epoch 1 |             Train Loss: 10.8902 | Token Acc: 0.0660 | Seq Acc: 0.0000 |"
        "             Val Loss: 10.8130 | Token Acc: 0.0661 | Seq Acc: 0.0000\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({0: 11.2338, 1: 10.8902})
    assert run.metric("val_loss").to_dict() == pytest.approx({0: 10.9681, 1: 10.8130})


def test_counterless_batch_loss_lines_are_numbered_in_order(tmp_path):
    (tmp_path / "train.log").write_text(
        "2025-03-02 05:16:20,348 - INFO - ##### Epoch 1 #####\n"
        "2025-03-02 05:16:20,962 - INFO - Epoch 1 - Batch loss: 12.1336\n"
        "2025-03-02 05:16:22,229 - INFO - Epoch 1 - Batch loss: 14.9769\n"
        "2025-03-02 05:24:38,655 - INFO - Epoch 1 - Average Train Loss: 1.6334\n"
        "2025-03-02 05:24:38,655 - INFO - ##### Epoch 2 #####\n"
        "2025-03-02 05:25:38,655 - INFO - Epoch 2 - Batch loss: 0.5123\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 12.1336, 2: 14.9769, 3: 0.5123})


def test_real_runs_of_these_shapes_are_read_whole():
    run = load_run(REAL / "poem_transformer_plateau_lr_99ep")
    loss = run.metric("loss")
    assert len(loss) == 297 and loss[0] == pytest.approx(8.315066) and loss.index[-1] == 98 * 11 + 10
    assert len(run.metric("lr")) == 99 and run.metric("lr").iloc[-1] == pytest.approx(0.0005)
    run = load_run(REAL / "minitorch_sst2_mlp_250ep")
    assert len(run.metric("loss")) == 250 and run.metric("loss")[250] == pytest.approx(0.3271372318267822)
    run = load_run(REAL / "imdb_bilstm_valwobble_10ep")
    assert run.metric("val_loss").to_dict()[6] == pytest.approx(0.3084) and len(run.metric("loss")) == 10
    run = load_run(REAL / "transformer_en2zh_sgd_slow_cut_52of100")
    assert len(run.metric("loss")) == 52 and run.metric("val_loss")[51] == pytest.approx(8.6542)
    run = load_run(REAL / "mengzi_t5_finetune_perbatch_20ep")
    loss = run.metric("loss")
    assert len(loss) == 7760 and loss[1] == pytest.approx(12.1336) and loss[7760] == pytest.approx(0.0004)
