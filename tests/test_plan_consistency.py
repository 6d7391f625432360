"""The consolidated plan never contradicts itself (issue 9, item 8).

A run stopped at a third of its plan, with the LR still at its peak and a validation loss
that rose from its best: HND403 says "stop at the best validation step", HND203/HND401/HND402
say "resume to the plan". The plan must keep one of them, never ask for two values of one
flag, and never ask to stop and to continue at once.
"""
from __future__ import annotations

import json

from hnet_diag import diagnose, load_run


def _cut_and_overfitting(tmp_path):
    rows = []
    for s in range(0, 33001, 100):
        rows.append({"step": s, "loss": 4.0 * (1 + s / 2000) ** -0.5, "grad_norm": 0.5,
                     "lr": 3e-4 if s > 1000 else 3e-4 * s / 1000})
        if s % 1000 == 0 and s:
            rows[-1]["val_loss"] = 1.5 + (0.0 if s <= 20000 else (s - 20000) / 13000 * 0.3) + (0.02 if (s // 1000) % 2 else -0.02)
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "config.json").write_text(json.dumps({"max_steps": 100000, "learning_rate": 3e-4, "warmup_steps": 1000}))
    return diagnose(load_run(tmp_path))


def test_stop_at_best_and_resume_to_plan_are_never_both_in_the_plan(tmp_path):
    d = _cut_and_overfitting(tmp_path)
    assert {"HND403", "HND203", "HND401"} <= {f.code for f in d.alarms}
    flags = [fl for m in d.recommendations for fl in m.flags]
    assert sum(fl.startswith("--max-steps") for fl in flags) <= 1, flags
    texts = " ".join(m.text.lower() for m in d.recommendations)
    assert not ("resume" in texts and "stop there" in texts), texts
    assert not ("--resume" in flags and any(fl.startswith("--max-steps") and fl != "--max-steps 100000" for fl in flags))


def test_a_cut_run_without_overfitting_still_gets_the_resume_advice():
    from pathlib import Path

    run = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "cosine_cut"
    d = diagnose(load_run(run))
    assert any("--resume" in m.flags for m in d.recommendations)


def test_the_withdrawn_advice_says_which_evidence_decided(tmp_path):
    d = _cut_and_overfitting(tmp_path)
    (c,) = [c for c in d.conflicts if c.dropped == "HND401"]
    assert c.kept == "HND403" and "outranks HND401" in c.reason and "val_loss rose from its best" in c.reason
