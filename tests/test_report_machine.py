"""Machine outputs: JSON schema, SARIF 2.1.0, JUnit XML, GitHub annotations."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from hnet_diag import load_run
from hnet_diag.diagnosis import diagnose
from hnet_diag.report.machine import github_annotations, to_json, to_junit, to_sarif

from test_report_runs import example_like


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
    lines = github_annotations(diagnosis)
    assert len(lines) == len(diagnosis.alarms)
    assert lines[0].startswith("::error file=")
    for line in lines:
        head, _, message = line[2:].partition("::")
        assert "\n" not in line and "%" not in message.replace("%25", "").replace("%0A", "").replace("%0D", "")
        assert head.split()[0] in {"error", "warning", "notice"}
