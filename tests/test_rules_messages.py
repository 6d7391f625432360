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

NAN_RUN = HEALTHY.parent / "nan_divergence"


def test_the_nan_message_gives_the_loss_own_first_bad_step_and_the_earlier_grad_norm_one():
    run = load_run(NAN_RUN)
    loss = run.metric("loss")
    first_loss_nan = int(loss[~loss.apply(lambda v: v == v and abs(v) != float("inf"))].index.min())
    grad = run.metric("grad_norm")
    first_grad_bad = int(grad[~grad.apply(lambda v: v == v and abs(v) != float("inf"))].index.min())
    message = diagnose(run).finding("HND404").message
    assert f"first at step {first_loss_nan}" in message
    assert first_grad_bad < first_loss_nan and f"grad_norm was already non-finite at step {first_grad_bad}" in message
