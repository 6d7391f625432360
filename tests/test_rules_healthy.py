"""Healthy signs mirror their problem rules: same thresholds, never a contradiction."""
from __future__ import annotations

import pytest

from hnet_diag.errors import InputError
from hnet_diag.formatting import g
from hnet_diag.rules.engine import build_settings, evaluate, run_rules, thresholds_for
from hnet_diag.rules.registry import BY_CODE, POSITIVE_CODES, RULES
from hnet_diag.rules.rule import Status

from hnet_diag.analyzers.load_balance import LoadBalanceResult
from hnet_diag.analyzers.lr_ratio import LRRatioResult

from conftest import FIXTURE_RUNS, fixture_results
from conftest import BAD, HEALTHY, LB_OK, LR_OK, stage

#: every result set the predicate tests use: healthy, each pathology alone, all at once
CASES = [HEALTHY] + [{**HEALTHY, **bad} for bad, _ in BAD.values()] + [
    {**HEALTHY, **{k: v for bad, _ in BAD.values() for k, v in bad.items()}}]


def test_every_healthy_sign_mirrors_a_problem_rule_and_copies_none_of_its_thresholds():
    for code in POSITIVE_CODES:
        rule = BY_CODE[code]
        assert rule.mirrors, code
        for m in rule.mirrors:
            assert m.severity.value != "positive"
            shared = {t.name for t in rule.thresholds} & {t.name for t in m.thresholds}
            # a shared name is only allowed as a stricter band of the sign's own
            for name in shared:
                assert rule.threshold(name).default != m.threshold(name).default, (code, name)


@pytest.mark.parametrize("code", POSITIVE_CODES)
def test_a_healthy_sign_never_passes_where_a_rule_it_mirrors_raises_an_alarm(code):
    """Checked on each predicate alone (evaluate), without the engine's guard."""
    for results in CASES + [fixture_results(name) for name in FIXTURE_RUNS]:
        sign = evaluate(BY_CODE[code], results)
        mirrored = [evaluate(m, results) for m in BY_CODE[code].mirrors]
        if any(f.is_alarm for f in mirrored):
            assert not sign.is_positive, (sign.message, [f.message for f in mirrored])


def test_some_case_makes_each_healthy_sign_pass_and_each_be_absent():
    """The consistency test above must not pass vacuously."""
    for code in POSITIVE_CODES:
        outcomes = {evaluate(BY_CODE[code], c).is_positive for c in CASES}
        assert outcomes == {True, False}, code


def test_overriding_hnd202_moves_hnd907():
    lr = LRRatioResult(**{**LR_OK.__dict__, "multipliers": (9.0, 1.5, 1.0), "max_min_ratio": 9.0})
    ratio_off = 9.0 / LR_OK.rule_max_min_ratio  # about 2.5x Eq. 11's ratio
    default = run_rules({**HEALTHY, "lr_ratio": lr}, build_settings({}, select=["HND202", "HND907"]))
    assert [f.status for f in default] == [Status.WARN, Status.NO_DATA]
    loose = build_settings({}, select=["HND202", "HND907"], thresholds=[f"HND202.far_factor={ratio_off + 0.5}"])
    hnd202, hnd907 = run_rules({**HEALTHY, "lr_ratio": lr}, loose)
    assert hnd202.status is Status.PASS and hnd907.is_positive
    assert hnd907.thresholds["far_factor"] == pytest.approx(ratio_off + 0.5)


def test_a_mirrored_threshold_is_set_on_the_problem_rule_not_on_the_sign():
    with pytest.raises(InputError, match="HND907.far_factor is HND202's threshold.*set HND202.far_factor"):
        build_settings({}, thresholds=["HND907.far_factor=3"])
    with pytest.raises(InputError, match="HND901.min_ratio is HND101's"):
        build_settings({"thresholds": {"HND901": {"min_ratio": 5}}}, origin="pyproject.toml")


def test_a_sign_with_its_own_stricter_band_is_withdrawn_when_the_user_tightens_the_problem_rule():
    off = LoadBalanceResult(stages=(stage(0, comp=3.45), stage(1)))  # 15% above the target of 3
    default = {f.code: f for f in run_rules({**HEALTHY, "load_balance": off}, build_settings({}, select=["HND302", "HND902"]))}
    assert default["HND302"].status is Status.PASS and default["HND902"].is_positive
    tight = build_settings({}, select=["HND302", "HND902"], thresholds=["HND302.max_relative_error=0.1"])
    found = {f.code: f for f in run_rules({**HEALTHY, "load_balance": off}, tight)}
    assert found["HND302"].is_alarm
    assert found["HND902"].status is Status.NO_DATA and not found["HND902"].is_positive
    assert evaluate(BY_CODE["HND902"], {"load_balance": off}, thresholds_for(BY_CODE["HND902"])).is_positive
    assert LB_OK.ok


def test_every_rules_thresholds_in_effect_include_its_mirrors():
    for rule in RULES:
        t = thresholds_for(rule)
        for m in rule.mirrors:
            assert set(m.defaults()) <= set(t)


@pytest.mark.parametrize("name", FIXTURE_RUNS)
def test_on_every_fixture_run_hnd101_and_hnd901_agree(name):
    """HND901 counts every spike of HND101's size; a passing HND101 must name what it saw."""
    hnd101, hnd901 = run_rules(fixture_results(name), build_settings({}, select=["HND101", "HND901"]))
    assert not (hnd101.is_alarm and hnd901.is_positive)
    isolated = hnd101.status is Status.PASS and hnd901.status is Status.NO_DATA and bool(hnd901.evidence.steps)
    if isolated:
        assert f"largest {g(hnd901.evidence.measured)}x" in hnd101.message, (hnd101.message, hnd901.evidence)
    if name == "example":  # the case the issue named: one 13.7x spike on stage 2 at step 29
        assert isolated and "stage 2" in hnd101.message and "step 29" in hnd101.message
