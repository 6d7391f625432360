import pytest

from hnet_diag.sources.stage_map import locate, strip_wrappers


@pytest.mark.parametrize(
    "name, expected",
    [
        ("embeddings.weight", (0, "embeddings")),
        ("lm_head.weight", (0, "head")),
        ("backbone.encoder.layers.0.mixer.in_proj.weight", (0, "encoder")),
        ("backbone.encoder.rmsnorm.weight", (0, "encoder")),
        ("backbone.decoder.layers.3.mixer.A_log", (0, "decoder")),
        ("backbone.routing_module.q_proj_layer.weight", (0, "routing")),
        ("backbone.residual_proj.bias", (0, "residual")),
        ("backbone.main_network.pad_dimension", (1, "pad")),
        # 1-stage model: stage 1 is the innermost plain stack
        ("backbone.main_network.main_network.layers.5.mixer.Wqkv.weight", (1, "main")),
        ("backbone.main_network.main_network.rmsnorm.weight", (1, "main")),
        # 2-stage model: stage 1 has its own encoder/routing, stage 2 is innermost
        ("backbone.main_network.encoder.layers.0.mlp.fc1.weight", (1, "encoder")),
        ("backbone.main_network.routing_module.k_proj_layer.weight", (1, "routing")),
        ("backbone.main_network.main_network.pad_dimension", (2, "pad")),
        ("backbone.main_network.main_network.main_network.layers.26.mlp.fc2.weight", (2, "main")),
        ("backbone.main_network.decoder.layers.4.norm2.weight", (1, "decoder")),
        # plain ["T6"] model: the backbone's stack is stage 0's main network
        ("backbone.main_network.layers.0.mixer.out_proj.weight", (0, "main")),
    ],
)
def test_official_hnet_names_map_to_stage_and_component(name, expected):
    assert locate(name) == expected


@pytest.mark.parametrize("prefix", ["module.", "model.", "_orig_mod.", "module._orig_mod.", "model.module."])
def test_wrapper_prefixes_from_ddp_compile_and_lightning_are_ignored(prefix):
    assert locate(prefix + "backbone.main_network.routing_module.q_proj_layer.weight") == (1, "routing")
    assert locate(prefix + "embeddings.weight") == (0, "embeddings")


def test_activation_checkpoint_wrappers_inside_a_name_are_ignored():
    name = "backbone.encoder.layers.2._checkpoint_wrapped_module.mixer.in_proj.weight"
    assert strip_wrappers(name) == "backbone.encoder.layers.2.mixer.in_proj.weight"
    assert locate(name) == (0, "encoder")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("transformer.wte.weight", (0, "embeddings")),
        ("transformer.h.3.attn.c_attn.weight", (0, "main")),
        ("model.layers.7.self_attn.q_proj.weight", (0, "main")),
        ("model.embed_tokens.weight", (0, "embeddings")),
        ("model.norm.weight", (0, "main")),
    ],
)
def test_plain_transformer_names_are_the_single_stage_zero(name, expected):
    assert locate(name) == expected


@pytest.mark.parametrize("name", ["discriminator.conv.weight", "step", "ema.shadow.0", "hnet.weird"])
def test_unknown_names_are_stage_none_component_other(name):
    assert locate(name) == (None, "other")
