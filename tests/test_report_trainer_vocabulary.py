"""Reports fit the run: fixes in the trainer's own words, H-Net checks only for H-Nets.

Every run here is real: public logs with a SOURCE note, or the bundled trainer's fixture runs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.diagnosis import diagnose
from hnet_diag.report.machine import to_json
from hnet_diag.report.markdown import render_markdown

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BUNDLED_FLAG = re.compile(r"--(?:learning-rate|warmup-steps|max-steps|max-grad-norm|lr-multipliers|schedule|resume)\b")


def _report(run: Path) -> tuple[str, dict]:
    d = diagnose(load_run(run))
    return render_markdown(d), json.loads(to_json(d))


def _fixes(md: str) -> str:
    """The report's Key Findings fix lines and its Recommended Solutions section."""
    fixes = "\n".join(line for line in md.splitlines() if line.strip().startswith("- Fix:"))
    return fixes + md.split("## Recommended Solutions", 1)[1].split("## Expected Outcomes", 1)[0]


@pytest.mark.parametrize(
    ("run", "title", "example"),
    [
        ("real_runs/whisper_largev2_japanese", "# Training diagnostic report: whisper_largev2_japanese (HF Trainer)",
         "TrainingArguments(max_steps=1000"),
        ("public_logs/lightning_slm_undertrained", "# Training diagnostic report: lightning_slm_undertrained (PyTorch Lightning)",
         "Trainer(max_steps=11000)"),
        ("real_runs/nanogpt_shakespeare_nan", "# Training diagnostic report: nanogpt_shakespeare_nan (nanoGPT)",
         "grad_clip = 1.0"),
        ("public_logs/llmc_gpt2_124m_cut", "# Training diagnostic report: llmc_gpt2_124m_cut (llm.c)", "-y 1 -x 21479"),
    ],
)
def test_real_runs_get_their_fixes_in_their_trainers_vocabulary(run, title, example):
    md, data = _report(FIXTURES / run)
    assert md.splitlines()[0] == title
    fixes = _fixes(md)
    assert example in fixes
    assert not BUNDLED_FLAG.search(fixes), "a bundled-trainer flag leaked into another trainer's fixes"
    recs = data["recommendations"]
    assert recs and all(r["actions"] for r in recs)
    assert any(example in line for r in recs for line in r["advice"]["code"])
    assert all(r["bundled_flags"] == r["flags"] for r in recs)  # compare/verify-fix still re-runs with these


def test_a_non_h_net_run_shows_h_net_checks_only_as_one_not_applicable_line():
    md, data = _report(FIXTURES / "real_runs" / "whisper_largev2_japanese")
    lines = [ln for ln in md.splitlines() if re.search(r"HND(202|301|302|303|504|90[2367])\b", ln)]
    assert len(lines) == 1 and lines[0].startswith("Not applicable, as this is not an H-Net")
    assert "Load Balance and Dynamic Chunking" not in md and "Decoding Consistency" not in md
    assert "Common Claims" not in md
    assert "per-stage metrics" not in md
    assert data["run"]["model"]["hnet"] is False and data["run"]["trainer"]["id"] == "hf"
    assert set(data["not_applicable"]) >= {"HND202", "HND301", "HND302", "HND303", "HND504"}
    assert data["summary"]["not_applicable"] == len(data["not_applicable"])


def test_bundled_trainer_runs_keep_their_flags_title_and_h_net_sections():
    md, data = _report(FIXTURES / "runs" / "no_warmup")
    assert md.startswith("# H-Net Diagnostic Report: no_warmup\n")
    assert "--warmup-steps" in _fixes(md) and "TrainingArguments" not in md
    assert "Load Balance and Dynamic Chunking" in md and "Not applicable" not in md
    assert data["run"]["trainer"]["id"] == "hnet-diag" and data["run"]["model"]["hnet"] is True
    rec = next(r for r in data["recommendations"] if "HND201" in r["codes"])
    assert rec["advice"]["code"] == [" ".join(rec["flags"])]
    (warmup,) = [a for a in rec["actions"] if a["setting"] == "warmup_steps"]
    assert warmup["direction"] == "up" and warmup["to"] > (warmup["from"] or 0)


def test_structured_actions_drive_the_conflict_check():
    """A recommendation's changes, not its prose or flags, are what contradicts a finding."""
    from hnet_diag.advice import Action
    from hnet_diag.rules.causes import find_conflicts
    from hnet_diag.rules.rule import Evidence, Finding, Recommendation, Severity, Status

    explosion = Finding("HND101", "gradient-explosion", Severity.HIGH, Status.FAIL, "spikes", "m", "gradients",
                        Evidence(window=(10, 20)), Recommendation("lower LR", actions=("learning_rate:down",)), priority=1)
    loosen = Finding("HND102", "clipping-saturated", Severity.MEDIUM, Status.WARN, "clip", "m", "gradients",
                     Evidence(window=(10, 20)), Recommendation("in HF words", changes=(Action("max_grad_norm", to=5.0, from_=1.0),)),
                     priority=3)
    (c,) = find_conflicts([explosion, loosen])
    assert (c.dropped, c.action) == ("HND102", "max_grad_norm:up")


def test_one_line_outputs_give_the_fix_in_the_trainers_words():
    from hnet_diag.report.machine import github_annotations, to_junit

    d = diagnose(load_run(FIXTURES / "public_logs" / "llmc_gpt2_124m_cut"))
    lines = github_annotations(d, root=FIXTURES)
    assert any("Fix: -y 1 -x 21479" in ln for ln in lines)
    assert not any(BUNDLED_FLAG.search(ln) for ln in lines)
    assert "Fix (llm.c): -y 1 -x 21479" in to_junit(d)


def test_every_check_that_applies_to_any_model_says_what_gives_it_data():
    """So a report of any trainer can tell, in its terms, how to enable a check without data."""
    from hnet_diag.advice.enable import NEEDS
    from hnet_diag.rules.registry import RULES

    for r in RULES:
        if r.severity.value == "positive" or r.hnet_only:
            continue
        assert r.needs and set(r.needs) <= set(NEEDS), r.code
