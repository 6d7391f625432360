"""Formats met in the real-run corpus (issue 9, items 6 and 7), read as their writers meant.

LLaMA-Factory's step counter and plan, Lightning's per-epoch CSV, HF console records with
string values or a progress bar, a Slurm banner that only looks like `KEY value`, the
per-file reason when nothing is readable, and one value per step when two files log a metric.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def test_llamafactory_log_steps_by_current_steps_and_plans_by_total_steps():
    path = REAL / "nsllm_llamafactory" / "trainer_log.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    run = load_run(path.parent)
    loss = run.metric("loss")
    assert list(loss.index) == [r["current_steps"] for r in rows if "loss" in r]
    assert loss.iloc[-1] == pytest.approx([r["loss"] for r in rows if "loss" in r][-1])
    assert run.training.max_steps == rows[-1]["total_steps"]
    assert not {"total_steps", "current_steps", "percentage"} & set(run.metric_names())


def test_llamafactory_plan_lets_a_run_cut_short_be_seen_as_cut(tmp_path):
    rows = [{"current_steps": s, "total_steps": 500, "loss": 2.0 - s / 100, "lr": 1e-4} for s in range(5, 105, 5)]
    (tmp_path / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = load_run(tmp_path)
    assert run.training.max_steps == 500 and run.last_step == 100


def test_per_epoch_lightning_csv_is_read_by_epoch_with_a_warning(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,val_loss\n0,2.0,2.1\n1,1.5,1.7\n2,1.2,1.6\n")
    run = load_run(tmp_path)
    assert run.metric("val_loss").to_dict() == {0: 2.1, 1: 1.7, 2: 1.6}
    assert any("per epoch" in w.message for w in run.warnings)


def test_hf_console_records_with_string_values_and_a_progress_bar_step(tmp_path):
    (tmp_path / "train.log").write_text(
        " 23%|##   | 10/43 [00:10<00:30, 1.0it/s]{'loss': '2.5', 'grad_norm': 'nan', 'learning_rate': '1e-4', 'epoch': 0.1}\n"
        " 47%|#### | 20/43 [00:20<00:20, 1.0it/s]{'loss': '2.3', 'grad_norm': '1.1', 'learning_rate': '1e-4', 'epoch': 0.2}\n")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == {10: 2.5, 20: 2.3}
    assert math.isnan(run.metric("grad_norm")[10])
    assert run.training.max_steps == 43


def test_ms_swift_records_take_step_and_plan_from_their_global_step_max_steps():
    # ms-swift prints 'global_step/max_steps': 'N/M' in each Trainer record (no progress bar
    # glued to it): N is the step, M the plan, so a run that crashed at 6 of 9 is seen as cut
    path = REAL / "swift_grpo_mcp_zero" / "train.log"
    counters = [re.search(r"'global_step/max_steps': '(\d+)/(\d+)'", line).groups()
                for line in path.read_text().splitlines() if line.startswith("{'loss'")]
    run = load_run(path.parent)
    assert list(run.metric("loss").index) == [int(n) for n, _ in counters]
    assert run.training.max_steps == int(counters[-1][1]) and run.last_step == int(counters[-1][0])
    assert run.last_step < run.training.max_steps


def test_build_nanogpt_log_file_reads_step_split_value_lines():
    # build-nanogpt's log/log.txt has no "step" word: each line is "<step> <train|val|hella> <value>"
    path = REAL / "build_nanogpt_logtxt_95" / "log.txt"
    rows = [line.split() for line in path.read_text().splitlines()]
    run = load_run(path.parent)
    train = {int(n): float(v) for n, split, v in rows if split == "train"}
    assert run.metric("loss").to_dict() == pytest.approx(train)
    assert run.metric("val_loss").to_dict() == {int(n): float(v) for n, split, v in rows if split == "val"}
    assert run.metric("hellaswag_acc").iloc[0] == pytest.approx(float(next(v for _, sp, v in rows if sp == "hella")))


def test_a_prose_line_with_a_number_and_the_word_train_is_no_record(tmp_path):
    (tmp_path / "train.log").write_text("we train 3 models\n2 train the baseline\nstep 10 | loss 2.5\n")
    run = load_run(tmp_path)
    assert set(run.metric_names()) == {"loss"}


def test_slurm_banner_numbers_are_no_metric(tmp_path):
    (tmp_path / "slurm-11679010.out").write_text(
        "JOB 11679010 started on node gpu17\nSLURM_JOB_ID=11679010\nNODES 1\n"
        "step 10 | loss 2.5\nstep 20 | loss 2.3\n")
    run = load_run(tmp_path)
    assert run.metric_names() == ["loss"]


def test_nothing_readable_names_every_file_and_why(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\nno numbers here\n")
    (tmp_path / "metrics.csv").write_text("a,b\nx,y\n")
    with pytest.raises(InputError) as err:
        load_run(tmp_path)
    text = str(err.value)
    assert "notes.txt: " in text and "metrics.csv: " in text
    for part in text.split("nothing readable: ", 1)[1].split("; "):
        assert part.split(": ", 1)[1].strip(), part  # every file has a non-empty reason


def _two_writers(tmp_path, csv_rows):
    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 3.0 - 0.1 * s}) + "\n" for s in range(20)))
    (tmp_path / "metrics.csv").write_text("step,loss\n" + "".join(f"{s},{v}\n" for s, v in csv_rows))
    return load_run(tmp_path)


def test_two_files_merge_by_step_and_a_nan_in_the_second_is_kept(tmp_path):
    run = _two_writers(tmp_path, [(5, 2.5), (15, "nan"), (30, 9.0)])
    loss = run.metric("loss")
    assert len(loss) == 21 and loss[30] == 9.0  # steps only the second logged are added
    assert math.isnan(loss[15])  # the divergence the second writer saw is not dropped
    assert loss[5] == pytest.approx(2.5)
    assert not any("disagree" in w.message for w in run.warnings)


def test_two_files_that_disagree_warn_once_and_the_longer_one_wins(tmp_path):
    run = _two_writers(tmp_path, [(5, 2.5), (10, 2.6)])
    assert run.metric("loss")[10] == pytest.approx(2.0)
    (warning,) = [w for w in run.warnings if "disagree" in w.message]
    assert warning.source == "metrics.csv" and "step 10" in warning.message and "metrics.jsonl" in warning.message


def test_a_console_log_rounded_to_three_digits_agrees_with_its_jsonl(tmp_path):
    """train.log prints 3-4 significant digits (0.414 for 0.414466): rounding is no disagreement."""
    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "step_time": 0.414466 + 0.01 * s}) + "\n" for s in range(1, 21)))
    (tmp_path / "train.log").write_text("".join(
        f"step {s}/20 | step_time {0.414466 + 0.01 * s:.3g}\n" for s in range(1, 21)))
    run = load_run(tmp_path)
    assert len(run.metric("step_time")) == 20
    assert not any("disagree" in w.message for w in run.warnings)


def test_bundled_runs_load_without_warnings_from_their_three_writers():
    """The trainer writes one run three ways (events, metrics.jsonl, train.log): they agree."""
    root = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
    for name in ("healthy", "example"):
        run = load_run(root / name)
        assert {s for s in run.scalars["stream"].unique()} >= {"metrics.jsonl", "train.log"}
        assert [w.message for w in run.warnings] == [], name


def test_a_disagreement_with_event_files_names_the_event_file(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(str(tmp_path))
    for s in range(10):
        w.add_scalar("loss", 3.0 - 0.1 * s, s)
    w.close()
    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 5.0}) + "\n" for s in range(5)))
    run = load_run(tmp_path)
    (warning,) = [w for w in run.warnings if "disagree" in w.message]
    assert "events.out.tfevents" in warning.message and "with . " not in warning.message


PHI4_LOG = REAL / "phi4_llamafactory_console_240" / "training_v3.log"


def test_hf_records_printed_after_the_bars_of_a_finished_run_get_steps_from_its_plan():
    """LLaMA-Factory under nohup: stdout (the 48 records) is flushed after stderr (the bars),
    so no record sits beside its `N/240`; the Trainer said `Total optimization steps = 240`,
    `Num Epochs = 20`, and its summary says epoch 20.0, so the records are steps 5, 10, ... 240."""
    records = re.findall(r"\{'loss': ([\d.]+)", PHI4_LOG.read_text(encoding="utf-8"))
    run = load_run(PHI4_LOG.parent)
    loss = run.metric("loss")
    assert list(loss.index) == list(range(5, 241, 5)) and len(records) == 48
    assert list(loss.values) == pytest.approx([float(v) for v in records])
    assert run.training.max_steps == 240 and run.last_step == 240


def test_hf_records_stay_counted_when_the_log_does_not_show_the_run_finished(tmp_path):
    # the same log without the Trainer's final summary: the run may have stopped anywhere,
    # so 48 records say nothing of the interval and the steps count the records
    text = PHI4_LOG.read_text(encoding="utf-8")
    cut = text[: text.index("{'train_runtime'")]
    (tmp_path / "training.log").write_text(cut, encoding="utf-8")
    loss = load_run(tmp_path).metric("loss")
    assert list(loss.index) == list(range(1, 49))
    # one more record than a finished run at any single interval has (logging_first_step):
    # no integer L gives floor(240 / L) = 49, so no interval is inferred; since 2026-12-01 the
    # tqdm bar standing at the summary (240/240, epoch 20) dates the records by their epochs
    # instead of counting them: step round(epoch x 240 / 20), the extra one (epoch 0.08) at 1,
    # the others within 1 of their multiple of 5 (epochs are printed to 2 decimals)
    extra = cut.replace("{'loss': 2.0905,", "{'loss': 2.2, 'grad_norm': 1.0, 'epoch': 0.08}\n{'loss': 2.0905,", 1)
    (tmp_path / "training.log").write_text(extra + text[text.index("{'train_runtime'"):], encoding="utf-8")
    steps = list(load_run(tmp_path).metric("loss").index)
    assert len(steps) == 49 and steps[0] == 1 and steps[-1] == 240
    assert all(abs(s - 5 * k) <= 1 for k, s in enumerate(steps[1:], 1))
