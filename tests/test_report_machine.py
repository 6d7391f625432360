"""Machine outputs: JSON schema, SARIF 2.1.0, JUnit XML, GitHub annotations."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from hnet_diag import load_run
from hnet_diag.diagnosis import diagnose
from hnet_diag.report.machine import github_annotations, to_json, to_junit, to_sarif

from conftest import example_like


@pytest.fixture(scope="module")
def diagnosis(tmp_path_factory):
    return diagnose(load_run(example_like(tmp_path_factory.mktemp("m") / "example")))


def test_json_has_findings_with_code_severity_title_evidence_recommendation(diagnosis):
    data = json.loads(to_json(diagnosis))
    assert data["findings"]
    for f in data["findings"]:
        assert {"code", "severity", "title", "evidence", "recommendation"} <= set(f)
        assert f["severity"] in {"critical", "high", "medium", "low", "positive"}
        assert isinstance(f["evidence"]["steps"], list)
    codes = {f["code"] for f in data["findings"]}
    assert {"HND101", "HND201", "HND202"} <= codes
    assert len(data["checks"]) == len(diagnosis.findings)
    assert data["summary"]["critical"] >= 1
    assert to_json(diagnosis) == to_json(diagnosis)


def test_sarif_is_well_formed_2_1_0(diagnosis):
    sarif = json.loads(to_sarif(diagnosis))
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert run["results"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in {"error", "warning", "note"}
        assert res["message"]["text"]
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.endswith(("metrics.jsonl", "config.json", "generation.json"))
    assert {r["ruleId"] for r in run["results"]} == {f.code for f in diagnosis.alarms}


def test_junit_is_well_formed_with_one_case_per_rule(diagnosis):
    root = ET.fromstring(to_junit(diagnosis))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(diagnosis.findings) == int(suite.get("tests"))
    failed = [c.get("name").split()[0] for c in cases if c.find("failure") is not None]
    assert sorted(failed) == sorted(f.code for f in diagnosis.alarms) and int(suite.get("failures")) == len(failed)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("skipped")) == len(skipped)


def test_github_annotations_escape_their_data_and_name_the_file(diagnosis):
    from pathlib import Path

    lines = github_annotations(diagnosis, root=Path(next(iter(diagnosis.locations.values()))).parent.parent)
    assert len(lines) == len(diagnosis.alarms)
    assert lines[0].startswith("::error file=")
    for line in lines:
        head, _, message = line[2:].partition("::")
        assert "\n" not in line and "%" not in message.replace("%25", "").replace("%0A", "").replace("%0D", "")
        assert head.split()[0] in {"error", "warning", "notice"}


# -- CI placement: paths relative to the checkout ----------------------------------------------
def _checkout(tmp_path):
    """A folder shaped like a GitHub checkout: .git, a runs/ folder, a tools/ subfolder."""
    import shutil
    from pathlib import Path

    repo = tmp_path / "checkout"
    (repo / ".git").mkdir(parents=True)
    (repo / "tools").mkdir()
    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "runs" / "no_warmup", repo / "runs" / "exp1")
    return repo


def _check(args, capsys):
    from hnet_diag.cli import main

    code = main(["check", *args, "-q"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("::")]
    return code, lines


def test_annotations_and_sarif_name_files_relative_to_the_working_directory(tmp_path, monkeypatch, capsys):
    repo = _checkout(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    code, lines = _check([str(repo / "runs" / "exp1"), "--sarif", "out.sarif"], capsys)  # absolute run path
    assert code == 1 and lines
    files = {ln.split("file=", 1)[1].split(",", 1)[0] for ln in lines if "file=" in ln}
    assert files and all(f.startswith("runs/exp1/") and not f.startswith("/") for f in files)
    (result, *_) = json.loads((repo / "out.sarif").read_text())["runs"][0]["results"]
    loc = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc["uriBaseId"] == "%SRCROOT%" and loc["uri"].startswith("runs/exp1/")
    assert (repo / loc["uri"]).is_file()


def test_github_workspace_wins_over_the_working_directory(tmp_path, monkeypatch, capsys):
    repo = _checkout(tmp_path)
    monkeypatch.chdir(repo / "tools")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo))
    code, lines = _check(["../runs/exp1", "--sarif", "r.sarif"], capsys)  # relative run path, from a subfolder
    assert code == 1
    files = {ln.split("file=", 1)[1].split(",", 1)[0] for ln in lines if "file=" in ln}
    assert files and all(f.startswith("runs/exp1/") for f in files)
    results = json.loads((repo / "tools" / "r.sarif").read_text())["runs"][0]["results"]
    assert results
    for result in results:
        loc = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc == {"uri": loc["uri"], "uriBaseId": "%SRCROOT%"} and (repo / loc["uri"]).is_file()


def test_a_run_outside_the_checkout_gets_no_misplaced_path(tmp_path, monkeypatch, capsys):
    repo = _checkout(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(outside))
    code, lines = _check([str(repo / "runs" / "exp1"), "--sarif", "r.sarif"], capsys)
    assert code == 1 and lines and not any("file=" in ln for ln in lines)
    loc = json.loads((outside / "r.sarif").read_text())["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].startswith("file:///") and "uriBaseId" not in loc["artifactLocation"]
