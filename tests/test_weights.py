"""Weights and optimizer state (HND701, HND702) on real checkpoints of the bundled trainer.

The healthy fixture run's checkpoint (fixtures/runs/healthy, written by fixtures/make_runs.py)
must raise neither rule. A copy of it with one NaN set into a weight, and a real run trained
with stage 0's LR multiplier at 0 (so its zero-initialised residual_proj never moves), each
raise theirs, naming the tensors.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from hnet_diag import load_run  # noqa: E402
from hnet_diag.analyzers.weights import analyze_weights  # noqa: E402
from hnet_diag.cli import main as cli_main  # noqa: E402
from hnet_diag.diagnosis import diagnose  # noqa: E402
from hnet_diag.trainer.train import TrainConfig, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEALTHY_CKPT = ROOT / "fixtures" / "runs" / "healthy" / "checkpoints" / "step_000300.pt"
MICRO = ROOT / "fixtures" / "micro_2stage.json"
RESIDUAL = "backbone.residual_proj.weight"


def _findings(path) -> dict:
    d = diagnose(load_run(path))
    return {f.code: f for f in d.findings if f.code in ("HND701", "HND702")}


@pytest.fixture(scope="module")
def frozen_stage0(tmp_path_factory):
    """A real 12-step run with optimizer state whose outer stage has LR multiplier 0."""
    out = tmp_path_factory.mktemp("frozen") / "run"
    cfg = TrainConfig(batch_size=2, seq_len=64, max_steps=12, eval_every=6, lr_multipliers=(0.0, 1.5, 1.0))
    train(cfg, str(MICRO), out, quiet=True, device="cpu")
    return out


def _copy_with(tmp_path: Path, src: Path, edit) -> Path:
    """Load a real checkpoint, change it with `edit`, and torch.save it into a fresh run folder."""
    ck = torch.load(src, weights_only=True, map_location="cpu")
    edit(ck)
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(ck, folder / src.name)
    return tmp_path / "run"


def test_the_healthy_fixture_checkpoint_raises_neither_finding():
    w = analyze_weights(load_run(HEALTHY_CKPT.parent.parent))
    assert w.ok and w.step == 300 and w.n_tensors > 50
    assert w.non_finite == () and w.still_zero == ()
    # every stage's residual_proj moved away from its zero initialisation
    assert {(c.stage, c.component) for c in w.components if c.weight_norm > 0} >= {(0, "residual"), (1, "residual")}
    found = _findings(HEALTHY_CKPT.parent.parent)
    assert found["HND701"].status.value == "pass" and found["HND702"].status.value == "pass"


def test_a_nan_set_into_a_weight_raises_the_critical_finding_naming_the_tensor(tmp_path):
    def poison(ck):
        ck["model"][RESIDUAL][3, 5] = float("nan")
        ck["model"]["lm_head.weight"][0, 0] = float("inf")

    run = _copy_with(tmp_path, HEALTHY_CKPT, poison)
    w = analyze_weights(load_run(run))
    assert {(b.name, b.nan_count, b.inf_count) for b in w.non_finite} == {(RESIDUAL, 1, 0), ("lm_head.weight", 0, 1)}
    f = _findings(run)["HND701"]
    assert f.status.value == "fail" and f.severity.value == "critical"
    assert f"{RESIDUAL} (1 NaN, 0 Inf of 1024)" in f.message and "step 300" in f.message
    assert f.evidence.measured == 2 and f.evidence.threshold == 0
    assert _findings(run)["HND702"].status.value == "pass"  # the rest of the checkpoint is intact


def test_a_stage_whose_lr_multiplier_is_zero_leaves_its_residual_projection_at_zero(frozen_stage0):
    w = analyze_weights(load_run(frozen_stage0))
    assert w.step == 12 and w.n_moments == 2 * w.n_tensors and w.candidates == "optimizer-trained"
    # exactly the zero-initialised tensors of the frozen stage: stage 1's residual_proj moved
    assert [z.name for z in w.still_zero] == [RESIDUAL, "backbone.residual_proj.bias"]
    # gradients arrived (its second moment is not zero): the LR, not the wiring, kept it still
    assert all(z.exp_avg_sq_norm > 0 for z in w.still_zero)
    residual = {c.stage: c for c in w.components if c.component == "residual"}
    assert residual[0].weight_norm == 0 and residual[1].weight_norm > 0
    assert all(c.update_proxy is not None and 0 < c.update_proxy < 2 for c in w.components)
    found = _findings(frozen_stage0)
    f = found["HND702"]
    assert f.status.value == "fail" and f.severity.value == "high"
    assert f"{RESIDUAL} (1024 entries)" in f.message and "step 12" in f.message and "gradients arrived" in f.message
    assert "stage 0's --lr-multipliers" in f.recommendation.text
    assert found["HND701"].status.value == "pass"


def test_a_nan_in_an_adam_moment_is_named_as_the_moment(frozen_stage0, tmp_path):
    src = next((frozen_stage0 / "checkpoints").glob("*.pt"))

    def poison(ck):
        state = ck["optimizer"]["state"]
        first = min(state)
        state[first]["exp_avg_sq"].view(-1)[0] = float("nan")

    run = _copy_with(tmp_path, src, poison)
    w = analyze_weights(load_run(run))
    assert [(b.kind, b.nan_count) for b in w.non_finite] == [("exp_avg_sq", 1)]
    assert w.non_finite[0].name.endswith(".exp_avg_sq") and not math.isnan(w.components[0].weight_norm)
    f = _findings(run)["HND701"]
    assert f.status.value == "fail" and "Adam moments" in f.message and w.non_finite[0].name in f.message


def test_the_json_report_quotes_the_tensors_and_the_step_threshold_keeps_an_early_checkpoint_quiet(frozen_stage0, tmp_path):
    def report(*extra):
        out = tmp_path / "r.json"
        cli_main(["analyze", str(frozen_stage0), "--no-plots", "--format", "json", "-o", str(out), "--select", "HND7", *extra])
        return json.loads(out.read_text())

    doc = report()
    (f,) = [f for f in doc["findings"] if f["code"] == "HND702"]
    assert RESIDUAL in f["message"] and f["evidence"]["steps"] == [12] and f["evidence"]["measured"] == 2
    measured = doc["weights"]
    assert measured["step"] == 12 and [z["name"] for z in measured["still_zero"]] == [RESIDUAL, "backbone.residual_proj.bias"]
    assert {(c["stage"], c["component"]) for c in measured["components"]} >= {(0, "residual"), (2, "main")}
    checks = {c["code"]: c["status"] for c in report("--threshold", "HND702.min_steps=13")["checks"]}
    assert checks == {"HND701": "pass", "HND702": "no-data"}
