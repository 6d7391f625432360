"""Three console shapes met in cohort 2026-12-01-j (corpus26) that were "nothing readable".

- hand-written batch lines with no planned epoch count, the batch counter restarting each
  epoch: `Epoch: 3, Batch: 40, Loss: 6.1, Accuracy: 0.1` and `Epoch:  16 | Batch:   920/ 1330 |
  LR: 2.97e-04 |Loss: 4.6 | Time: 266.5s` (the `/N` is batches per epoch, not a plan): the
  in-epoch batch is the step, made global by its epoch as for the other epoch/batch shapes;
- that loop's Chinese epoch-end line `Epoch 16 完成 | 训练损失: 4.61 | 验证损失: 6.01 | ...`
  (done | train loss | validation loss): the validation loss at the last step read;
- a logger line per optimizer step with no counter, `rl_loss: L, time: T, l2_norm: G, ...,
  reward_data: {...}` (CS336's RL loop): the k-th such line is step k, l2_norm the grad norm.

No rule, threshold or judgement is involved: these tests pin the reading only.
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def test_epoch_comma_batch_lines_count_batches_across_epochs(tmp_path):
    (tmp_path / "train_output.txt").write_text(
        "Epoch: 0, Batch: 0, Loss: 10.8, Accuracy: 0.0\n"
        "Epoch: 0, Batch: 1, Loss: 10.7, Accuracy: 0.0\n"
        "Saving model at iteration 1 with loss 10.6 and accuracy 0.01\n"
        "Epoch: 1, Batch: 0, Loss: 10.5, Accuracy: 0.02\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({0: 10.8, 1: 10.7, 2: 10.5})
    assert not run.events  # the batch counter going back with the epoch is no restart


def test_epoch_pipe_batch_lines_and_the_chinese_epoch_end_line(tmp_path):
    (tmp_path / "training_log.txt").write_text(
        "Epoch:  16 | Batch:  1310/ 1330 | LR: 2.94e-04 |Loss: 4.6130 | Time: 379.7s\n"
        "Epoch:  16 | Batch:  1320/ 1330 | LR: 2.94e-04 |Loss: 4.6132 | Time: 382.6s\n"
        "Epoch 16 完成 | 训练损失: 4.6130 | 验证损失: 6.0073 | 时间: 385.8s\n"
        "Epoch:  17 | Batch:     0/ 1330 | LR: 2.94e-04 |Loss: 4.6445 | Time:   0.3s\n",
        encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1310: 4.6130, 1320: 4.6132, 1321: 4.6445})
    assert run.metric("val_loss").to_dict() == pytest.approx({1320: 6.0073})
    assert run.metric("lr").iloc[-1] == pytest.approx(2.94e-04)


def test_counterless_rl_loss_lines_are_numbered_in_order(tmp_path):
    (tmp_path / "rl.log").write_text(
        "2025-09-23 08:59:11,896 - train - INFO - rollout batch 0 generated, length: 256\n"
        "2025-09-23 09:01:00,984 - train - INFO - rl_loss: -0.0027, time: 109.08, l2_norm: 0.141, "
        "token_entropy: 0.81, reward_data: {'total_num': 256, 'total_reward': 144.0}\n"
        "2025-09-23 09:02:07,510 - train - INFO - rollout batch 0 done, eval_acc: 0.4833984375\n"
        "2025-09-23 09:05:16,843 - train - INFO - rl_loss: 0.0, time: 115.32, l2_norm: 0.168, "
        "token_entropy: 0.56, reward_data: {'total_num': 256, 'total_reward': 111.0}\n",
        encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: -0.0027, 2: 0.0})
    assert run.metric("grad_norm").to_dict() == pytest.approx({1: 0.141, 2: 0.168})


def test_real_runs_of_these_shapes_are_read_whole():
    run = load_run(REAL / "gru_review_summariser_perbatch_3032")
    loss = run.metric("loss")
    assert len(loss) == 3033 and loss.index[-1] == 34 * 88 + 40 and loss.iloc[-1] == pytest.approx(6.24445104598999)
    run = load_run(REAL / "transformer_en2de_tmux_valflat_30ep")
    assert len(run.metric("loss")) == 1903 and len(run.metric("val_loss")) == 15
    assert run.metric("val_loss").iloc[-1] == pytest.approx(5.9969) and run.metric("lr").iloc[-1] == pytest.approx(2.18e-04)
    run = load_run(REAL / "cs336_grpo_math_nearzero_loss_200")
    assert len(run.metric("loss")) == 200 and run.metric("loss").index[-1] == 200
    assert run.metric("grad_norm").iloc[-1] == pytest.approx(0.6342918872833252)
