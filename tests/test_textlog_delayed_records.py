"""Hugging Face / TRL console records printed in delayed bunches, dated by the tqdm bars.

Three consoles of cohort 2026-12-01-h (corpus19) print their `{'loss': ..., 'epoch': ...}`
records on stdout, buffered, while the progress bar (`| 1600/5560 [...]`) goes to stderr: the
records come in bunches after the bars that ran past them. The reader used to count them 1..K
and take no plan from bars on lines of their own, so an early-stopped run had no plan to be
judged against and a finished one seemed to stop at its first bar-glued record. The rule (see
`hnet_diag.sources.textlog`): a fresh bar before each record gives its step; else the final
`train_runtime` summary at epoch E with the training bar N/M then standing gives a record the
step round(epoch x N / E); else only the plan M is taken. A nested (evaluation) bar, drawn a
row up with ESC[A, is never the training bar. fixtures/real_runs/label.py reads them alike.
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def _bar(n, m):
    pct = int(100 * n / m)
    return f"\r{pct:3d}%|##        | {n}/{m} [00:10<00:20,  1.00s/it]"


def _rec(loss, lr, epoch):
    return f"{{'loss': {loss}, 'grad_norm': 1.0, 'learning_rate': {lr}, 'epoch': {epoch}}}"


def _read(tmp_path, lines):
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    return run, [int(s) for s in run.metric("loss").index]


def test_summary_epoch_dates_buffered_records(tmp_path):
    # 4 records (every 10 steps) printed after the bar reached 40/100, then an early stop
    lines = [_bar(n, 100) for n in range(0, 41, 5)]
    lines += [_rec(2.0 - i / 10, 1e-4, e) for i, e in enumerate((0.1, 0.2, 0.3, 0.4))]
    lines += ["\x1b[A" + _bar(7, 7).lstrip("\r") + "\x1b[A",  # a nested evaluation bar: not the run's
              "{'train_runtime': 100.0, 'train_loss': 1.8, 'epoch': 0.4}"]
    run, steps = _read(tmp_path, lines)
    assert steps == [10, 20, 30, 40]
    assert run.training.max_steps == 100 and run.last_step == 40
    assert not [e for e in run.events if e.kind == "restart"]


def test_fresh_bar_before_each_record_is_its_step(tmp_path):
    lines = []
    for n in (5, 10, 15):
        lines += [_bar(n - 1, 30), _bar(n, 30), _rec(1.0, 1e-4, n / 30)]
    lines += ["{'eval_loss': 0.9, 'epoch': 0.5}"]
    run, steps = _read(tmp_path, lines)
    assert steps == [5, 10, 15]
    assert [int(s) for s in run.metric("eval_loss").index] == [15]
    assert run.training.max_steps == 30


def test_without_summary_or_fresh_bars_records_keep_their_order_and_take_the_plan(tmp_path):
    lines = [_bar(3, 50), _rec(2.0, 1e-4, 0.02), _rec(1.9, 1e-4, 0.04), _bar(8, 50), _rec(1.8, 1e-4, 0.06)]
    run, steps = _read(tmp_path, lines)
    assert steps == [1, 2, 3]  # the second record had no bar of its own: counted by order
    assert run.training.max_steps == 50 and run.last_step == 3


def test_known_logging_steps_and_bar_glued_records_are_unchanged(tmp_path):
    glued = [_bar(n, 20).lstrip("\r") + _rec(1.0, 1e-4, n / 20) for n in (10, 20)]
    run, steps = _read(tmp_path, glued)
    assert steps == [10, 20] and run.training.max_steps == 20
    (tmp_path / "train.log").unlink()
    lines = ["logging_steps=10", _bar(30, 60)] + [_rec(1.0, 1e-4, e) for e in (0.1, 0.2, 0.3)]
    run, steps = _read(tmp_path, lines)
    assert steps == [10, 20, 30]  # k x logging_steps wins: the bars date nothing
    assert run.training.max_steps is None


@pytest.mark.parametrize("name, first, last, reached, plan", [
    ("gemma2b_8bit_lora_earlystop_1600", 10, 1600, 1600, 5560),
    # no summary and not every record has a bar of its own: counted 1..270, the plan from the
    # last bar 311/1963 (a reader has no way to say "reached 311" without a record there)
    ("phogpt4b_mm_projector_gradspikes_311", 1, 270, 270, 1963),
    ("qwen25_coder7b_dpo_nearflat_160", 10, 160, 160, 160),
])
def test_real_delayed_consoles(name, first, last, reached, plan):
    run = load_run(REAL / name)
    loss = run.metric("loss")
    assert (int(loss.index[0]), int(loss.index[-1])) == (first, last)
    assert run.last_step == reached
    assert run.training.max_steps == plan
    assert not [e for e in run.events if e.kind == "restart"]


def test_real_dpo_console_ends_annealed_at_its_plan():
    run = load_run(REAL / "qwen25_coder7b_dpo_nearflat_160")
    lr = run.metric("lr")
    assert int(lr.index[-1]) == 160 and lr.iloc[-1] == 0.0
    assert [int(s) for s in run.metric("eval_loss").index] == [50, 99, 150]


def test_the_bar_at_the_final_summary_is_the_step_reached_even_past_the_last_record():
    """fixtures/real_runs/dpo_qlora_fp16_lossblowup_nanlogps_175 (tuning half): a TRL DPO console
    whose 3 records, printed after the last bar, date by their epochs to steps 49, 100 and 149;
    the bar stood at 175/175 when the train_runtime summary was printed, so the run finished."""
    from hnet_diag import diagnose

    real = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "dpo_qlora_fp16_lossblowup_nanlogps_175"
    run = load_run(real)
    assert run.metric("loss").index.max() == 149
    d = diagnose(run)
    assert d.last_step == 175 and d.planned_steps == 175
    assert d.finding("HND401").status.value == "pass"
