"""`hnet-diag compare` on the committed real runs: settings, findings on both sides, outcomes, plots.

`aggressive_multipliers` and `healthy` were trained with the same flags except
`--lr-multipliers` (fixtures/runs/README.md), so `healthy` is exactly the follow-up that
aggressive_multipliers' report recommends: the pair is a real "before / after".
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hnet_diag.cli import main
from hnet_diag.compare import compare

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def diagnosed():
    """Each fixture run loaded and diagnosed once for the module."""
    from hnet_diag.diagnosis import diagnose
    from hnet_diag.sources.discover import load_run

    cache = {}

    def get(name):
        if name not in cache:
            run = load_run(RUNS / name)
            cache[name] = (run, diagnose(run))
        return cache[name]

    return get


def _compare(diagnosed, *names):
    pairs = [diagnosed(n) for n in names]
    return compare([r for r, _ in pairs], [d for _, d in pairs], [f"fixtures/runs/{n}" for n in names])


def test_the_json_has_the_documented_shape(diagnosed):
    data = _compare(diagnosed, "aggressive_multipliers", "healthy").to_dict()
    assert set(data) == {"runs", "settings_diff", "findings", "outcomes"}
    assert set(data["findings"]) == {"resolved", "new", "persisting"}
    for o in data["outcomes"]:
        assert {"code", "expected", "observed", "held"} <= set(o)
    json.dumps(data, allow_nan=False)
    assert [r["label"] for r in data["runs"]] == ["aggressive_multipliers", "healthy"]


def test_settings_that_differ_are_named_by_the_trainer_flags(diagnosed):
    c = _compare(diagnosed, "aggressive_multipliers", "healthy")
    assert c.settings_diff == {"--lr-multipliers": ["100.0,20.0,2.0", "2.0,1.5,1.0"]}
    c = _compare(diagnosed, "no_warmup", "healthy")
    assert c.settings_diff == {"--learning-rate": ["0.1", "0.002"], "--warmup-steps": ["0", "30"]}


def test_resolved_findings_carry_the_evidence_of_both_runs(diagnosed):
    c = _compare(diagnosed, "aggressive_multipliers", "healthy")
    resolved = {x.code: x for x in c.findings["resolved"]}
    assert {"HND101", "HND202"} <= set(resolved)
    assert not c.findings["new"] and not c.findings["persisting"]
    _, da = diagnosed("aggressive_multipliers")
    _, db = diagnosed("healthy")
    for code in ("HND101", "HND202"):
        x = resolved[code]
        assert x.a == da.finding(code) and x.a.is_alarm
        assert x.b == db.finding(code) and x.b.status.value == "pass"
        entry = next(e for e in c.to_dict()["findings"]["resolved"] if e["code"] == code)
        assert entry["a"]["evidence"]["measured"] == pytest.approx(x.a.evidence.measured)
        assert entry["b"]["evidence"]["measured"] == pytest.approx(x.b.evidence.measured)
    assert resolved["HND202"].a.evidence.measured > resolved["HND202"].b.evidence.measured


def test_each_expected_outcome_of_the_report_is_checked_with_the_measured_value(diagnosed):
    from hnet_diag.followup import expected_outcomes
    from hnet_diag.report.markdown import build_context

    _, da = diagnosed("no_warmup")
    _, db = diagnosed("healthy")
    c = _compare(diagnosed, "no_warmup", "healthy")
    assert [o.expected for o in c.outcomes] == build_context(da)["outcomes"]  # the report's own list
    assert [o.code for o in c.outcomes] == [code for code, _ in expected_outcomes(da)]
    for o in c.outcomes:
        fb = db.finding(o.code)
        assert o.held is (fb.status.value == "pass")
        assert o.measured == fb.evidence.measured and fb.message in o.observed


def test_the_reverse_direction_reports_new_findings_and_expects_nothing(diagnosed):
    c = _compare(diagnosed, "healthy", "aggressive_multipliers")
    assert {"HND101", "HND202"} <= {x.code for x in c.findings["new"]}
    assert not c.findings["resolved"] and not c.outcomes
    new = next(x for x in c.findings["new"] if x.code == "HND202")
    assert new.a.status.value == "pass" and new.b.is_alarm


def test_a_run_that_stopped_before_the_evidence_cannot_resolve_it(diagnosed):
    # cosine_cut stopped at step 200; aggressive_multipliers' spikes reach step 292
    c = _compare(diagnosed, "aggressive_multipliers", "cosine_cut")
    persisting = {x.code: x for x in c.findings["persisting"]}
    assert "HND101" in persisting and "stopped at step 200" in persisting["HND101"].note
    assert persisting["HND101"].b.status.value == "pass"
    assert "HND101" not in {x.code for x in c.findings["resolved"]}


def test_a_check_without_data_on_b_is_neither_resolved_nor_held(diagnosed):
    # example samples with temperature 1.0 / top-p 1.0 (HND501); cosine_cut has no generation settings
    c = _compare(diagnosed, "example", "cosine_cut")
    persisting = {x.code: x for x in c.findings["persisting"]}
    assert persisting["HND501"].b.status.value == "no-data" and "no data" in persisting["HND501"].note
    outcome = next(o for o in c.outcomes if o.code == "HND501")
    assert outcome.held is None


def test_three_runs_compare_each_with_the_first(diagnosed):
    c = _compare(diagnosed, "no_warmup", "healthy", "aggressive_multipliers")
    assert [r.label for r in c.runs] == ["no_warmup", "healthy", "aggressive_multipliers"]
    assert all(len(v) == 3 for v in c.settings_diff.values())
    assert {x.run for x in c.findings["resolved"]} == {"healthy", "aggressive_multipliers"}
    assert {x.code for x in c.findings["new"] if x.run == "aggressive_multipliers"} >= {"HND101", "HND202"}
    assert {o.run for o in c.outcomes} == {"healthy", "aggressive_multipliers"}


def test_the_markdown_report_shows_both_sides_and_overlay_plots(tmp_path, capsys):
    out = tmp_path / "cmp" / "compare.md"
    assert main(["compare", str(RUNS / "aggressive_multipliers"), str(RUNS / "healthy"), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Run Comparison: aggressive_multipliers vs healthy")
    assert "| `--lr-multipliers` | 100.0,20.0,2.0 | 2.0,1.5,1.0 |" in text
    assert "### Resolved (2)" in text and "22.4x the local median" in text  # A's evidence
    assert "✅ held" in text
    for family in ("loss", "grad_norm", "lr", "compression"):
        assert f"(plots/compare_{family}.png)" in text
        assert (out.parent / "plots" / f"compare_{family}.png").stat().st_size > 1000
    said = capsys.readouterr().out
    assert "critical/high finding" in said and "0 new critical/high" in said
    assert "HND202" in said.split("resolved (")[1].split(")")[0]


def test_compare_json_on_the_cli_matches_the_library(diagnosed, tmp_path, monkeypatch):
    monkeypatch.chdir(RUNS.parents[1])
    out = tmp_path / "c.json"
    assert main(["compare", "fixtures/runs/aggressive_multipliers", "fixtures/runs/healthy", "-o", str(out)]) == 0
    expected = _compare(diagnosed, "aggressive_multipliers", "healthy").to_dict()
    assert json.loads(out.read_text()) == json.loads(json.dumps(expected, sort_keys=True))


def test_compare_needs_two_runs_and_names_a_missing_one(capsys):
    assert main(["compare", str(RUNS / "healthy")]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main(["compare", str(RUNS / "healthy"), str(RUNS / "nope")]) == 2
    assert "nope: no such file or folder" in capsys.readouterr().err


def test_the_readme_documents_the_compare_json_keys():
    text = README.read_text()
    section = text[text.index("### Did the fix work"):]
    for key in ('"runs"', '"settings_diff"', '"resolved"', '"new"', '"persisting"', '"outcomes"',
                '"code"', '"expected"', '"observed"', '"held"'):
        assert key in section, key
