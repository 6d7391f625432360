"""Judging live gives analyze's findings: same codes, texts and thresholds; a finding is
reported once, when first seen; one that goes away is reported as cleared; end-of-run
rules wait for the end."""
from __future__ import annotations

import json

import pytest

from hnet_diag.diagnosis import diagnose
from hnet_diag.live.follow import RunFollower
from hnet_diag.live.judge import LiveJudge
from hnet_diag.live.monitor import Monitor
from hnet_diag.sources.discover import load_run


@pytest.mark.parametrize("name", ["nan_divergence", "aggressive_multipliers"])
def test_the_final_live_judgement_equals_analyze(name):
    f = RunFollower(f"fixtures/runs/{name}")
    f.poll(final=True)
    judge = LiveJudge()
    changes = judge.judge(f.run(), finished=True)
    ref = diagnose(load_run(f"fixtures/runs/{name}"))
    assert sorted((c.code, c.severity.value, c.finding.message) for c in changes) == sorted(
        (a.code, a.severity.value, a.message) for a in ref.alarms)
    assert all(c.kind == "new" for c in changes)
    assert judge.judge(f.run(), finished=True) == []  # nothing new the second time


def _replay(name, every=1):
    cfg = json.load(open(f"fixtures/runs/{name}/config.json"))
    m = Monitor(config=cfg, share=1.0)
    out = []
    for line in open(f"fixtures/runs/{name}/metrics.jsonl"):
        rec = json.loads(line)
        step = rec.pop("step")
        rec.pop("wall_time", None)
        values = {k: float(v) for k, v in rec.items() if not isinstance(v, str) or v in ("nan", "inf", "-inf")}
        out += m.log(step, values)
    return m, out


def test_a_monitor_fed_a_diverging_run_raises_the_nonfinite_finding_at_the_first_nan_loss():
    m, changes = _replay("nan_divergence")
    crit = [c for c in changes if c.kind == "new" and c.severity.value == "critical" and c.code == "HND404"]
    first_nan = next(json.loads(ln)["step"] for ln in open("fixtures/runs/nan_divergence/metrics.jsonl")
                     if json.loads(ln).get("loss") == "nan")
    assert crit and crit[0].step == first_nan and f"first at step {first_nan}" in crit[0].finding.message
    assert m.should_stop("critical") and "HND404" in m.reason("critical")


def test_end_of_run_rules_wait_for_the_end_and_routing_rules_until_the_run_settled():
    m = Monitor(training={"max_steps": 400, "warmup_steps": 20, "target_compression": (3.0,)}, share=1.0)
    changes = []
    for step in range(1, 401):
        ratio = 1.6 if step <= 150 else 1.0  # the ratio loss settles at its minimum after step 150
        changes += m.log(step, {"loss": 4.0 - step * 0.001, "ratio_loss/stage0": ratio, "lr": 1e-3,
                                "compression/stage0": 3.0, "boundary_frac/stage0": 1 / 3, "boundary_prob/stage0": 1 / 3})
    seen = [(c.kind, c.code, c.step) for c in changes]
    assert not [s for s in seen if s[1] in ("HND401", "HND203", "HND402")], seen  # the run is still going
    new301 = [s for s in seen if s[:2] == ("new", "HND301")]
    cleared301 = [s for s in seen if s[:2] == ("cleared", "HND301")]
    assert new301 and new301[0][2] == 100  # first judged at a quarter of the 400 planned steps
    assert cleared301 and 150 < cleared301[0][2] < 400
    cleared = next(c for c in changes if c.kind == "cleared" and c.code == "HND301")
    assert cleared.first_seen == 100 and "cleared HND301" in cleared.line()
    final = m.finish()  # the plan was 400 and the run did 400, but the LR never annealed
    assert ("new", "HND203") in [(c.kind, c.code) for c in final]
    assert "HND401" not in [c.code for c in final]


def test_a_worse_severity_of_a_standing_finding_is_reported_again():
    m = Monitor(share=1.0)
    changes = []
    for step in range(1, 13):
        changes += m.log(step, {"loss": float("nan") if step >= 8 else 3.0, "grad_norm": float("nan") if step >= 5 else 1.0})
    nan = [(c.step, c.severity.value) for c in changes if c.code == "HND404"]
    assert nan == [(5, "high"), (8, "critical")]
