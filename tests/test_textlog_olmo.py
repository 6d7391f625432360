"""OLMo's console log: one record over several lines (a `[step=N/M,epoch=E]` header after the
logger prefix, then one indented `group/name=value` line per metric).

Before this was read, such a log gave the logger prefix's `host:rank` and `module:line` pairs
as "metrics" and no loss at all. The real file is from the public real-run corpus
(fixtures/real_runs/olmo1b_continue_1010, SOURCE note there).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.sources import textlog

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "olmo1b_continue_1010"

RECORD = (
    "2025-12-12 11:05:{sec:02d}.009\tquick-rain-shines-fin-03:0\tolmo.train:979\tINFO\t[step={step}/15000,epoch=0]\n"
    "    optim/total_grad_norm={norm}\n"
    "    train/CrossEntropyLoss={loss}\n"
    "    train/Perplexity=20.04\n"
    "    throughput/total_tokens={tokens}\n"
    "    System/Peak GPU Memory (MB)=111,477\n"
)


def _records(n: int) -> str:
    return "".join(RECORD.format(sec=i, step=i + 1, norm=0.2 - i * 0.01, loss=3.0 - i * 0.1,
                                 tokens=f"{2_097_152 * (i + 1):,}") for i in range(n))


def test_real_olmo_log_gives_loss_and_grad_norm_at_every_step_and_the_plan():
    run = load_run(REAL)
    loss, norm = run.metric("loss"), run.metric("grad_norm")
    assert len(loss) == 1010 and loss.index[0] == 1 and loss.index[-1] == 1010
    assert loss[1] == pytest.approx(2.998) and norm[1] == pytest.approx(0.2370)
    assert list(norm.index) == list(loss.index)
    assert run.training.max_steps == 15000
    # the logger prefix (host:rank, module:line) is no metric
    assert not any("olmo" in m or "quick-rain" in m for m in run.metric_names())


def test_fields_with_thousands_separators_and_spaced_names_are_read(tmp_path):
    (tmp_path / "train.log").write_text("Starting training...\n" + _records(3) + "Saving checkpoint\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 3.0, 2: 2.9, 3: 2.8})
    assert run.metric("grad_norm").to_dict() == pytest.approx({1: 0.2, 2: 0.19, 3: 0.18})
    assert run.metric("throughput/total_tokens")[3] == 3 * 2_097_152
    assert run.metric("System/Peak_GPU_Memory_MB")[1] == 111_477
    assert run.metric("loss").index.equals(run.metric("train/Perplexity").index)
    assert run.scalars["wall_time"].notna().all()  # the time in the prefix is kept


def test_a_record_cut_by_a_read_chunk_is_joined_across_it():
    lines = _records(4).splitlines()
    whole = textlog._LogParser("t.log", [], None)
    whole.feed(whole.join_records(lines))
    whole.flush()
    split = textlog._LogParser("t.log", [], None)
    for part in (lines[:8], lines[8:]):  # line 8 is inside the second record
        split.feed(split.join_records(part))
    split.flush()
    assert whole.n_records == split.n_records == 4 * 6
    assert whole.line_steps == split.line_steps == [1, 2, 3, 4]
    assert whole.values == split.values


def test_indented_key_value_lines_without_a_step_header_stay_as_they_were(tmp_path):
    (tmp_path / "train.log").write_text(
        "step 10 | loss 2.5\n    note=1\nstep 20 | loss 2.3\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric_names() == ["loss"]
    assert run.metric("loss").to_dict() == pytest.approx({10: 2.5, 20: 2.3})
