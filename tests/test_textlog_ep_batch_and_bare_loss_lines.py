"""Two console shapes met in cohort 2026-12-01-k (corpus29) that were "nothing readable" before:

- Barber0/LLM-pretrain's `ep: 0, batch: 20, time: 9.17, ntokens: 485.20/513, loss: 10.98` (the
  `Epoch: E, Batch: B` shape with "ep:"; the in-epoch batch is the step, made global by its epoch);
- CloneNOX/Bi-LSTM-CN-Language-model's `epoch N` line followed by a bare `loss: L` line (the
  epoch's mean): the k-th bare loss line is step k (that run's epoch counter rewinds on resume).

No rule, threshold or judgement is involved: these tests pin the reading only.
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def test_ep_batch_lines_read_the_loss_at_the_batch_counter():
    run = load_run(REAL / "llm_pretrain_deepspeed_first_260_batches")
    loss = run.metric("loss").to_dict()
    assert len(loss) == 13
    assert loss[20] == pytest.approx(10.984375)
    assert loss[260] == pytest.approx(8.390625)


def test_bare_loss_lines_after_epoch_lines_are_counted_in_log_order():
    run = load_run(REAL / "bilstm_cn_lm_resumed_lr_drop_300ep")
    loss = run.metric("loss")
    assert len(loss) == 300
    values = list(loss.to_dict().values())
    assert values[0] == pytest.approx(6.608444)
    assert values[100] == pytest.approx(1.489327)  # the first record after the resume
    assert values[-1] == pytest.approx(0.857320)
