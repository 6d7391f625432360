"""Messages must not contradict their own evidence."""
from pathlib import Path

from hnet_diag import diagnose, load_run

HEALTHY = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "healthy"


def test_a_passing_spike_check_names_the_isolated_spike_it_measured_instead_of_saying_none():
    finding = diagnose(load_run(HEALTHY)).finding("HND101")
    # the committed healthy run has exactly one moderate spike after warmup (fixtures/runs/README.md)
    assert finding.status.value == "pass"
    assert len(finding.evidence.steps) == 1 and finding.evidence.measured >= 3.0
    assert "isolated spike" in finding.message
    assert f"step {finding.evidence.steps[0]}" in finding.message
