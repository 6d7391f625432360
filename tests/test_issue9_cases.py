"""The cases issue 9 named, end to end: a log written as the trainer would, then diagnose.

Each was a clean report (or a false alarm) before; each now gets the finding it needs.
"""
from __future__ import annotations

import json
import math

import numpy as np

from hnet_diag import diagnose, load_run


def _jsonl(tmp_path, rows, config=None):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if config:
        (tmp_path / "config.json").write_text(json.dumps(config))
    return diagnose(load_run(tmp_path))


def _codes(d):
    return {f.code for f in d.alarms}


def test_nan_from_the_first_logged_step_to_the_last_is_divergence(tmp_path):
    d = _jsonl(tmp_path, [{"step": s, "loss": math.nan, "grad_norm": math.nan} for s in range(1, 60)])
    assert "HND404" in _codes(d)


def test_nan_under_another_loss_name_is_divergence(tmp_path):
    rows = "".join(f"{s},{3 - s / 100 if s < 60 else 'nan'},{1 - s / 300},{'nan' if s >= 60 else 0.5}\n" for s in range(100))
    (tmp_path / "metrics.csv").write_text("step,mean_loss,recon_loss,kl_loss\n" + rows)
    assert "HND404" in _codes(diagnose(load_run(tmp_path)))


def test_rl_fine_tune_whose_grad_norm_falls_to_exactly_zero(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"step": s, "loss": float(rng.normal(0, 0.01)) if s < 40 else 0.0,
             "grad_norm": float(abs(rng.normal(0.3, 0.05))) if s < 40 else 0.0, "learning_rate": 1e-6} for s in range(100)]
    d = _jsonl(tmp_path, rows)
    (f,) = [f for f in d.alarms if f.code == "HND104"]
    assert "exactly 0" in f.message and "last 60 of 100" in f.message


def test_a_training_loss_flat_from_start_to_end(tmp_path):
    rng = np.random.default_rng(1)
    d = _jsonl(tmp_path, [{"step": s, "loss": float(2.3 + rng.normal(0, 0.05))} for s in range(0, 2000, 10)])
    assert "HND407" in _codes(d)


def test_a_training_loss_that_climbs_back_to_4x_its_minimum_and_stays(tmp_path):
    loss = [3.0 * math.exp(-s / 300) + 0.5 for s in range(1000)] + [2.0 + 0.01 * (s % 7) for s in range(1000)]
    d = _jsonl(tmp_path, [{"step": s, "loss": v} for s, v in enumerate(loss)])
    assert "HND406" in _codes(d)


def test_overfitting_on_a_named_eval_set(tmp_path):
    rows = [{"step": s, "loss": 3.0 * math.exp(-s / 2000) + 0.2} for s in range(0, 10000, 50)]
    for k, s in enumerate(range(500, 10001, 500)):
        rows.append({"step": s, "eval_books_loss": 1.0 - 0.04 * k if k < 8 else 0.68 + 0.05 * (k - 8)})
    d = _jsonl(tmp_path, rows)
    (f,) = [f for f in d.alarms if f.code == "HND403"]
    assert "eval_books_loss" in f.message


def test_a_small_stage_whose_norm_jumps_while_the_total_stays_flat_is_no_explosion(tmp_path):
    rng = np.random.default_rng(2)
    rows = []
    for s in range(0, 3000):
        stage1 = 0.18 if s == 2000 else float(0.003 * (1 + rng.normal(0, 0.05)))
        total = float(0.6 * (1 + rng.normal(0, 0.03)))
        rows.append({"step": s, "loss": 3.0 * math.exp(-s / 800) + 1.0, "grad_norm": total, "grad_norm/stage0": total,
                     "grad_norm/stage1": stage1, "lr": 3e-4 * min(1.0, s / 300)})
    d = _jsonl(tmp_path, rows)
    assert "HND101" not in _codes(d)
