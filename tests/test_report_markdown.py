"""The Markdown report: reproducible bytes, the example's sections, clean when healthy."""
from __future__ import annotations

from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.diagnosis import diagnose
from hnet_diag.report.markdown import render_markdown, write_report

from conftest import example_like, run_folder

SECTIONS = [
    "## Executive Summary", "## Key Findings", "### 🔴 Critical and High-Severity Issues", "### ✅ Positive Findings",
    "## Detailed Analysis", "## Root Cause Analysis", "## Recommended Solutions", "## Implementation Plan",
    "## Expected Outcomes", "## Risk Assessment", "## Conclusion", "## Next Steps", "## Appendix",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"example": example_like(root / "example"), "healthy": run_folder(root / "healthy")}


@pytest.fixture(scope="module")
def diagnoses(runs):
    return {name: diagnose(load_run(path)) for name, path in runs.items()}


def test_the_same_run_gives_byte_identical_markdown_and_plots(runs, tmp_path):
    a = write_report(diagnose(load_run(runs["example"])), tmp_path / "a" / "report.md")
    b = write_report(diagnose(load_run(runs["example"])), tmp_path / "b" / "report.md")
    assert a.read_bytes() == b.read_bytes()
    pngs = sorted(p.name for p in (tmp_path / "a" / "plots").glob("*.png"))
    assert {"loss.png", "grad_norm.png", "lr.png", "compression.png"} <= set(pngs)
    for name in pngs:
        assert (tmp_path / "a" / "plots" / name).read_bytes() == (tmp_path / "b" / "plots" / name).read_bytes()
    text = a.read_text()
    for name in pngs:
        assert f"](plots/{name})" in text


def test_report_has_the_example_reports_sections_in_order(diagnoses):
    text = render_markdown(diagnoses["example"])
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    assert "## Common Claims Checked Against the Evidence" in text


def test_report_holds_no_absolute_or_temporary_paths(diagnoses, runs):
    text = render_markdown(diagnoses["example"])
    assert str(runs["example"]) not in text and "/tmp" not in text
    assert "`metrics.jsonl`" in text  # files read, relative to the run


def test_example_shaped_run_reports_its_causes_with_flags_and_numbers(diagnoses):
    text = render_markdown(diagnoses["example"])
    assert "--lr-multipliers 2.0,1.5,1.0" in text
    assert "--warmup-steps" in text and "--temperature 0.8 --top-p 0.9" in text
    assert "HND202, HND201, HND101" in text  # one root cause links the three
    assert "| LR multipliers [3.0,1.7,0.9] are too aggressive | ✅ supported |" in text
    assert "33.3%" in text


def test_healthy_run_gets_a_clean_report(diagnoses):
    d = diagnoses["healthy"]
    assert d.at_or_above("high") == []
    text = render_markdown(d)
    assert "No critical or high-severity finding." in text
    assert "❌ fail" not in text
    assert "✅ healthy" in text


def test_load_warnings_reach_the_appendix(tmp_path):
    run = run_folder(tmp_path / "r", max_steps=120)
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 120, "loss": \n')  # a run still writing: truncated last line
    d = diagnose(load_run(run))
    text = render_markdown(d)
    appendix = text[text.index("## Appendix"):]
    assert d.warnings or d.events
    assert "metrics.jsonl" in appendix and ("warning:" in appendix or "event:" in appendix)


def test_an_analyzer_that_fails_costs_only_its_checks_and_is_reported(runs, monkeypatch):
    import hnet_diag.analyzers.generation as generation

    def broken(run):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(generation, "analyze_generation", broken)
    d = diagnose(load_run(runs["example"]))
    assert d.finding("HND501").status.value == "no-data" and "boom" in d.finding("HND501").message
    assert d.finding("HND101").is_alarm
    assert any("generation" in w and "boom" in w for w in d.warnings)


def test_diagnose_accepts_a_settings_table_like_pyproject(runs):
    d = diagnose(load_run(runs["example"]), {"ignore": ["HND5"], "thresholds": {"HND101": {"min_ratio": 1000}}})
    assert not any(f.code.startswith("HND5") for f in d.findings)
    assert not d.finding("HND101").is_alarm


EXAMPLE_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "example"


@pytest.mark.slow  # loads a real checkpoint (torch import): ~3 s idle, ~15 s on busy shared cores
@pytest.mark.skipif(not EXAMPLE_FIXTURE.is_dir(), reason="fixtures/runs/example not generated")
def test_the_example_fixture_report_says_which_example_claims_hold_with_numbers():
    from hnet_diag.analyzers import analyze_all

    run = load_run(EXAMPLE_FIXTURE)
    d = diagnose(run, results=analyze_all(run, skip=("decoding",)))
    verdicts = {c.claim.split(" (")[0].split(" [")[0]: c for c in d.claims}
    stopped = verdicts["Training stopped too early"]
    assert stopped.verdict == "supported" and "of 600 planned" in stopped.evidence
    assert verdicts["Sampling"].verdict == "supported"
    # the run trained smoothly: the example report's instability claims do not hold here
    assert verdicts["Gradient explosion"].verdict == "contradicted"
    assert verdicts["LR multipliers"].verdict == "contradicted" and "Eq. 11" in verdicts["LR multipliers"].evidence
    text = render_markdown(d)
    assert "## Common Claims Checked Against the Evidence" in text and "❌ contradicted" in text


def test_wording_says_what_the_report_holds():
    """Issue 9, item 9: no 'high-priority first' without a high-priority recommendation; the red
    heading says it lists high findings too; no risk line reads 'none for the model'."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
    d = diagnose(load_run(fixtures / "cosine_cut"))  # HND203/401/402, all medium
    assert d.recommendations and not d.at_or_above("high")
    text = render_markdown(d)
    assert "high-priority recommendations first" not in text
    assert "### 🔴 Critical and High-Severity Issues" in text
    assert "none for the model" not in text


def test_each_scored_alarm_says_how_often_its_code_was_right_on_held_out_public_runs():
    """fixtures/runs/overfit (the trainer's overfitting run): HND403 fires; the report quotes its
    record on the held-out real runs from the packaged track_record.toml, the JSON carries it, and a
    code the corpus does not score carries none."""
    import json

    from hnet_diag.report.machine import to_json
    from hnet_diag.rules.track_record import load_records, track_record

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
    d = diagnose(load_run(fixtures / "overfit"))
    assert "HND403" in {f.code for f in d.alarms}
    record = track_record("HND403")
    assert record is not None and record.cls == "overfit" and record.fired >= record.right > 0
    text = render_markdown(d)
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("- Track record:") and "HND403" in ln)
    assert f"HND403 was right {record.right} of the {record.fired} times it fired" in line
    assert f"overfit was found on {record.found} of the {record.labelled} runs labelled so" in line
    findings = {f["code"]: f for f in json.loads(to_json(d))["findings"]}
    assert findings["HND403"]["track_record"]["right"] == record.right
    unscored = [code for code in findings if code not in load_records()]
    assert unscored and all(findings[code]["track_record"] is None for code in unscored)
