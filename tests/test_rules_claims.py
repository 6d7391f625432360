"""The example report's claims, each judged from this run's findings with numbers."""
from __future__ import annotations

from hnet_diag.rules.claims import check_claims
from hnet_diag.rules.engine import run_rules

from conftest import (
    GEN_BAD, GRAD_CLIPPED, GRAD_SPIKY, HEALTHY, LR_UNSTABLE_OUTER, WARM_SHORT, CONV_CUT,
)


class Claims(dict):
    """Look a claim up by the start of its text (the rest quotes this run's numbers)."""

    def __getitem__(self, prefix):
        return next(c for text, c in self.items() if text.startswith(prefix))


def verdicts(results):
    return Claims({c.claim: c for c in check_claims(run_rules(results), results)})


def test_healthy_evidence_contradicts_the_example_reports_alarms():
    v = verdicts(HEALTHY)
    assert v["Gradient explosion"].verdict == "contradicted"
    assert "normal" in v["Gradient explosion"].evidence  # the early large norm is explained, not hidden
    assert v["LR multipliers"].verdict == "contradicted"
    assert v["Training stopped too early"].verdict == "contradicted"
    assert v["Load balancing works because the ratio loss is close to 1.0"].verdict == "supported"


def test_example_shaped_evidence_supports_the_claims_it_should_with_numbers():
    results = {**HEALTHY, "gradients": GRAD_SPIKY, "warmup": WARM_SHORT, "lr_ratio": LR_UNSTABLE_OUTER,
               "convergence": CONV_CUT, "generation": GEN_BAD}
    v = verdicts(results)
    assert v["Gradient explosion"].verdict == "supported"
    assert v["LR multipliers"].verdict == "supported" and "3.0,1.7,0.9" in v["LR multipliers"].claim
    assert v["Training stopped too early"].verdict == "supported" and "33.3%" in v["Training stopped too early"].evidence
    assert v["Sampling"].verdict == "supported"
    # clipping at 1.0 with 1% of steps clipped is not restrictive
    assert v["Gradient clipping at 1 "].verdict == "contradicted" and "1.0%" in v["Gradient clipping at 1 "].evidence


def test_a_ratio_loss_near_one_with_compression_off_target_contradicts_the_load_balance_claim():
    from hnet_diag.analyzers.load_balance import LoadBalanceResult
    from conftest import stage

    fooled = LoadBalanceResult(stages=(stage(0, comp=9.0, rl=1.0), stage(1)))
    v = verdicts({**HEALTHY, "load_balance": fooled})
    c = v["Load balancing works because the ratio loss is close to 1.0"]
    assert c.verdict == "contradicted" and "9x" in c.evidence


def test_clipping_saturated_by_explosion_does_not_support_loosening_it():
    from hnet_diag.analyzers.gradients import GradientResult

    both = GradientResult(**{**GRAD_CLIPPED.__dict__, "spikes": GRAD_SPIKY.spikes})
    v = verdicts({**HEALTHY, "gradients": both})
    assert v["Gradient clipping at 0.1"].verdict == "contradicted"
    assert "let them through" in v["Gradient clipping at 0.1"].evidence


def test_claims_without_data_say_so():
    v = verdicts({})
    assert {c.verdict for c in dict.values(v)} == {"no-data"}
