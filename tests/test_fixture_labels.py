"""The rules judged on real runs from the reference trainer, against labels set by design.

`fixtures/labels.toml` says, for each committed run, which codes it MUST raise (the
pathology it was made with) and which it must NOT raise (problems it was made without).
Precision and recall per code over all runs must both be 1.0, and the healthy run must have
no critical or high finding.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
import score_labels  # noqa: E402  (fixtures/score_labels.py, also a script)

LABELS = score_labels.load_labels()


def test_every_labelled_run_exists_and_no_code_is_both_required_and_forbidden():
    for name, label in LABELS.items():
        assert (FIXTURES / "runs" / name / "config.json").is_file(), name
        assert not set(label.get("must_raise", [])) & set(label.get("must_not_raise", [])), name


def test_every_pathological_run_must_raise_at_least_one_code():
    for name, label in LABELS.items():
        if name != "healthy":
            assert label.get("must_raise"), name


@pytest.mark.parametrize("name", sorted(LABELS))
def test_each_run_raises_what_it_was_made_with_and_nothing_it_was_made_without(name):
    raised = score_labels.raised_codes(name)
    label = LABELS[name]
    assert set(label.get("must_raise", [])) <= raised, sorted(raised)
    assert not set(label.get("must_not_raise", [])) & raised, sorted(raised)


def test_precision_and_recall_are_one_for_every_labelled_code():
    table = score_labels.confusion_by_code(LABELS)
    assert len(table) >= 15, "labels.toml should judge most rule codes"
    below = {code: score_labels.precision_recall(row) for code, row in table.items() if score_labels.precision_recall(row) != (1.0, 1.0)}
    assert not below, below


def test_healthy_run_has_no_critical_or_high_finding():
    from hnet_diag import diagnose, load_run

    diagnosis = diagnose(load_run(FIXTURES / "runs" / "healthy"))
    assert not diagnosis.at_or_above("high"), [f.code for f in diagnosis.at_or_above("high")]
