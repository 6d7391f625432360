"""When two causes compete, the report says which evidence decides between them (issue 9, item 8).

A training loss still falling at the end reads "undertrained, train longer" (HND402); a
validation loss that rose from its best and stayed up reads "overfitting, stop earlier"
(HND403). Both are raised on a real overfitting run (fixtures/real_runs/neiro_vit_8920, a
ViT fine-tune whose eval_loss rises for 6,000 steps while its training loss falls to 2e-4)
and on the trainer's own fixture (fixtures/runs/overfit: 3.7 KB of training text). The
rising validation series decides: HND402 speaks of the training loss only and asks for no
more steps, and the root cause names the deciding evidence. Without HND403, HND402 keeps
its advice.
"""
from __future__ import annotations

import json

import pytest

from conftest import ROOT, RUNS
from hnet_diag import diagnose, load_run
from hnet_diag.advice.flags import parse_flags
from hnet_diag.cli import main
from hnet_diag.rules.causes import link_causes, settle_competitions
from hnet_diag.rules.rule import Evidence, Finding, Recommendation, Severity, Status

REAL = ROOT / "fixtures" / "real_runs" / "neiro_vit_8920"


@pytest.fixture(scope="module", params=[REAL, RUNS / "overfit"], ids=["neiro_vit_8920", "trainer_overfit"])
def overfitting(request):
    return diagnose(load_run(request.param))


def _asks_for_more_steps(d) -> bool:
    return any(a.setting == "max_steps" and a.direction == "up" for m in d.recommendations for a in m.changes) or any(
        a.setting == "max_steps" and a.to is not None and d.last_step and a.to > d.last_step
        for m in d.recommendations for a in parse_flags(m.flags))


def test_the_rising_validation_loss_decides_and_no_more_steps_are_recommended(overfitting):
    d = overfitting
    by = {f.code: f for f in d.alarms}
    assert {"HND402", "HND403"} <= set(by)
    assert by["HND402"].recommendation is None and by["HND403"].recommendation is not None
    assert not _asks_for_more_steps(d)
    metric, best_step = by["HND403"].evidence.metric, by["HND403"].evidence.steps[0]
    # HND402's "still improving" is said to concern the training loss only, with what decided it
    assert "training loss only" in by["HND402"].message
    assert f"{metric} rose from its best at step {best_step} (HND403)" in by["HND402"].message


def test_the_root_cause_names_the_deciding_evidence(overfitting):
    d = overfitting
    by = {f.code: f for f in d.alarms}
    (cause,) = [c for c in d.causes if "HND402" in c.codes]
    assert cause.root == "HND403" and cause.codes[0] == "HND403"  # the decider is the root, whatever the order
    assert not any(c.root == "HND402" for c in d.causes)  # "undertrained" is no root cause of its own
    (link,) = cause.links
    ev403, ev402 = by["HND403"].evidence, by["HND402"].evidence
    assert f"{ev403.metric} rose from its best" in link and f"at step {ev403.steps[0]}" in link
    assert f"at step {ev403.steps[1]}" in link and "while the training loss still fell" in link
    assert f"over steps {ev402.window[0]}-{ev402.window[1]}" in link and "decides" in link
    (c,) = [c for c in d.conflicts if c.dropped == "HND402"]
    assert c.kept == "HND403" and c.action == "max_steps:up" and c.reason == link


def test_the_markdown_report_says_it_in_each_section(tmp_path):
    out = tmp_path / "report.md"
    assert main(["analyze", str(RUNS / "overfit"), "--no-plots", "-o", str(out)]) == 0
    text = out.read_text()
    causes = text.split("## Root Cause Analysis")[1].split("## Recommended Solutions")[0]
    assert "(HND403, HND402)" in causes and "the rising validation series decides" in causes
    assert "undertrained)** (HND402)" not in causes
    assert "HND402's recommendation (max_steps up) withdrawn: val_loss rose from its best" in text
    assert "train longer" not in text.split("## Recommended Solutions")[1].split("## Expected Outcomes")[0]


def test_without_the_validation_evidence_the_still_falling_loss_keeps_its_advice(tmp_path):
    out = tmp_path / "report.json"
    assert main(["analyze", str(RUNS / "overfit"), "--ignore", "HND403", "--no-plots", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    (f,) = [f for f in report["findings"] if f["code"] == "HND402"]
    assert "training loss only" not in f["message"] and f["recommendation"]["actions"] == ["max_steps:up"]
    assert any(c["root"] == "HND402" for c in report["causes"])


def _alarm(code, severity, evidence, actions):
    return Finding(code=code, name=code.lower(), severity=severity, status=Status.FAIL, title=code, message="m.",
                   area="convergence", evidence=evidence, recommendation=Recommendation(text=f"fix {code}", actions=actions),
                   priority={Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 3}[severity])


def test_the_evidence_decides_whatever_the_priorities_and_the_windows():
    # HND402 more important than HND403 and their windows apart: the validation rise still decides
    still = _alarm("HND402", Severity.CRITICAL, Evidence(metric="loss", measured=0.3, window=(900, 1000)), ("max_steps:up",))
    rose = _alarm("HND403", Severity.MEDIUM, Evidence(metric="val_loss", steps=(100, 500), values=(1.0, 1.5),
                                                       measured=0.5, window=(100, 500)), ("max_steps:down",))
    settled, conflicts = settle_competitions([still, rose])
    by = {f.code: f for f in settled}
    assert by["HND402"].recommendation is None and by["HND403"].recommendation is not None
    assert [(c.kept, c.dropped) for c in conflicts] == [("HND403", "HND402")]
    (cause,) = link_causes(settled)
    assert cause.root == "HND403" and "val_loss rose from its best 1 at step 100 to 1.5 at step 500" in cause.links[0]
    # evidence without the fields the sentence quotes: a plain sentence, never a crash
    bare = _alarm("HND403", Severity.HIGH, Evidence(), ("max_steps:down",))
    _, (c,) = settle_competitions([still, bare])
    assert c.reason == "HND403's evidence decides: m"


def test_explain_names_the_competing_rule_on_both_pages(capsys):
    assert main(["explain", "HND403"]) == 0
    page = capsys.readouterr().out
    assert "## When a competing finding fires too" in page and "HND402 (loss-still-improving)" in page
    assert main(["explain", "loss-still-improving"]) == 0
    assert "HND403 (overfitting): when both fire, its evidence decides" in capsys.readouterr().out
    assert main(["explain", "HND101"]) == 0
    assert "competing finding" not in capsys.readouterr().out
