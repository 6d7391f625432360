"""analyze, check, rules and explain through `hnet_diag.cli.main`, with their exit codes."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from hnet_diag.cli import main

from conftest import example_like, run_folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {"example": example_like(root / "example"), "healthy": run_folder(root / "healthy")}


def test_check_exits_0_when_nothing_reaches_the_level(runs, capsys):
    assert main(["check", str(runs["healthy"]), "--fail-on", "high"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_check_exits_1_when_a_finding_reaches_the_level(runs, capsys):
    assert main(["check", str(runs["example"]), "--fail-on", "critical", "-q"]) == 1
    assert "HND101" in capsys.readouterr().out


def test_check_exits_2_on_unusable_input(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["check", str(tmp_path / "empty")]) == 2


def test_check_exits_2_on_an_unknown_rule_code(runs, capsys):
    assert main(["check", str(runs["healthy"]), "--ignore", "HND77"]) == 2
    assert "HND77" in capsys.readouterr().err


def test_ignoring_the_failing_codes_makes_check_pass(runs):
    assert main(["check", str(runs["example"]), "--fail-on", "high", "-q", "--ignore", "HND1,HND2"]) == 0


def test_a_threshold_override_changes_the_verdict(runs):
    assert main(["check", str(runs["example"]), "-q", "--fail-on", "critical"]) == 1
    assert main(["check", str(runs["example"]), "-q", "--fail-on", "critical",
                 "--threshold", "HND101.single_spike_ratio=1000", "--threshold", "HND101.min_ratio=100"]) == 0


def test_check_writes_sarif_and_junit_and_prints_github_annotations(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(runs["example"].parent))
    sarif, junit = tmp_path / "out" / "r.sarif", tmp_path / "out" / "r.xml"
    assert main(["check", str(runs["example"]), "-q", "--sarif", str(sarif), "--junit", str(junit)]) == 1
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert ET.fromstring(junit.read_text()).tag == "testsuites"
    out = capsys.readouterr().out
    assert "::error file=" in out and "metrics.jsonl" in out


def test_analyze_writes_outside_the_run_folder_by_default(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in runs["healthy"].iterdir())
    assert main(["analyze", str(runs["healthy"]), "--no-plots"]) == 0
    report = tmp_path / "hnet-diag-report" / "healthy" / "report.md"
    assert report.read_text().startswith("# H-Net Diagnostic Report: healthy")
    assert sorted(p.name for p in runs["healthy"].iterdir()) == before


def test_analyze_run_from_inside_the_run_folder_still_writes_beside_it(runs, monkeypatch):
    monkeypatch.chdir(runs["healthy"])
    before = sorted(p.name for p in runs["healthy"].iterdir())
    assert main(["analyze", ".", "--no-plots", "--format", "json"]) == 0
    assert sorted(p.name for p in runs["healthy"].iterdir()) == before
    assert (runs["healthy"].parent / "hnet-diag-report" / "healthy" / "report.json").is_file()


def test_analyze_json_format_has_the_findings_schema(runs, tmp_path):
    out = tmp_path / "r.json"
    assert main(["analyze", str(runs["example"]), "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["findings"]
    assert all({"code", "severity", "title", "evidence", "recommendation"} <= set(f) for f in data["findings"])


def test_rules_lists_every_code(capsys):
    assert main(["rules", "--json"]) == 0
    codes = [r["code"] for r in json.loads(capsys.readouterr().out)]
    assert codes[0] == "HND101" and "HND504" in codes and "HND901" in codes


def test_explain_prints_a_rule_page_by_code_or_name(capsys):
    assert main(["explain", "HND101"]) == 0
    page = capsys.readouterr().out
    for heading in ("## What it does", "## Why it matters", "## Example", "## How to fix", "## Thresholds"):
        assert heading in page
    assert "min_ratio" in page
    assert main(["explain", "warmup-too-short"]) == 0
    assert "HND201" in capsys.readouterr().out


def test_explain_of_an_unknown_code_is_a_one_line_error(capsys):
    assert main(["explain", "HND999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HND999" in err


def test_check_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "exit codes" in out and "0  no finding" in out and "2  unusable input" in out


def test_a_settings_file_given_on_the_command_line_replaces_the_one_found_from_the_run(runs, tmp_path, capsys):
    settings = tmp_path / "elsewhere" / "pyproject.toml"
    settings.parent.mkdir()
    settings.write_text("[tool.hnet-diag]\nignore = ['HND1', 'HND2']\n")
    assert main(["check", str(runs["example"]), "--fail-on", "high", "-q"]) == 1
    assert main(["check", str(runs["example"]), "--fail-on", "high", "-q", "--settings", str(settings)]) == 0
    settings.write_text("[tool.black]\nline-length = 99\n")
    assert main(["check", str(runs["example"]), "-q", "--settings", str(settings)]) == 2
    assert "no [tool.hnet-diag] table" in capsys.readouterr().err
