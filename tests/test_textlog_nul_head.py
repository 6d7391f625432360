"""A text log whose head is a run of NUL bytes.

A log truncated (`> train.log`, rotation) while its writer kept its file offset gets the
writer's next lines after a zero-filled hole. The reader took the NULs in the first 8 KiB for
a binary file and read nothing (fixtures/real_runs/neuroslm_console_resumed_3500, cohort
2026-12-01-g: 11,363 NULs, then `step 700 | loss ...` lines). A NUL run at the very start is
now skipped; NULs elsewhere still mean "binary".
"""
from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.sources import textlog

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "neuroslm_console_resumed_3500"


def test_leading_nul_run_is_skipped(tmp_path):
    body = "".join(f"step {s:5d} | loss {5.0 - s / 1000:.4f} | lr 3.00e-04\n" for s in range(10, 110, 10))
    (tmp_path / "training.log").write_bytes(b"\x00" * 20_000 + body.encode())
    run = load_run(tmp_path)
    loss = run.metric("loss")
    assert len(loss) == 10 and loss.index[0] == 10 and loss[100] == pytest.approx(4.9)


def test_nuls_after_text_still_mean_binary(tmp_path):
    path = tmp_path / "weights.log"
    path.write_bytes(b"\x00" * 100 + b"step 1 loss=2.0\n\x00\x01\x02" * 50)
    assert textlog.read(path) is None


def test_real_log_with_a_zero_filled_head_is_read():
    run = load_run(REAL)
    loss = run.metric("loss")
    assert len(loss) == 281 and loss.index[0] == 700 and loss.index[-1] == 3500
    assert loss[700] == pytest.approx(4.5105)
    assert run.metric("lr")[3500] == pytest.approx(2.46e-4)
