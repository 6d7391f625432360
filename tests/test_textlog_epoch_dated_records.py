"""Hugging Face records without a step, in a log with no progress bar (LLaMA Board's
running_log.txt keeps the logger's lines only): the Trainer's printed plan, `Total
optimization steps = M` over `Num Epochs = E`, dates each record by its epoch (M / E steps
an epoch). Before, the records were counted 1, 2, 3, ..., so a finished 37-step run read as
"stopped at step 7 of 37". The real file is in the public run corpus
(fixtures/real_runs/mistral7b_lora_dockerize_llamaboard_37, tuning half; SOURCE note there).
"""
from __future__ import annotations

from pathlib import Path

from hnet_diag import diagnose, load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"

HEAD = ("05/17/2024 01:05:20 - INFO - transformers.trainer -   Num Epochs = {epochs}\n"
        "05/17/2024 01:05:20 - INFO - transformers.trainer -   Total optimization steps = {total}\n")
RECORD = "05/17/2024 01:05:43 - INFO - llmtuner.extras.callbacks - {{'loss': {loss}, 'learning_rate': {lr}, 'epoch': {epoch}}}\n"


def _log(tmp_path, epochs_total, records) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    text = HEAD.format(epochs=epochs_total[0], total=epochs_total[1])
    text += "".join(RECORD.format(loss=l, lr=lr, epoch=e) for l, lr, e in records)
    (run / "running_log.txt").write_text(text)
    return run


def test_records_are_dated_by_epoch_at_the_printed_steps_per_epoch(tmp_path):
    records = [(2.0 - i / 10, 1e-4 * (1 - i / 10), e) for i, e in enumerate((0.5, 1.0, 1.5, 2.0, 2.5, 2.9))]
    run = load_run(_log(tmp_path, ("3", "1,200"), records))
    assert run.metric("loss").index.tolist() == [200, 400, 600, 800, 1000, 1160]
    d = diagnose(run)
    assert d.planned_steps == 1200 and d.last_step == 1160
    assert d.finding("HND401").status.value == "pass"


def test_records_whose_epochs_go_back_keep_their_count(tmp_path):
    records = [(2.0, 1e-4, 0.5), (1.9, 1e-4, 1.0), (1.8, 1e-4, 0.5)]  # two runs in one file: no dating
    run = load_run(_log(tmp_path, ("3", "1200"), records))
    assert run.metric("loss").index.tolist() == [1, 2, 3]


def test_a_real_llama_board_log_of_a_finished_run_reads_as_finished():
    d = diagnose(load_run(REAL / "mistral7b_lora_dockerize_llamaboard_37"))
    assert d.last_step == 34 and d.planned_steps == 37
    assert d.finding("HND401").status.value == "pass"
