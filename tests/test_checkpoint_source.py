import json
import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from hnet_diag import load_run
from hnet_diag.errors import InputError, UnsafeCheckpointError
from hnet_diag.sources import checkpoint
from hnet_diag.sources.checkpoint import read, tensor_stats


# -- a tiny model with official H-Net parameter names (1 stage, stage 1 wider) -------------
class Layer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mixer = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)


class Stack(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.layers = nn.ModuleList(Layer(d) for _ in range(n))
        self.rmsnorm = nn.LayerNorm(d)


class Routing(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q_proj_layer = nn.Linear(d, d, bias=False)
        self.k_proj_layer = nn.Linear(d, d, bias=False)


class Inner(nn.Module):
    def __init__(self, d_outer, d):
        super().__init__()
        self.main_network = Stack(d, 2)
        if d > d_outer:
            self.pad_dimension = nn.Parameter(torch.zeros(d - d_outer))


class Outer(nn.Module):
    def __init__(self, d0, d1):
        super().__init__()
        self.encoder = Stack(d0, 1)
        self.routing_module = Routing(d0)
        self.residual_proj = nn.Linear(d0, d0)
        self.main_network = Inner(d0, d1)
        self.decoder = Stack(d0, 1)


class TinyHNet(nn.Module):
    def __init__(self, d0=8, d1=12):
        super().__init__()
        self.embeddings = nn.Embedding(256, d0)
        self.backbone = Outer(d0, d1)
        self.lm_head = nn.Linear(d0, 256, bias=False)


def _trained(groups_by="single", widths=(8, 12)):
    """A TinyHNet after one real AdamW step, with the param groups a trainer would build."""
    torch.manual_seed(0)
    model = TinyHNet(*widths)
    named = list(model.named_parameters())
    if groups_by == "single":
        groups = [{"params": [p for _, p in named]}]
    else:  # per stage, each group saying its stage and multiplier, params in model order
        stage_of = {n: (1 if n.startswith("backbone.main_network.") else 0) for n, _ in named}
        groups = [
            {"params": [p for n, p in named if stage_of[n] == s], "stage": s, "lr_multiplier": m}
            for s, m in ((0, 2.0), (1, 1.0))
        ]
        if groups_by == "stage_without_label":
            for g in groups:
                del g["stage"]
    opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    loss = sum((p.float() ** 2).sum() for p in model.parameters()) + model.lm_head.weight.sum()
    loss.backward()
    opt.step()
    sched.step()
    return model, opt, sched


def _reference_stats(t):
    x = t.detach().double().numpy().ravel()
    finite = x[np.isfinite(x)]
    return {
        "l2_norm": float(np.sqrt((finite ** 2).sum())),
        "max_abs": float(np.abs(finite).max()),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "zero_frac": float((x == 0).mean()),
        "nan_count": int(np.isnan(x).sum()),
        "inf_count": int(np.isinf(x).sum()),
    }


def _assert_matches(stats, t):
    ref = _reference_stats(t)
    for key, value in ref.items():
        assert getattr(stats, key) == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert stats.numel == t.numel() and stats.shape == tuple(t.shape)


# -- torch checkpoints ---------------------------------------------------------------------
def test_trainer_checkpoint_gives_step_config_groups_scheduler_and_named_adam_moments(tmp_path):
    model, opt, sched = _trained("stage")
    config = {"model": {"arch_layout": ["m1", ["T2"], "m1"], "d_model": [8, 12]}, "training": {"learning_rate": 1e-3}}
    path = tmp_path / "step_000007.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": 7, "config": config, "rng": {"torch": torch.get_rng_state()}}, path)

    summary = read(path).checkpoints[0]

    assert summary.step == 7 and summary.config == config and summary.format == "torch"
    assert [g["stage"] for g in summary.param_groups] == [0, 1]
    assert [g["lr_multiplier"] for g in summary.param_groups] == [2.0, 1.0]
    assert all("params" not in g and g["betas"] == [0.9, 0.95] and g["weight_decay"] == 0.1 for g in summary.param_groups)
    assert summary.scheduler["last_epoch"] == 1
    sd = model.state_dict()
    assert [t.name for t in summary.tensors] == list(sd)
    # every parameter's moments are found under its own name, with its stage
    moments = {m.name: m for m in summary.optimizer_moments}
    order = _stage_order(model)  # opt.state_dict() numbers params group by group
    state_by_name = dict(zip(order, opt.state_dict()["state"].values()))
    assert set(moments) == {f"{n}.{k}" for n in order for k in ("exp_avg", "exp_avg_sq")}
    pad = moments["backbone.main_network.pad_dimension.exp_avg"]
    assert (pad.stage, pad.component) == (1, "pad")
    for name in ("lm_head.weight", "backbone.main_network.main_network.layers.1.mixer.weight"):
        _assert_matches(moments[f"{name}.exp_avg_sq"], state_by_name[name]["exp_avg_sq"])
    head = next(t for t in summary.tensors if t.name == "lm_head.weight")
    assert (head.stage, head.component) == (0, "head")
    _assert_matches(head, sd["lm_head.weight"])


def test_single_group_moments_are_named_by_model_order(tmp_path):
    model, opt, _ = _trained("single")
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(), "global_step": 3}, tmp_path / "c.pth")
    data = read(tmp_path / "c.pth")
    names = [m.name for m in data.checkpoints[0].optimizer_moments if m.name.endswith(".exp_avg")]
    assert names == [f"{n}.exp_avg" for n, _ in model.named_parameters()]
    assert data.checkpoints[0].step == 3 and not data.warnings


def _stage_order(model):
    """Parameter names in the order of per-stage groups (stage 0 first), as the optimizer numbers them."""
    names = [n for n, _ in model.named_parameters()]
    inner = [n for n in names if n.startswith("backbone.main_network.")]
    return [n for n in names if n not in inner] + inner


def test_unlabelled_groups_are_named_when_shapes_make_the_match_unique(tmp_path):
    model, opt, _ = _trained("stage_without_label", widths=(8, 12))
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    data = read(tmp_path / "c.pt")
    names = [m.name for m in data.checkpoints[0].optimizer_moments if m.name.endswith(".exp_avg")]
    assert names == [f"{n}.exp_avg" for n in _stage_order(model)] and not data.warnings


def test_groups_that_cannot_be_matched_uniquely_fall_back_to_index_names_with_a_warning(tmp_path):
    # equal widths: the stage 0 group's decoder weights could as well be stage 1's layers
    model, opt, _ = _trained("stage_without_label", widths=(8, 8))
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    data = read(tmp_path / "c.pt")
    moments = data.checkpoints[0].optimizer_moments
    assert moments and all(m.name.startswith("param") for m in moments)
    assert any("matched to parameter names" in w.message for w in data.warnings)


def test_labelled_stage_groups_are_named_even_when_widths_are_equal(tmp_path):
    model, opt, _ = _trained("stage", widths=(8, 8))
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    data = read(tmp_path / "c.pt")
    names = [m.name for m in data.checkpoints[0].optimizer_moments if m.name.endswith(".exp_avg")]
    assert names == [f"{n}.exp_avg" for n in _stage_order(model)] and not data.warnings


def test_plain_state_dict_tensors_are_tagged_and_step_comes_from_the_folder_name(tmp_path):
    model, _, _ = _trained()
    folder = tmp_path / "checkpoint-500"
    folder.mkdir()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    summary = read(folder / "pytorch_model.bin").checkpoints[0]
    assert summary.step == 500
    where = {t.name: (t.stage, t.component) for t in summary.tensors}
    assert where["embeddings.weight"] == (0, "embeddings")
    assert where["backbone.routing_module.q_proj_layer.weight"] == (0, "routing")
    assert where["backbone.main_network.main_network.layers.0.mixer.bias"] == (1, "main")
    assert summary.param_groups == () and summary.optimizer_moments == ()


def test_nan_and_inf_are_counted_and_left_out_of_the_other_statistics():
    t = torch.tensor([[1.0, float("nan"), -3.0], [0.0, float("inf"), float("-inf")]])
    s = tensor_stats("backbone.decoder.layers.0.mixer.weight", t)
    assert (s.nan_count, s.inf_count) == (1, 2)
    assert s.l2_norm == pytest.approx(math.sqrt(10)) and s.max_abs == 3.0
    assert s.mean == pytest.approx(-2 / 3) and s.zero_frac == pytest.approx(1 / 6)
    assert (s.stage, s.component, s.dtype) == (0, "decoder", "float32")


def test_chunked_statistics_equal_a_single_pass(monkeypatch):
    gen = torch.Generator().manual_seed(1)
    t = (torch.randn(1000, generator=gen) * 3 + 5).to(torch.bfloat16)
    t[::17] = 0
    whole = tensor_stats("w", t)
    monkeypatch.setattr(checkpoint, "CHUNK", 7)
    chunked = tensor_stats("w", t)
    for key in ("l2_norm", "max_abs", "mean", "std", "zero_frac"):
        assert getattr(chunked, key) == pytest.approx(getattr(whole, key), rel=1e-12)
    _assert_matches(chunked, t)
    assert chunked.dtype == "bfloat16"


def test_safetensors_are_read_one_tensor_at_a_time_with_metadata(tmp_path):
    from safetensors.torch import save_file

    tensors = {"embeddings.weight": torch.randn(16, 4), "backbone.residual_proj.weight": torch.zeros(4, 4)}
    tensors["embeddings.weight"][0, 0] = float("nan")
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt", "step": "12"})
    summary = read(tmp_path / "model.safetensors").checkpoints[0]
    assert summary.format == "safetensors" and summary.step == 12
    stats = {t.name: t for t in summary.tensors}
    assert stats["embeddings.weight"].nan_count == 1
    assert stats["backbone.residual_proj.weight"].zero_frac == 1.0
    _assert_matches(stats["embeddings.weight"], tensors["embeddings.weight"])


class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_needing_full_unpickling_is_refused_and_never_executed(tmp_path):
    # the same payload really runs code when unpickled unsafely ...
    live_marker = tmp_path / "live_marker"
    torch.save({"model": {"w": torch.ones(2)}, "x": _Payload(live_marker)}, tmp_path / "live.pt")
    torch.load(tmp_path / "live.pt", weights_only=False)
    assert live_marker.exists()
    # ... and our reader refuses it without running it
    marker = tmp_path / "marker"
    torch.save({"model": {"w": torch.ones(2)}, "x": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError) as err:
        read(tmp_path / "evil.pt")
    assert not marker.exists()
    assert str(tmp_path / "evil.pt") in str(err.value) and "\n" not in str(err.value)
    assert "open" in str(err.value)


def test_truncated_checkpoint_is_a_one_line_error_not_an_unsafe_one(tmp_path):
    model, _, _ = _trained()
    for name, legacy in (("zip.pt", False), ("legacy.pt", True)):
        full = tmp_path / ("full_" + name)
        torch.save(model.state_dict(), full, _use_new_zipfile_serialization=not legacy)
        cut = tmp_path / name
        cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        with pytest.raises(InputError) as err:
            read(cut)
        assert not isinstance(err.value, UnsafeCheckpointError)
        assert str(cut) in str(err.value) and "\n" not in str(err.value)


def test_legacy_non_zip_checkpoint_is_read_without_mmap(tmp_path):
    model, _, _ = _trained()
    torch.save({"state_dict": model.state_dict(), "iter_num": 40}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    summary = read(tmp_path / "old.pt").checkpoints[0]
    assert summary.step == 40 and len(summary.tensors) == len(model.state_dict())


def test_lightning_checkpoint_layout(tmp_path):
    model, opt, sched = _trained("single")
    torch.save({"state_dict": {"model." + k: v for k, v in model.state_dict().items()},
                "optimizer_states": [opt.state_dict()], "lr_schedulers": [sched.state_dict()],
                "global_step": 250, "epoch": 1, "hyper_parameters": {"lr": 1e-3, "warmup_steps": 10}},
               tmp_path / "epoch=1-step=250.ckpt")
    summary = read(tmp_path / "epoch=1-step=250.ckpt").checkpoints[0]
    assert summary.step == 250 and summary.config == {"lr": 1e-3, "warmup_steps": 10}
    assert summary.scheduler["last_epoch"] == 1 and len(summary.param_groups) == 1
    assert {t.stage for t in summary.tensors if t.name.startswith("model.backbone.main_network.main_network")} == {1}


def test_bare_optimizer_file_gives_moments_named_by_index(tmp_path):
    _, opt, _ = _trained("stage")
    torch.save(opt.state_dict(), tmp_path / "optimizer.pt")
    summary = read(tmp_path / "optimizer.pt").checkpoints[0]
    assert summary.tensors == () and summary.step == 1  # AdamW's own step count
    first = summary.optimizer_moments[0]
    assert first.name == "param0.exp_avg" and first.stage == 0


def test_a_bin_file_that_is_no_checkpoint_is_skipped_and_a_pt_one_is_an_error(tmp_path):
    np.arange(1000, dtype=np.uint16).tofile(tmp_path / "train.bin")  # nanoGPT token data
    assert read(tmp_path / "train.bin") is None
    (tmp_path / "junk.pt").write_bytes(b"hello, not a checkpoint")
    with pytest.raises(InputError, match="not a PyTorch"):
        read(tmp_path / "junk.pt")


def test_load_run_with_config_and_checkpoint_gives_typed_settings_and_writes_nothing(tmp_path):
    model, opt, sched = _trained("stage")
    config = {
        "model": {"arch_layout": ["m1", ["T2"], "m1"], "d_model": [8, 12], "d_intermediate": [0, 32], "vocab_size": 256},
        "training": {"learning_rate": 1e-3, "lr_multipliers": [2.0, 1.0], "warmup_steps": 10, "max_steps": 100,
                     "schedule": "wsd", "max_grad_norm": 1.0},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "checkpoints").mkdir()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": 10, "config": config}, tmp_path / "checkpoints" / "step_000010.pt")
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))

    run = load_run(tmp_path)

    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before
    assert run.training.learning_rate == 1e-3 and run.training.lr_multipliers == (2.0, 1.0)
    assert run.training.schedule == "wsd"
    # weight decay is stated only by the optimizer param groups: the checkpoint fills it in
    assert run.training.weight_decay == 0.1
    assert run.training.source == f"config.json + {run.checkpoints[0].path}"
    assert run.model.num_stages == 1 and run.model.d_model == (8, 12)
    assert [c.step for c in run.checkpoints] == [10]
    assert run.last_step == 10
    assert os.path.basename(run.checkpoints[0].path) == "step_000010.pt"


def test_an_unsafe_checkpoint_in_a_run_folder_is_a_warning_and_the_rest_still_loads(tmp_path):
    marker = tmp_path.parent / f"{tmp_path.name}_marker"
    torch.save({"model": {"w": torch.ones(2)}, "x": _Payload(marker)}, tmp_path / "evil.pt")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    run = load_run(tmp_path)
    assert not marker.exists() and run.has_metric("loss") and run.checkpoints == []
    assert [w.source for w in run.warnings if "refused" in w.message] == ["evil.pt"]


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.safetensors"])
def test_hugging_face_checkpoint_folder_gives_one_summary_with_optimizer_and_scheduler(tmp_path, weights):
    from safetensors.torch import save_file

    model, opt, sched = _trained("single")
    folder = tmp_path / "checkpoint-500"
    folder.mkdir()
    if weights.endswith(".bin"):
        torch.save(model.state_dict(), folder / weights)
    else:
        save_file(model.state_dict(), folder / weights)
    torch.save(opt.state_dict(), folder / "optimizer.pt")
    torch.save(sched.state_dict(), folder / "scheduler.pt")
    torch.save({"python": (3, (1, 2), None), "cpu": torch.get_rng_state()}, folder / "rng_state.pth")

    run = load_run(tmp_path)

    assert len(run.checkpoints) == 1 and not run.warnings
    summary = run.checkpoints[0]
    assert summary.step == 500 and summary.path.endswith(weights)
    assert len(summary.tensors) == len(model.state_dict()) and len(summary.param_groups) == 1
    assert summary.scheduler["last_epoch"] == 1
    assert len(summary.optimizer_moments) == 2 * len(list(model.parameters()))
    if weights.endswith(".bin"):  # torch keeps the model order, so moments get their names
        assert summary.optimizer_moments[0].name == "embeddings.weight.exp_avg"


def test_a_checkpoint_saved_without_optimizer_state_gives_no_moment_warning(tmp_path):
    import torch

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    sd = opt.state_dict()  # before any step: param groups, empty state
    torch.save({"model": model.state_dict(), "optimizer": sd, "step": 5}, tmp_path / "ckpt.pt")
    from hnet_diag.sources.checkpoint import read

    data = read(tmp_path / "ckpt.pt")
    assert data.checkpoints[0].param_groups and not data.checkpoints[0].optimizer_moments
    assert data.warnings == []
