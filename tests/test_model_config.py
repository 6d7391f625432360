"""The H-Net config reads the official goombalab/hnet JSON format and rejects bad ones clearly."""
import json

import pytest

from hnet_diag.errors import InputError
from hnet_diag.trainer.config import HNetConfig, bundled_config_path, parse_layout_string


def official(name):
    path = bundled_config_path(name)
    return path, json.loads(path.read_text())


def test_official_2stage_xl_config_parses_into_three_levels():
    path, raw = official("hnet_2stage_XL")
    cfg = HNetConfig.from_json(path)
    assert cfg.num_stages == 2
    levels = cfg.levels()
    assert [g.kind + str(g.count) for g in levels[0].encoder] == ["m4"]
    assert [g.kind + str(g.count) for g in levels[1].encoder] == ["T1", "m4"]
    assert [g.kind + str(g.count) for g in levels[1].decoder] == ["m4", "T1"]
    assert levels[2].is_innermost and levels[2].main[0].count == 27
    assert cfg.attn_cfg.at(0)["window_size"] == 1023 and cfg.attn_cfg.at(2)["window_size"] == -1
    assert cfg.ssm_cfg.at(1)["headdim"] == 64  # Mamba2's default when the file omits it


def test_official_configs_round_trip_unchanged():
    for name in ("hnet_2stage_XL", "hnet_1stage_L"):
        path, raw = official(name)
        assert HNetConfig.from_json(path).to_dict() == raw


def test_official_1stage_l_config_has_one_stage_and_rounded_mlp_width():
    _, raw = official("hnet_1stage_L")
    cfg = HNetConfig.from_dict(raw)
    assert cfg.num_stages == 1
    assert cfg.mlp_width(1) == 4096
    raw["d_intermediate"] = [0, 4000]
    assert HNetConfig.from_dict(raw).mlp_width(1) == 4096  # official SwiGLU rounds up to 128s


def test_plain_layout_has_zero_stages():
    cfg = HNetConfig.from_dict({"arch_layout": ["T6"], "d_model": [64], "d_intermediate": [128],
                                "attn_cfg": {"num_heads": [4], "rotary_emb_dim": [8], "window_size": [-1]}})
    assert cfg.num_stages == 0 and cfg.levels()[0].is_innermost


@pytest.mark.parametrize(
    "change, words",
    [
        ({"d_model": [1024, 1536]}, "d_model has 2 entries"),
        ({"arch_layout": ["m4", ["T1x4", ["T27"], "m4T1"], "m4"]}, "'T1x4'"),
        ({"arch_layout": ["m4", ["T27"]]}, "3 entries"),
        ({"d_intermediate": [0, 0, 5504]}, "d_intermediate[1] is 0"),
        ({"d_model": [1024, 1000, 2048]}, "not shrink"),
        ({"attn_cfg": {"num_heads": [16, 7, 16], "rotary_emb_dim": [32, 48, 64], "window_size": [1023, 1023, -1]}},
         "num_heads[1]"),
        ({"attn_cfg": {"num_heads": [16, 16], "rotary_emb_dim": [32, 48], "window_size": [1023, -1]}},
         "attn_cfg.num_heads has 2 entries"),
        ({"ssm_cfg": {"chunk_size": 256, "d_conv": 4, "d_state": 128, "expand": 2, "headdim": 48}}, "headdim"),
        ({"d_modle": [1]}, "unknown H-Net config key"),
        ({"attn_cfg": {"num_heads": [16, 16, 16], "rotary_emb_dim": [32, 48, 64], "window_size": [1023, 1023, -1],
                       "qkv_proj_bias": True}}, "unknown attn_cfg key"),
    ],
)
def test_invalid_config_raises_value_error_naming_the_problem(change, words):
    _, raw = official("hnet_2stage_XL")
    raw.update(change)
    with pytest.raises(ValueError) as err:
        HNetConfig.from_dict(raw)
    assert words in str(err.value)


def test_malformed_config_file_is_an_input_error_naming_the_file(tmp_path):
    bad = tmp_path / "cfg.json"
    bad.write_text('{"arch_layout": ["m4", ["T22"], "m4"], "d_model": [1024]}')
    with pytest.raises(InputError) as err:
        HNetConfig.from_json(bad)
    assert str(bad) in str(err.value) and "d_model" in str(err.value)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError):
        HNetConfig.from_json(tmp_path / "broken.json")


def test_layout_string_parsing_counts_layers_and_residual_height():
    groups = parse_layout_string("T1m4")
    assert [(g.kind, g.count, g.height) for g in groups] == [("T", 1, 2), ("m", 4, 4)]
    for bad in ("m4x", "", "4m", "m", "x4"):
        with pytest.raises(ValueError):
            parse_layout_string(bad)


def test_bundled_tiny_configs_build_models_of_one_to_five_million_parameters():
    from hnet_diag.trainer.model import HNetLM

    counts = {}
    for name, stages in (("hnet_1stage_tiny", 1), ("hnet_2stage_tiny", 2), ("transformer_tiny", 0)):
        cfg = HNetConfig.from_json(bundled_config_path(name))
        assert cfg.num_stages == stages
        counts[name] = sum(p.numel() for p in HNetLM(cfg).parameters())
        assert 1_000_000 <= counts[name] <= 5_000_000, (name, counts[name])
    # The throughput benchmark compares the 2-stage model with a Transformer of its size.
    assert abs(counts["transformer_tiny"] / counts["hnet_2stage_tiny"] - 1) < 0.1


def test_unknown_bundled_config_name_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match="hnet_2stage_tiny"):
        bundled_config_path("hnet_9stage")
