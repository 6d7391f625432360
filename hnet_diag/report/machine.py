"""Outputs for machines: JSON, SARIF 2.1.0, JUnit XML and GitHub Actions annotations.

All four are built from the same Diagnosis as the Markdown report, so a CI gate and a human
reader never disagree. Keys are sorted and nothing time- or machine-dependent is written,
so the outputs are reproducible like the Markdown.
"""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: severity -> SARIF level and GitHub annotation command
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
GITHUB = {"error": "error", "warning": "warning", "note": "notice"}
#: SARIF base id of the repository checkout; GitHub code scanning resolves it to the checkout
SRCROOT = "%SRCROOT%"


def workspace_root(environ: Mapping[str, str] | None = None) -> Path:
    """The folder CI places files against: `GITHUB_WORKSPACE` when set, else the working directory.

    GitHub shows an annotation on a file, and code scanning places a SARIF result, only
    when the path is relative to the repository root (the checkout, GITHUB_WORKSPACE).
    """
    env = os.environ if environ is None else environ
    ws = env.get("GITHUB_WORKSPACE")
    return Path(ws) if ws else Path.cwd()


def ci_path(file: str, root: Path | str) -> str | None:
    """`file` as a POSIX path relative to `root`, or None when it lies outside `root`."""
    try:
        rel = Path(file).resolve().relative_to(Path(root).resolve())
    except (ValueError, OSError):
        return None
    return PurePosixPath(*rel.parts).as_posix() if rel.parts else None


def to_json_dict(d: "Diagnosis") -> dict[str, Any]:
    """The JSON report: alarms and healthy signs under `findings`, every rule under `checks`."""
    from .. import __version__

    shown = [f for f in d.findings if f.is_alarm or f.is_positive]
    return {
        "tool": {"name": "hnet-diag", "version": __version__},
        "run": {
            "name": d.run_name,
            "last_step": d.last_step,
            "planned_steps": d.planned_steps,
            "files": list(d.files),
            "warnings": list(d.warnings),
            "events": list(d.events),
            "trainer": d.trainer.to_dict() if d.trainer is not None else None,
            "model": d.model_kind.to_dict() if d.model_kind is not None else None,
        },
        "summary": d.counts(),
        "findings": [_with_file(f.to_dict(), d.locations.get(f.code)) for f in shown],
        "checks": [{"code": f.code, "name": f.name, "status": f.status.value, "message": f.message} for f in d.findings],
        "causes": [
            {"id": c.id, "root": c.root, "codes": list(c.codes), "title": c.title, "links": list(c.links),
             "window": list(c.window) if c.window else None, "stage": c.stage}
            for c in d.causes
        ],
        "recommendations": [
            {"priority": r.priority, "severity": r.severity, "text": r.text, "flags": list(r.flags), "codes": list(r.codes),
             "actions": [a.to_dict() for a in r.changes], "advice": _advice(d, r), "bundled_flags": list(r.flags)}
            for r in d.recommendations
        ],
        "not_applicable": list(d.not_applicable),
        "conflicts_resolved": [c.__dict__ for c in d.conflicts],
        "claims": [c.to_dict() for c in d.claims],
        # what the model itself showed (analyzers.weights): per-component norms, update proxy, named tensors
        "weights": _measured(d.results.weights),
        # where each stage put its chunk boundaries on a reference passage (analyzers.boundaries)
        "boundaries": _measured(d.results.boundaries),
        # the checkpoint's own samples (analyzers.sample_quality): per setting, the measurements and the (cut) samples
        "samples": _measured(d.results.samples),
    }


def _measured(result: Any) -> dict[str, Any] | None:
    """An analyzer result as plain data, or None when the run gave it nothing to measure."""
    return result.to_dict() if result is not None and result.ok else None


def _advice(d: "Diagnosis", r: Any) -> dict[str, Any]:
    """The recommendation in the words of the run's trainer (its flags for the bundled trainer)."""
    from ..advice import advise

    if d.trainer_id == "hnet-diag" or not r.changes:
        return {"trainer": d.trainer_id, "code": [" ".join(r.flags)] if r.flags else [], "cli": None, "notes": [],
                "language": "bash" if r.flags else "text"}
    return advise(r.changes, d.trainer_id).to_dict()


def _fix_text(d: "Diagnosis", rec: Any) -> str:
    """" Fix: ..." for one-line outputs (annotations, JUnit): the trainer's code, else its flags."""
    from ..advice import advise

    if d.trainer_id == "hnet-diag" or not rec.changes:
        return " ".join(rec.flags)
    return advise(rec.changes, d.trainer_id).inline()


def _with_file(entry: dict[str, Any], file: str | None) -> dict[str, Any]:
    from ..rules.track_record import track_record

    entry["file"] = file
    record = track_record(entry["code"])
    # how sure: the code's record on held-out public runs (None for a code the corpus does not score)
    entry["track_record"] = record.to_dict() if record is not None else None
    return entry


def to_json(d: "Diagnosis") -> str:
    return json.dumps(to_json_dict(d), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _artifact(file: str, root: Path | str) -> dict[str, str]:
    """A SARIF artifactLocation: relative to %SRCROOT% when inside the checkout, else a file URI."""
    rel = ci_path(file, root)
    if rel is not None:
        return {"uri": rel, "uriBaseId": SRCROOT}
    return {"uri": Path(file).resolve().as_uri()}


def to_sarif_dict(d: "Diagnosis", root: Path | str | None = None) -> dict[str, Any]:
    """SARIF 2.1.0: one run, every selected rule as a reportingDescriptor, alarms as results.

    Result locations are relative to `root` (default: `workspace_root()`) with the base id
    %SRCROOT%, so code scanning can place them in the repository.
    """
    root = workspace_root() if root is None else root
    from .. import __version__
    from ..rules.registry import RULES

    selected = {f.code for f in d.findings}
    rules = [r for r in RULES if r.code in selected and r.severity.value != "positive"]
    index = {r.code: i for i, r in enumerate(rules)}
    descriptors = [
        {
            "id": r.code,
            "name": "".join(w.capitalize() for w in r.name.split("-")),
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.doc.what},
            "help": {"text": f"{r.doc.why}\nFix: {r.doc.fix}", "markdown": f"{r.doc.why}\n\n**Fix:** {r.doc.fix}"},
            "defaultConfiguration": {"level": LEVELS[r.severity.value]},
            "properties": {"tags": ["hnet-diag", r.area], "severity": r.severity.value},
        }
        for r in rules
    ]
    results = []
    for f in d.findings:
        if not f.is_alarm or f.code not in index:
            continue
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": LEVELS[f.severity.value],
            "message": {"text": f"{f.title}: {f.message}"},
            "properties": {"severity": f.severity.value, "priority": f.priority, "evidence": f.evidence.to_dict()},
        }
        if f.recommendation:
            result["properties"]["recommendation"] = f.recommendation.to_dict()
            if d.trainer_id != "hnet-diag" and f.recommendation.changes:
                result["properties"]["recommendation"]["advice"] = _fix_text(d, f.recommendation)
        file = d.locations.get(f.code)
        if file:
            result["locations"] = [{"physicalLocation": {"artifactLocation": _artifact(file, root)}}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "hnet-diag", "version": __version__, "rules": descriptors}},
                "results": results,
            }
        ],
    }


def to_sarif(d: "Diagnosis", root: Path | str | None = None) -> str:
    return json.dumps(to_sarif_dict(d, root), indent=2, sort_keys=True, allow_nan=False) + "\n"


def to_junit(d: "Diagnosis") -> str:
    """JUnit XML: one testcase per rule; alarms fail, no-data is skipped, the rest pass."""
    import xml.etree.ElementTree as ET

    cases = [f for f in d.findings]
    failures = sum(f.is_alarm for f in cases)
    skipped = sum(f.status.value == "no-data" for f in cases)
    suites = ET.Element("testsuites", name="hnet-diag", tests=str(len(cases)), failures=str(failures), errors="0")
    suite = ET.SubElement(
        suites, "testsuite", name=f"hnet-diag {d.run_name}", tests=str(len(cases)),
        failures=str(failures), errors="0", skipped=str(skipped),
    )
    for f in cases:
        case = ET.SubElement(suite, "testcase", classname=f"hnet-diag.{f.area.replace(' ', '_')}", name=f"{f.code} {f.name}")
        if f.is_alarm:
            fail = ET.SubElement(case, "failure", message=f"{f.title}: {f.message}", type=f.severity.value)
            body = [f.message]
            if f.recommendation:
                body.append("Recommendation: " + f.recommendation.text)
                if d.trainer_id != "hnet-diag" and f.recommendation.changes:
                    body.append(f"Fix ({d.trainer.name}): " + _fix_text(d, f.recommendation))
                elif f.recommendation.flags:
                    body.append("Flags: " + " ".join(f.recommendation.flags))
            fail.text = "\n".join(body)
        elif f.status.value == "no-data":
            ET.SubElement(case, "skipped", message=f.message)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github_annotations(d: "Diagnosis", root: Path | str | None = None) -> list[str]:
    """`::error file=...,title=...::message` lines, one per alarm, for GitHub Actions logs.

    `file=` is relative to `root` (default: `workspace_root()`), the only form GitHub places
    on a file; a file outside it is left out (the annotation still shows, unplaced).
    """
    root = workspace_root() if root is None else root
    lines = []
    for f in sorted((f for f in d.findings if f.is_alarm), key=lambda f: (f.priority, f.code)):
        kind = GITHUB[LEVELS[f.severity.value]]
        props = []
        file = d.locations.get(f.code)
        rel = ci_path(file, root) if file else None
        if rel:
            props.append(f"file={_escape_property(rel)}")
        props.append(f"title={_escape_property(f'{f.code} {f.title} ({f.severity.value})')}")
        text = f.message
        if f.recommendation and (fix := _fix_text(d, f.recommendation)):
            text += " Fix: " + fix
        lines.append(f"::{kind} {','.join(props)}::{_escape_data(text)}")
    return lines
