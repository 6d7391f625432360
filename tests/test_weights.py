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
    assert checks == {"HND701": "pass", "HND702": "no-data", "HND703": "no-data", "HND704": "no-data"}


# -- per-stage comparison, embedding rows, drift (a real run with optimizer state and two checkpoints)
@pytest.fixture(scope="session")
def two_checkpoints(tmp_path_factory):
    """A real healthy 100-step run of the micro model with Adam moments and checkpoints at steps 50 and 100
    (batch 2 x 64 bytes: HND703 waits for 100 steps, HND704 for checkpoints 50 steps apart)."""
    out = tmp_path_factory.mktemp("two_ckpt") / "run"
    cfg = TrainConfig(batch_size=2, seq_len=64, max_steps=100, eval_every=50, save_every=50)
    train(cfg, str(MICRO), out, quiet=True, device="cpu")
    return out


def test_the_update_proxy_compares_every_group_with_its_peers_when_moments_are_there(two_checkpoints):
    from hnet_diag.analyzers.weights import MIN_PEER_NUMEL

    w = analyze_weights(load_run(two_checkpoints))
    assert w.update_proxy_note == "" and w.n_moments == 2 * w.n_tensors
    compared = [c for c in w.components if c.proxy_vs_peers is not None]
    assert {c.component for c in compared} >= {"embeddings", "encoder", "routing", "decoder", "main", "head"}
    for c in compared:  # each ratio is against the median of the *other* groups
        others = sorted(o.update_proxy for o in w.components if o is not c and o.numel >= MIN_PEER_NUMEL)
        mid = len(others) // 2
        median = others[mid] if len(others) % 2 else (others[mid - 1] + others[mid]) / 2
        assert c.proxy_vs_peers == pytest.approx(c.update_proxy / median)
    # a 16-entry pad vector is too small for a stable proxy and is no one's peer
    assert all(c.proxy_vs_peers is None for c in w.components if c.numel < MIN_PEER_NUMEL)
    # the same component in the other stage: stage 0's encoder against stage 1's
    enc = {c.stage: c for c in w.components if c.component == "encoder"}
    assert enc[0].rms_vs_peers == pytest.approx(enc[0].matrix_rms / enc[1].matrix_rms)


def test_without_adam_moments_the_analyzer_says_there_is_no_update_proxy():
    w = analyze_weights(load_run(HEALTHY_CKPT.parent.parent))
    assert all(c.update_proxy is None and c.proxy_vs_peers is None for c in w.components)
    assert "no Adam moments" in w.update_proxy_note
    f = _all_findings(HEALTHY_CKPT.parent.parent)["HND703"]
    assert f.status.value == "pass" and "no update proxy" in f.message


def test_embedding_rows_never_selected_have_an_exactly_zero_second_moment(two_checkpoints):
    w = analyze_weights(load_run(two_checkpoints))
    e = w.embedding_rows
    assert e.basis == "optimizer" and e.n_rows == 256
    # tinyshakespeare is ASCII: no row of a byte >= 128 can have received a gradient ...
    assert set(range(128, 254)) <= set(e.unseen)
    # ... while 'e', ' ', and the BOS byte every document starts with did
    assert not {ord("e"), ord(" "), 254} & set(e.unseen)
    assert "-253" in e.unseen_text and e.n_unseen_ascii == sum(1 for i in e.unseen if i < 128)


def test_embedding_rows_follow_the_training_data_when_the_checkpoint_has_no_moments():
    from hnet_diag.trainer.data import bundled_corpus

    from hnet_diag.analyzers import analyze_weights as with_data  # the package-level one reads the data

    w = with_data(load_run(HEALTHY_CKPT.parent.parent))
    e = w.embedding_rows
    present = set(bundled_corpus().read_bytes()) | {254}
    assert e.basis == "data" and "tinyshakespeare" in e.basis_note
    assert set(e.unseen) == set(range(256)) - present
    # the pure analyzer without the data cannot tell, and says so
    from hnet_diag.analyzers.weights import analyze_weights as pure

    assert pure(load_run(HEALTHY_CKPT.parent.parent)).embedding_rows.basis == "none"


def test_drift_compares_the_oldest_and_the_newest_checkpoint_per_stage(two_checkpoints):
    w = analyze_weights(load_run(two_checkpoints))
    assert w.n_checkpoints == 2 and w.drift_steps == (50, 100)
    first = torch.load(two_checkpoints / "checkpoints" / "step_000050.pt", weights_only=True)["model"]
    last = torch.load(two_checkpoints / "checkpoints" / "step_000100.pt", weights_only=True)["model"]
    from hnet_diag.sources.stage_map import locate

    def stage_norm(sd, stage):
        return math.sqrt(sum(float(t.double().norm()) ** 2 for n, t in sd.items()
                             if t.dim() >= 2 and t.is_floating_point() and locate(n)[0] == stage))

    for d in w.drift_stages:
        assert d.norm_first == pytest.approx(stage_norm(first, d.stage), rel=1e-9)
        assert d.growth == pytest.approx(stage_norm(last, d.stage) / stage_norm(first, d.stage), rel=1e-9)
    # a healthy run stays in its band; checkpoints closer than min_steps_apart give no verdict, with the reason
    found = _all_findings(two_checkpoints)
    assert found["HND704"].status.value == "pass" and "between step 50 and step 100" in found["HND704"].message
    assert found["HND703"].status.value == "pass" and "update proxy at most" in found["HND703"].message
    f = _all_findings(two_checkpoints, "HND704.min_steps_apart=60")["HND704"]
    assert f.status.value == "no-data" and "50 steps apart" in f.message


def test_the_report_shows_the_weights_table_plot_and_claims_and_the_json_the_measurements(two_checkpoints, tmp_path):
    out = tmp_path / "rep"
    cli_main(["analyze", str(two_checkpoints), "-o", str(out / "report.md")])
    text = (out / "report.md").read_text()
    assert (out / "plots" / "weights.png").stat().st_size > 1000
    assert "![Weight-matrix RMS per stage" in text and "| stage | component | matrix RMS |" in text
    assert "Embedding rows never trained" in text and "-253" in text
    assert "Matrix norm growth per stage, step 50 -> 100" in text
    init = next(line for line in text.splitlines() if line.startswith("| Weight initialization is appropriate"))
    arch = next(line for line in text.splitlines() if line.startswith("| Architecture is well-designed"))
    assert "not checked" not in init and "residual projections moved" in init
    assert "widths 32/48/64" in arch and "cannot show" in arch
    cli_main(["analyze", str(two_checkpoints), "--no-plots", "--format", "json", "-o", str(tmp_path / "r.json")])
    doc = json.loads((tmp_path / "r.json").read_text())["weights"]
    assert doc["drift_steps"] == [50, 100] and {d["stage"] for d in doc["drift_stages"]} == {0, 1, 2}
    assert doc["embedding_rows"]["basis"] == "optimizer" and 200 in doc["embedding_rows"]["unseen"]
    assert all("proxy_vs_peers" in c and "matrix_rms" in c for c in doc["components"])


def test_the_claims_are_contradicted_by_a_checkpoint_with_a_nan_tensor(tmp_path):
    from hnet_diag.rules.claims import check_claims

    def poison(ck):
        ck["model"][RESIDUAL][0, 0] = float("nan")

    run = _copy_with(tmp_path, HEALTHY_CKPT, poison)
    d = diagnose(load_run(run))
    init = next(c for c in check_claims(d.findings, d.results) if c.claim.startswith("Weight initialization"))
    assert init.verdict == "contradicted" and RESIDUAL in init.evidence


def _all_findings(path, *thresholds: str) -> dict:
    """Every HND7xx finding of the run, judged as `analyze --threshold ...` would."""
    from hnet_diag.diagnosis import diagnose_path

    _run, d = diagnose_path(path, thresholds=thresholds)
    return {f.code: f for f in d.findings if f.code.startswith("HND7")}


def test_the_no_warmup_fixture_checkpoint_departs_by_stage_and_no_ratio_loss_does_not():
    """Committed checkpoints without Adam moments: only the matrix RMS is compared. The run with
    --warmup-steps 0 --learning-rate 0.1 (stage 1 routing collapsed) pulls stage 0's matrices far
    above stage 1's; the run without the ratio loss is broken in compression only, not in weights."""
    runs = ROOT / "fixtures" / "runs"
    f = _all_findings(runs / "no_warmup")["HND703"]
    assert f.is_alarm and f.severity.value == "medium"
    assert "stage 0 encoder matrix RMS" in f.message and "stage 1 encoder matrix RMS" in f.message
    w = analyze_weights(load_run(runs / "no_warmup"))
    enc = {c.stage: c for c in w.components if c.component == "encoder"}
    assert enc[0].rms_vs_peers == pytest.approx(enc[0].matrix_rms / enc[1].matrix_rms) and enc[0].rms_vs_peers > 4
    assert f.evidence.measured == pytest.approx(enc[0].rms_vs_peers) and f.evidence.threshold == 4
    quiet = _all_findings(runs / "no_ratio_loss")["HND703"]
    assert quiet.status.value == "pass" and "no update proxy" in quiet.message


def test_training_data_is_read_only_inside_the_run_folder_or_bundled_else_the_rows_stay_unjudged(tmp_path):
    """A config is untrusted and the report lists which byte values a file holds: a file elsewhere on this
    machine is not read (the reason says so), a file inside the run folder is."""
    from hnet_diag.analyzers import analyze_weights as with_data

    elsewhere = tmp_path / "secret.txt"
    elsewhere.write_bytes(b"abc")
    for i, (data, inside) in enumerate((([str(elsewhere)], None), (["/nonexistent/corpus.txt"], None),
                                        (["corpus.txt"], b"abc abc\n"))):
        def point_to(ck, data=data):
            ck["config"]["training"]["data"] = data

        run = _copy_with(tmp_path / str(i), HEALTHY_CKPT, point_to)
        if inside is not None:
            (run / "corpus.txt").write_bytes(inside)
        e = with_data(load_run(run)).embedding_rows
        if inside is None:
            assert e.basis == "none" and e.unseen == () and "not all readable here" in e.basis_note
            assert data[0] in e.basis_note
        else:
            assert e.basis == "data" and set(range(256)) - set(e.unseen) == {*b"abc \n", 254}


@pytest.mark.slow
def test_a_run_without_warmup_at_lr_0_1_shrinks_its_inner_stages_and_starves_a_group_of_updates(tmp_path):
    """The broken side of the calibration, small: --warmup-steps 0 --learning-rate 0.1 for 100 steps of
    batch 2 x 64 (the healthy twin is `two_checkpoints`). Inner stages lose their learning signal, so
    weight decay shrinks them (HND704) and some group's update proxy falls far below the others' (HND703)."""
    out = tmp_path / "run"
    cfg = TrainConfig(batch_size=2, seq_len=64, max_steps=100, eval_every=50, save_every=50, warmup_steps=0,
                      learning_rate=0.1)
    train(cfg, str(MICRO), out, quiet=True, device="cpu")
    w = analyze_weights(load_run(out))
    found = _all_findings(out)
    drift = found["HND704"]
    shrunk = [d for d in w.drift_stages if d.growth < 0.85]
    assert drift.is_alarm and shrunk and all(f"stage {d.stage}'s weight matrices shrank" in drift.message for d in shrunk)
    assert drift.evidence.measured == pytest.approx(min(d.growth for d in shrunk))
    depart = found["HND703"]
    low = min((c for c in w.components if c.proxy_vs_peers is not None), key=lambda c: c.proxy_vs_peers)
    assert depart.is_alarm and low.proxy_vs_peers < 1 / 4
    assert f"stage {low.stage} {low.component} update proxy" in depart.message


def test_row_norms_are_the_embedding_rows_and_a_repeated_embedding_gets_none(tmp_path):
    from hnet_diag.sources.checkpoint import tensor_stats

    real = torch.load(HEALTHY_CKPT, weights_only=True)["model"]["embeddings.weight"]
    st = tensor_stats("embeddings.weight", real)
    assert st.row_norms == pytest.approx(real.double().norm(dim=1).tolist(), rel=1e-12)
    assert tensor_stats("lm_head.weight", real).row_norms is None  # only embeddings: their rows are tokens
    repeated = torch.ones(1, 32).expand(256, 32)  # stride 0: one stored row standing for 256
    st = tensor_stats("embeddings.weight", repeated)
    assert st.row_norms is None and st.l2_norm == pytest.approx(math.sqrt(256 * 32))


def test_the_no_warmup_report_links_the_departing_stage_under_the_chunking_root_cause():
    from hnet_diag.diagnosis import diagnose_path

    _run, d = diagnose_path(ROOT / "fixtures" / "runs" / "no_warmup")
    (cause,) = [c for c in d.causes if "HND703" in c.codes]
    assert cause.root in ("HND302", "HND303") and cause.root != "HND703"
