"""The rule catalog: codes are pinned, every rule is documented and quotes its thresholds."""
from __future__ import annotations

import re

import pytest

from hnet_diag.rules.registry import POSITIVE_CODES, PROBLEM_CODES, RULES
from hnet_diag.rules.rule import Severity

# Never remove or renumber a code; add new ones at the end of their family.
PINNED_PROBLEM_CODES = (
    "HND101", "HND102", "HND103",
    "HND201", "HND202", "HND203",
    "HND301", "HND302", "HND303",
    "HND401", "HND402", "HND403", "HND404", "HND405",
    "HND501", "HND502", "HND503", "HND504",
    "HND601",
)
PINNED_POSITIVE_CODES = ("HND901", "HND902", "HND903", "HND904", "HND905", "HND906", "HND907", "HND908", "HND909")
PINNED_NAMES = {
    "HND101": "gradient-spikes-after-warmup", "HND102": "clipping-saturated", "HND103": "vanishing-gradients",
    "HND201": "warmup-too-short", "HND202": "lr-ratio-out-of-range", "HND203": "lr-not-annealed",
    "HND301": "ratio-loss-away-from-minimum", "HND302": "compression-off-target", "HND303": "undecided-routing",
    "HND401": "stopped-early", "HND402": "loss-still-improving", "HND403": "overfitting",
    "HND404": "divergence-or-nonfinite", "HND405": "loss-spikes", "HND501": "sampling-too-random",
    "HND502": "no-repetition-penalty", "HND503": "generation-longer-than-context", "HND504": "decoding-mismatch",
}


def test_problem_codes_are_pinned_and_never_renumbered():
    assert PROBLEM_CODES == PINNED_PROBLEM_CODES


def test_positive_codes_are_pinned_in_their_own_range():
    assert POSITIVE_CODES == PINNED_POSITIVE_CODES
    assert all(r.severity is Severity.POSITIVE for r in RULES if r.code in POSITIVE_CODES)
    assert all(r.severity is not Severity.POSITIVE for r in RULES if r.code in PROBLEM_CODES)


def test_rule_names_are_pinned_unique_slugs():
    assert {r.code: r.name for r in RULES if r.code in PINNED_NAMES} == PINNED_NAMES
    names = [r.name for r in RULES]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_has_a_full_doc_page_and_documented_thresholds(rule):
    for part in (rule.doc.what, rule.doc.why, rule.doc.example, rule.doc.fix, rule.title):
        assert len(part) > 10
    assert rule.doc.example.startswith(rule.code)
    for t in rule.thresholds:
        assert t.doc and isinstance(t.default, (int, float))
    assert rule.reads, "a rule must say which analyzer result it reads"


@pytest.mark.parametrize("rule", [r for r in RULES if r.code in PROBLEM_CODES], ids=lambda r: r.code)
def test_problem_rules_recommend_something_and_flags_are_trainer_or_generation_flags(rule):
    assert rule.recommendation
    known = {"--learning-rate", "--lr-multipliers", "--warmup-steps", "--max-steps", "--schedule", "--max-grad-norm",
             "--ratio-loss-weight", "--target-compression", "--resume", "--temperature", "--top-p", "--top-k",
             "--repetition-penalty", "--max-new-tokens"}
    for flag in rule.flags:
        for token in flag.split():
            if token.startswith("--"):
                assert token in known, f"{rule.code} recommends unknown flag {token}"
