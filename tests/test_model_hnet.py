"""The reference H-Net model: step-wise decoding reproduces the forward pass, parameter names
and stages follow the official checkpoints, and gradients reach every part of the router."""
import re

import pytest
import torch
import torch.nn.functional as F

from hnet_diag.trainer.config import HNetConfig
from hnet_diag.trainer.model import HNetLM, stage_of_param, stepwise_logits


def micro_config(stages: int, windows=(5, 4, 3)) -> HNetConfig:
    """Tiny widths, but every layer kind at every level and windows shorter than the test
    sequences, so the window-respecting caches are exercised."""
    ssm = {"chunk_size": 8, "d_conv": 4, "d_state": 8, "expand": 2, "headdim": 16}
    if stages == 1:
        return HNetConfig.from_dict({
            "arch_layout": ["m1T1", ["T2"], "T1m1"], "d_model": [32, 48], "d_intermediate": [64, 96],
            "ssm_cfg": ssm,
            "attn_cfg": {"num_heads": [2, 3], "rotary_emb_dim": [8, 16], "window_size": list(windows[:2])},
        })
    return HNetConfig.from_dict({
        "arch_layout": ["m1", ["T1m1", ["T2"], "m1T1"], "m1"], "d_model": [32, 48, 64],
        "d_intermediate": [0, 96, 128], "ssm_cfg": ssm,
        "attn_cfg": {"num_heads": [2, 3, 4], "rotary_emb_dim": [8, 16, 16], "window_size": list(windows)},
    })


def make_model(cfg, seed=0):
    torch.manual_seed(seed)
    model = HNetLM(cfg).eval()
    # Trained routers are not at their init; nudge q/k away from the identity so the
    # boundary decisions are not just "consecutive encoder outputs differ".
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "routing_module" in name or "residual_proj" in name:
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("stages", [1, 2])
def test_stepwise_logits_equal_the_forward_pass_with_windows_shorter_than_the_sequence(stages):
    model = make_model(micro_config(stages))
    ids = torch.randint(0, 256, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(ids)
    # The inner sequences must outgrow the windows, or the test would not cover them.
    for stats, inner_window in zip(out.stages, (4, 3)):
        inner_len = int(stats.boundary_mask.sum(-1).max())
        assert inner_len > inner_window + 1
    assert all(0 < s.boundary_fraction() < 1 for s in out.stages)
    stepped = stepwise_logits(model, ids)
    assert stepped.shape == out.logits.shape == (3, 40, 256)
    assert (stepped - out.logits).abs().max().item() < 1e-4


def test_decoding_that_ignores_the_attention_window_disagrees_with_the_forward_pass():
    """The known official bug: generation used full attention where training used a window."""
    model = make_model(micro_config(2))
    ids = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = model(ids).logits
    for module in model.modules():
        if hasattr(module, "window_size"):
            module.window_size = -1  # the decoding caches now keep every key
    stepped = stepwise_logits(model, ids)
    assert (stepped - reference).abs().max().item() > 1e-3


def test_step_records_each_stages_boundary_decisions():
    model = make_model(micro_config(2))
    ids = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(ids)
    cache = model.allocate_inference_cache(2, 12)
    outer = []
    for t in range(12):
        model.step(ids[:, t], cache)
        assert len(cache.last_boundaries) == 2
        outer.append(cache.last_boundaries[0])
    assert torch.equal(torch.stack(outer, 1).bool(), out.stages[0].boundary_mask)


def test_step_refuses_more_positions_than_the_cache_holds():
    model = make_model(micro_config(1))
    cache = model.allocate_inference_cache(1, 2)
    model.step(torch.tensor([65]), cache)
    model.step(torch.tensor([66]), cache)
    with pytest.raises(ValueError, match="larger"):
        model.step(torch.tensor([67]), cache)


OFFICIAL_NAME = re.compile(
    r"^(embeddings\.weight|lm_head\.weight|backbone\.(main_network\.)*("
    r"pad_dimension|routing_module\.(q|k)_proj_layer\.weight|residual_proj\.(weight|bias)"
    r"|(encoder|decoder|main_network)\.rmsnorm\.weight"
    r"|(encoder|decoder|main_network)\.layers\.\d+\.(norm1|norm2)\.weight"
    r"|(encoder|decoder|main_network)\.layers\.\d+\.mixer\."
    r"(in_proj\.weight|conv1d\.(weight|bias)|dt_bias|A_log|D|norm\.weight|out_proj\.weight|Wqkv\.weight)"
    r"|(encoder|decoder|main_network)\.layers\.\d+\.mlp\.(fc1|fc2)\.weight))$"
)


def test_parameter_names_follow_the_official_checkpoints():
    model = HNetLM(micro_config(2))
    names = list(model.state_dict())
    assert [n for n in names if not OFFICIAL_NAME.match(n)] == []
    for expected in (
        "backbone.encoder.layers.0.mixer.in_proj.weight",
        "backbone.routing_module.q_proj_layer.weight",
        "backbone.main_network.pad_dimension",
        "backbone.main_network.encoder.layers.0.mixer.Wqkv.weight",
        "backbone.main_network.encoder.layers.0.mlp.fc1.weight",
        "backbone.main_network.main_network.main_network.layers.1.mlp.fc2.weight",
        "backbone.main_network.main_network.main_network.rmsnorm.weight",
    ):
        assert expected in names


def test_stage_of_maps_parameters_to_their_hierarchy_level():
    model = HNetLM(micro_config(2))
    assert model.stage_of("embeddings.weight") == 0
    assert model.stage_of("lm_head.weight") == 0
    assert model.stage_of("backbone.encoder.layers.0.mixer.A_log") == 0
    assert model.stage_of("backbone.residual_proj.weight") == 0
    assert model.stage_of("backbone.main_network.pad_dimension") == 1
    assert model.stage_of("backbone.main_network.routing_module.k_proj_layer.weight") == 1
    assert model.stage_of("backbone.main_network.main_network.pad_dimension") == 2
    assert model.stage_of("backbone.main_network.main_network.main_network.layers.0.mixer.Wqkv.weight") == 2
    counts = {}
    for name, stage in model.param_stages().items():
        counts[stage] = counts.get(stage, 0) + 1
    assert sorted(counts) == [0, 1, 2]
    # One stage: the innermost stack is one more main_network hop but still stage 1.
    assert stage_of_param("backbone.main_network.main_network.layers.3.mixer.Wqkv.weight", 1) == 1
    assert stage_of_param("backbone.main_network.layers.0.mixer.Wqkv.weight", 0) == 0


def test_paper_initialisation():
    model = HNetLM(micro_config(2))
    for stage in (model.backbone, model.backbone.main_network):
        d = stage.d_model
        assert torch.equal(stage.routing_module.q_proj_layer.weight, torch.eye(d))
        assert torch.equal(stage.routing_module.k_proj_layer.weight, torch.eye(d))
        assert stage.residual_proj.weight.abs().max() == 0
    assert 0.8 < model.embeddings.weight.std().item() < 1.2
    assert 0.015 < model.lm_head.weight.std().item() < 0.025
    # Output projections are scaled down by sqrt(n_residuals) relative to input projections.
    enc = model.backbone.encoder.layers[0].mixer
    assert enc.out_proj.weight.std().item() < 0.8 * enc.in_proj.weight.std().item()


def test_gradients_reach_the_routing_projections_and_residual_proj():
    torch.manual_seed(0)
    model = HNetLM(micro_config(2)).train()
    ids = torch.randint(0, 256, (2, 48))
    out = model(ids)
    # Language-model loss alone: the router learns through the confidence STE.
    F.cross_entropy(out.logits[:, :-1].reshape(-1, 256), ids[:, 1:].reshape(-1)).backward()
    for stage in (model.backbone, model.backbone.main_network):
        for layer in (stage.routing_module.q_proj_layer, stage.routing_module.k_proj_layer, stage.residual_proj):
            assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert model.backbone.main_network.pad_dimension.grad.abs().sum() > 0


def test_ratio_loss_alone_trains_the_router():
    torch.manual_seed(0)
    model = HNetLM(micro_config(1))
    out = model(torch.randint(0, 256, (2, 32)))
    out.stages[0].ratio_loss(4.0).backward()
    assert model.backbone.routing_module.q_proj_layer.weight.grad.abs().sum() > 0
    assert model.backbone.encoder.layers[0].mixer.in_proj.weight.grad.abs().sum() > 0


def test_tied_embeddings_share_one_tensor():
    raw = micro_config(1).to_dict()
    raw["tie_embeddings"] = True
    model = HNetLM(HNetConfig.from_dict(raw))
    assert model.lm_head.weight is model.embeddings.weight


@pytest.mark.parametrize("name, paper_params", [("hnet_1stage_L", 680e6), ("hnet_2stage_XL", 1.6e9)])
def test_official_configs_build_the_paper_parameter_counts_on_the_meta_device(name, paper_params):
    """Shapes only (no memory): the layer shapes add up to the sizes in the paper's table."""
    from hnet_diag.trainer.config import bundled_config_path

    with torch.device("meta"):
        model = HNetLM(HNetConfig.from_json(bundled_config_path(name)))
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / paper_params - 1) < 0.01, count
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    # Mamba-2 in_proj packs z, x (2 x 2048), B, C (2 x 128) and dt (32 heads of 64).
    assert shapes["backbone.encoder.layers.0.mixer.in_proj.weight"] == (4384, 1024)
    assert shapes["backbone.encoder.layers.0.mixer.conv1d.weight"] == (2304, 1, 4)
    assert shapes["backbone.main_network.pad_dimension"] == (512,)
