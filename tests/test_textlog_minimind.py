"""MiniMind's trainer console output, read by the text-log reader.

Its lines carry no `step`/`iter` counter: `Epoch:[e/E](n/N), loss: L, ..., lr: X, epoch_time: T`
counts steps within epoch e (N of them per epoch). Before this shape was known the whole file
was "nothing readable" (fixtures/real_runs/minimind_dpo_tinylr_4292, cohort 2026-12-01-g).
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "minimind_dpo_tinylr_4292"

LINES = [
    "Model Params: 30.03M",
    "Epoch:[1/2](100/300), loss: 6.5000, logits_loss: 6.5000, aux_loss: 0.0000, lr: 0.00050000, epoch_time: 12.0min",
    "Epoch:[1/2](200/300), loss: 5.2500, logits_loss: 5.2500, aux_loss: 0.0000, lr: 0.00040000, epoch_time: 6.0min",
    "Epoch:[1/2](300/300), loss: 4.7500, logits_loss: 4.7500, aux_loss: 0.0000, lr: 0.00030000, epoch_time: 0.0min",
    "Epoch:[2/2](100/300), loss: 4.5000, logits_loss: 4.5000, aux_loss: 0.0000, lr: 0.00020000, epoch_time: 8.0min",
    "Epoch:[2/2](300/300), loss: 4.2500, logits_loss: 4.2500, aux_loss: 0.0000, lr: 0.00005000, epoch_time: 0.0min",
]


def test_in_epoch_counter_becomes_a_global_step(tmp_path):
    (tmp_path / "pretrain.log").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    # epoch 2's counter continues after epoch 1's last step
    assert run.metric("loss").to_dict() == pytest.approx({100: 6.5, 200: 5.25, 300: 4.75, 301: 4.5, 501: 4.25})
    assert run.metric("lr")[100] == pytest.approx(5e-4)
    assert run.metric("epoch_time")[100] == pytest.approx(720.0)  # minutes -> seconds
    assert not [e for e in run.events if e.kind == "restart"]


def test_real_minimind_dpo_log_is_read_whole():
    run = load_run(REAL)
    loss = run.metric("loss")
    assert len(loss) == 215 and loss.index[0] == 20 and loss.index[-1] == 4292
    assert loss[20] == pytest.approx(0.6605) and loss[4292] == pytest.approx(0.3476)
    assert run.metric("lr")[20] == pytest.approx(4e-8)  # MiniMind prints `learning_rate:` here
    assert run.training.max_steps == 4292  # one epoch: its (n/N) counter's N is the plan
