"""Root-cause linking, recommendation deduplication and the conflict checker."""
from __future__ import annotations

from hnet_diag.rules.registry import BY_CODE, PROBLEM_CODES
from hnet_diag.rules.causes import (
    CONFLICTS, find_conflicts, link_causes, merge_recommendations, resolve_conflicts,
)
from hnet_diag.rules.engine import evaluate
from hnet_diag.rules.rule import Evidence, Finding, Recommendation, Severity, Status

from conftest import BAD, HEALTHY


def alarm(code, severity=Severity.HIGH, window=None, stage=None, flags=(), actions=(), priority=None):
    return Finding(code=code, name=code.lower(), severity=severity, status=Status.FAIL, title=code, message="m",
                   area="x", evidence=Evidence(window=window, stage=stage),
                   recommendation=Recommendation(text=f"fix {code}", flags=flags, actions=actions),
                   priority=priority or {Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 3}[severity])


def test_spikes_at_end_of_warmup_on_the_largest_multiplier_stage_are_one_cause():
    findings = [
        alarm("HND101", Severity.CRITICAL, window=(30, 50), stage=0),
        alarm("HND201", window=(20, 60)),
        alarm("HND202", stage=0),
        alarm("HND501", Severity.MEDIUM),
    ]
    causes = link_causes(findings)
    first = causes[0]
    assert set(first.codes) == {"HND101", "HND201", "HND202"}
    assert first.root == "HND202" and first.stage == 0
    assert any("largest LR multiplier" in link for link in first.links)
    assert [c.codes for c in causes[1:]] == [("HND501",)]


def test_findings_whose_evidence_does_not_overlap_stay_separate_causes():
    findings = [alarm("HND101", window=(800, 900), stage=1), alarm("HND201", window=(20, 60)), alarm("HND202", stage=0)]
    assert sorted(len(c.codes) for c in link_causes(findings)) == [1, 1, 1]


def test_loosening_clipping_beside_gradient_explosion_is_a_conflict_and_is_withdrawn():
    explosion = alarm("HND101", Severity.CRITICAL, flags=("--learning-rate 1e-4",), actions=("learning_rate:down",))
    clipping = alarm("HND102", Severity.MEDIUM, flags=("--max-grad-norm 5",), actions=("max_grad_norm:up",))
    conflicts = find_conflicts([explosion, clipping])
    assert [(c.kept, c.dropped, c.action) for c in conflicts] == [("HND101", "HND102", "max_grad_norm:up")]
    resolved, applied = resolve_conflicts([explosion, clipping])
    assert find_conflicts(resolved) == []
    assert applied and resolved[1].recommendation is None and resolved[0].recommendation is not None


def test_a_knob_moved_both_ways_keeps_the_more_important_finding():
    overfit = alarm("HND403", Severity.HIGH, flags=("--max-steps 400",), actions=("max_steps:down",))
    stopped = alarm("HND401", Severity.MEDIUM, flags=("--resume --max-steps 3000",), actions=("max_steps:up",))
    resolved, applied = resolve_conflicts([stopped, overfit])
    by = {f.code: f for f in resolved}
    assert by["HND403"].recommendation is not None and by["HND401"].recommendation is None
    assert find_conflicts(resolved) == []


def test_every_catalog_recommendation_fired_at_once_resolves_to_a_consistent_set():
    findings = [evaluate(BY_CODE[code], {**HEALTHY, **BAD[code][0]}) for code in PROBLEM_CODES]
    findings.append(alarm("HND102", Severity.MEDIUM, flags=("--max-grad-norm 5",), actions=("max_grad_norm:up",)))
    resolved, applied = resolve_conflicts(findings)
    assert find_conflicts(resolved) == []
    assert any(c.action == "max_grad_norm:up" for c in applied)
    emitted = {a for f in resolved if f.recommendation for a in f.recommendation.actions}
    for action, (codes, _why) in CONFLICTS.items():
        if action in emitted:
            assert not codes & {f.code for f in resolved if f.is_alarm}, action


def test_recommendations_are_deduplicated_by_flag_at_the_most_important_priority():
    a = alarm("HND101", Severity.CRITICAL, flags=("--learning-rate 1.5e-4",))
    b = alarm("HND405", Severity.MEDIUM, flags=("--learning-rate 2.1e-4",))
    c = alarm("HND401", Severity.MEDIUM, flags=("--resume --max-steps 3000",))
    d = alarm("HND203", Severity.MEDIUM, flags=("--resume --max-steps 3000",))
    merged = merge_recommendations([b, a, c, d])
    assert [(m.flags, m.codes, m.priority) for m in merged] == [
        (("--learning-rate 1.5e-4",), ("HND101", "HND405"), 1),
        (("--resume --max-steps 3000",), ("HND401", "HND203"), 3),
    ]
    all_flags = [f.split()[0] for m in merged for f in m.flags]
    assert len(all_flags) == len(set(all_flags))


def test_a_symptoms_generic_fix_is_withdrawn_when_its_root_has_a_specific_one():
    from hnet_diag.rules.causes import defer_to_roots

    findings = [
        alarm("HND202", Severity.HIGH, stage=0, flags=("--lr-multipliers 2.0,1.5,1.0",), actions=("lr_multipliers:down",)),
        alarm("HND101", Severity.HIGH, window=(30, 300), stage=0, flags=("--learning-rate 1e-3",), actions=("learning_rate:down",)),
        alarm("HND404", Severity.CRITICAL, window=(250, 300), flags=("--learning-rate 1e-3",), actions=("learning_rate:down",)),
    ]
    causes = link_causes(findings)
    kept, withdrawn = defer_to_roots(findings, causes)
    by = {f.code: f for f in kept}
    assert by["HND101"].recommendation is None and by["HND202"].recommendation is not None
    assert by["HND404"].recommendation is not None  # divergence keeps its own fix
    assert [(c.kept, c.dropped) for c in withdrawn] == [("HND202", "HND101")]
