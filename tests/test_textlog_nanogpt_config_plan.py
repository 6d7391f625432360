"""nanoGPT's console echoes the config it runs: the config file's lines ("max_iters = 5000")
and each command-line override ("Overriding: max_iters = 10000"), in that order. The last
one is the planned step count; before it was read, a nanoGPT run cut at iter 570 of 10000 had
no plan, so HND401 could not say it stopped early. The real files are in the public run corpus
(fixtures/real_runs/higher_order_gpt_shakespeare_cliff_3000, tuning half; SOURCE notes there).
"""
from __future__ import annotations

from pathlib import Path

from hnet_diag import diagnose, load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"

ITERS = "".join(f"iter {i}: loss {3.0 - i / 100:.4f}, time 50.00ms, mfu 10.00%\n" for i in range(0, 60, 10))


def _run(tmp_path, head: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.log").write_text(head + ITERS)
    return run


def test_the_last_echoed_max_iters_is_the_plan(tmp_path):
    head = ("Overriding config with config/train_gpt2.py:\n# the config file, echoed\n"
            "batch_size = 12\nmax_iters = 5000\nlr_decay_iters = 5000\nOverriding: max_iters = 200\n")
    d = diagnose(load_run(_run(tmp_path, head)))
    assert d.planned_steps == 200 and d.last_step == 50
    cut = d.finding("HND401")
    assert cut.is_alarm and "the run stopped at step 50 of 200 planned" in cut.message


def test_without_an_echoed_max_iters_there_is_no_plan_and_a_lookalike_is_not_one(tmp_path):
    head = "# max_iters = 5000 in a comment\nsome_max_iters = 300\n"
    d = diagnose(load_run(_run(tmp_path, head)))
    assert d.planned_steps is None
    assert d.finding("HND401").status.value != "fail"


def test_a_real_nanogpt_console_that_ran_its_plan_reports_it_finished():
    d = diagnose(load_run(REAL / "higher_order_gpt_shakespeare_cliff_3000"))
    assert d.planned_steps == 3000 and d.last_step == 3000
    assert d.finding("HND908").is_positive
