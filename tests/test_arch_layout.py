"""One arch_layout grammar for the config source and the trainer (hnet_diag.arch_layout)."""
from __future__ import annotations

import pytest

from hnet_diag.arch_layout import parse_arch_layout, parse_layout_string
from hnet_diag.sources.run_settings import describe_layout
from hnet_diag.trainer.config import HNetConfig

LAYOUTS = [
    (["T6"], [64], [128]),
    (["m4", ["T22"], "m4"], [32, 48], [0, 96]),
    (["m4", ["T1m4", ["T27"], "m4T1"], "m4"], [32, 48, 64], [0, 96, 128]),
    (["m0", ["T2"], "m1"], [32, 48], [0, 96]),  # an empty encoder, as the official code allows
]


@pytest.mark.parametrize("layout, d_model, d_inter", LAYOUTS)
def test_the_config_source_and_the_trainer_read_a_layout_alike(layout, d_model, d_inter):
    stages, described = describe_layout(layout, d_inter)
    cfg = HNetConfig.from_dict({"arch_layout": layout, "d_model": d_model, "d_intermediate": d_inter,
                                "attn_cfg": {"num_heads": [4] * len(d_model), "rotary_emb_dim": [0] * len(d_model),
                                             "window_size": [-1] * len(d_model)}, "ssm_cfg": {"headdim": 16}})
    assert stages == cfg.num_stages == len(d_model) - 1
    for lv, desc in zip(cfg.levels(), described):
        for part in ("encoder", "main", "decoder"):
            groups = getattr(lv, part)
            if desc[part] is None:
                assert groups == () and (part == "main") != lv.is_innermost
            else:
                assert desc[part]["layers"] == sum(g.count for g in groups)
                assert desc[part]["mamba"] == sum(g.count for g in groups if g.is_mamba)


def test_a_group_of_zero_layers_is_valid_as_in_the_official_code():
    # goombalab/hnet's Isotropic builds `range(int(n_layer))` layers per group, so "m0" is a
    # stack with no layers (only its final RMSNorm); both readers accept it.
    [group] = parse_layout_string("m0")
    assert (group.count, group.height) == (0, 0)
    outer, inner = parse_arch_layout(["m0", ["T1"], "m0"])
    assert not outer.is_innermost and inner.is_innermost  # no layers is not "innermost"
    stages, described = describe_layout(["m0", ["T1"], "m0"])
    assert stages == 1 and described[0]["encoder"]["layers"] == 0


@pytest.mark.parametrize("layout, words", [
    (["m4", ["T27"]], "3 entries"),
    ("m4", "must be a list"),
    (["m4", "T22", "m4"], "arch_layout[1] must be a list"),
    (["m4", ["T2"], "m4x"], "'m4x'"),
    ([["m1"]] , "layer string"),
])
def test_malformed_layouts_are_refused_with_the_part_named(layout, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_arch_layout(layout)


def test_a_model_with_an_empty_encoder_builds_and_decodes_like_its_forward_pass():
    torch = pytest.importorskip("torch")
    from hnet_diag.trainer.model import HNetLM, stepwise_logits

    cfg = HNetConfig.from_dict({"arch_layout": ["m0", ["T1"], "m1"], "d_model": [16, 24], "d_intermediate": [0, 32],
                                "ssm_cfg": {"d_state": 8, "chunk_size": 8, "headdim": 8},
                                "attn_cfg": {"num_heads": [2, 2], "rotary_emb_dim": [0, 0], "window_size": [-1, -1]}})
    torch.manual_seed(0)
    model = HNetLM(cfg).eval()
    assert len(model.backbone.encoder.layers) == 0
    ids = torch.randint(0, 256, (1, 12))
    with torch.no_grad():
        forward = model(ids).logits
    assert torch.allclose(stepwise_logits(model, ids), forward, atol=1e-4)
