"""Following a run while it is written: each poll reads only what is new, and in the end
the follower holds exactly what `load_run` reads from the finished folder.

Files are written by real writers (torch's SummaryWriter, the bundled trainer's JSONL and
console loggers, csv); "being written" is simulated by delivering their bytes in pieces
cut at arbitrary places, including inside a record's header and inside a line.
"""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from hnet_diag.live.follow import RunFollower
from hnet_diag.sources.discover import load_run


def _event_file(folder, n_steps=40, tags=("loss", "grad_norm", "lr")):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(folder))
    for step in range(1, n_steps + 1):
        for i, tag in enumerate(tags):
            w.add_scalar(tag, 1.0 / step + i, step)
    w.flush()
    w.close()
    return next(folder.glob("events.out.tfevents.*"))


def _same_metrics(a, b):
    assert a.metric_names() == b.metric_names()
    for name in a.metric_names():
        sa, sb = a.metric(name), b.metric(name)
        assert sa.index.tolist() == sb.index.tolist(), name
        assert np.allclose(sa.to_numpy(), sb.to_numpy(), equal_nan=True), name


def test_event_file_written_in_pieces_is_read_once_per_record_and_waits_on_a_cut_record(tmp_path):
    src = _event_file(tmp_path / "src")
    data = src.read_bytes()
    live = tmp_path / "live"
    live.mkdir()
    target = live / src.name
    f = RunFollower(live)
    rows = []
    # cut points inside the file version record, inside a header, inside a record's data
    cuts = [5, 30, 57, 58, 200, 411, len(data) // 2 + 3, len(data) - 1, len(data)]
    written = 0
    for cut in cuts:
        with open(target, "ab") as fh:
            fh.write(data[written:cut])
        written = cut
        rows.append(f.poll().new_rows)
        offset = f.tails[target].offset
        assert offset <= cut  # never past what is there
        assert offset == cut or cut - offset > 0  # a cut record waits, whole records are consumed
    assert sum(rows) == 120  # every scalar exactly once
    assert f.poll().new_rows == 0
    assert not f.warnings
    _same_metrics(f.run(), load_run(src.parent))


def test_a_new_event_file_after_a_restart_is_picked_up_and_its_rewrites_win(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    w = SummaryWriter(str(run))
    for step in range(1, 11):
        w.add_scalar("loss", 10.0 - step, step)
    w.close()
    f = RunFollower(run)
    assert f.poll().new_rows == 10
    import time

    time.sleep(1.1)  # event file names carry the second they were created
    w = SummaryWriter(str(run))  # resumed from step 6: steps 6..8 written again
    for step in range(6, 9):
        w.add_scalar("loss", 100.0 + step, step)
    w.close()
    res = f.poll()
    assert res.new_rows == 3 and len(res.new_files) == 1
    live = f.run()
    assert live.metric("loss").loc[7] == 107.0 and live.metric("loss").loc[10] == 0.0
    assert any(e.kind == "restart" and e.step == 6 for e in live.events)
    _same_metrics(live, load_run(run))


def test_jsonl_lines_are_read_after_their_newline_only(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = run / "metrics.jsonl"
    lines = [json.dumps({"step": s, "loss": 5.0 / s, "grad_norm": "nan" if s == 4 else 1.0}) + "\n" for s in range(1, 7)]
    text = "".join(lines)
    f = RunFollower(run)
    assert f.poll().new_rows == 0  # folder exists, nothing in it yet
    cut = text.index('"loss"', len(lines[0]))  # inside line 2
    log.write_text(text[:cut])
    assert f.poll().new_rows == 2  # line 1 only (loss, grad_norm)
    with open(log, "a") as fh:
        fh.write(text[cut:len(lines[0]) + len(lines[1]) + len(lines[2]) + 10])
    res = f.poll()
    assert res.new_rows == 4 and res.first_nonfinite == []
    with open(log, "a") as fh:
        fh.write(text[len(lines[0]) + len(lines[1]) + len(lines[2]) + 10:])
    res = f.poll()
    assert res.new_rows == 6 and res.first_nonfinite == ["grad_norm"]
    assert math.isnan(f.run().metric("grad_norm").loc[4])
    _same_metrics(f.run(), load_run(run))


def test_the_trainers_end_marker_ends_the_run_and_is_no_metric(tmp_path):
    from hnet_diag.trainer.logging import ConsoleLogger, JsonlLogger

    run = tmp_path / "run"
    run.mkdir()
    jl = JsonlLogger(run / "metrics.jsonl")
    console = ConsoleLogger(open(tmp_path / "stdout.txt", "w"), run / "train.log", max_steps=3)
    f = RunFollower(run)
    for step in (1, 2, 3):
        jl.log({"loss": 3.0 - step / 2}, step)
        console.log({"loss": 3.0 - step / 2}, step)
        assert f.poll().end is None
    jl.mark(3, "finished")
    console.mark(3, "finished")
    res = f.poll()
    assert res.end is not None and res.end.status == "finished" and res.end.step == 3
    assert f.run().metric_names() == ["loss"]
    _same_metrics(f.run(), load_run(run))


def test_csv_and_text_logs_resume_after_their_last_complete_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    csv_text = "step,train_loss,val_loss\n" + "".join(f"{s},{4.0 / s},{'' if s % 2 else 3.5}\n" for s in range(1, 9))
    log_text = "".join(f"step {s}/8 | loss {4.0 / s:.4f} | lr 1.000e-03\n" for s in range(1, 9))
    f = RunFollower(run)
    for k in range(1, 11):
        (run / "metrics.csv").write_text(csv_text[: len(csv_text) * k // 10])
        (run / "train.log").write_text(log_text[: len(log_text) * k // 10])
        f.poll()
    live = f.run()
    assert len(live.scalars) == len(load_run(run).scalars)
    _same_metrics(live, load_run(run))


def test_a_run_folder_that_does_not_exist_yet_is_waited_for(tmp_path):
    run = tmp_path / "later"
    f = RunFollower(run)
    assert not f.exists() and f.poll().new_rows == 0 and not f.has_data()
    shutil.copytree("fixtures/runs/nan_divergence", run)
    assert f.poll().new_rows > 0
    _same_metrics(f.run(), load_run(run))


@pytest.mark.parametrize("name", ["healthy", "nan_divergence", "aggressive_multipliers"])
def test_a_followed_fixture_run_equals_the_loaded_one(name):
    f = RunFollower(f"fixtures/runs/{name}")
    f.poll()
    f.poll(final=True)  # checkpoints are read once they held still (or at the end)
    live, ref = f.run(), load_run(f"fixtures/runs/{name}")
    _same_metrics(live, ref)
    assert live.training == ref.training and live.model == ref.model
    assert sorted(live.files) == sorted(ref.files)
