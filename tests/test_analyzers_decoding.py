"""Decoding consistency on real (tiny) reference-trainer checkpoints."""
import pytest

torch = pytest.importorskip("torch")

from hnet_diag import load_run  # noqa: E402
from hnet_diag.analyzers.decoding import analyze_decoding, compare_logits  # noqa: E402
from hnet_diag.sources.reference_model import decoding_input, held_out_sequences  # noqa: E402
from conftest import close_figures  # noqa: E402

TINY = {
    "arch_layout": ["m1", ["T1"], "m1"], "d_model": [32, 48], "d_intermediate": [0, 64], "vocab_size": 256,
    "ssm_cfg": {"chunk_size": 16, "d_conv": 4, "d_state": 16, "expand": 2, "headdim": 16},
    "attn_cfg": {"num_heads": [2, 2], "rotary_emb_dim": [8, 8], "window_size": [-1, 16]},
    "tie_embeddings": False,
}


def save_reference_checkpoint(folder, seq_len=32):
    from hnet_diag.trainer.config import HNetConfig
    from hnet_diag.trainer.model import HNetLM

    torch.manual_seed(0)
    cfg = HNetConfig.from_dict(TINY)
    model = HNetLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "step": 20,
                "config": {"model": cfg.to_dict(), "training": {"seq_len": seq_len}}}, folder / "ckpt_000020.pt")


def test_reference_checkpoint_decodes_step_by_step_like_its_forward_pass(tmp_path):
    save_reference_checkpoint(tmp_path)
    res = analyze_decoding(decoding_input(load_run(tmp_path), n_sequences=2))
    assert res.ok, res.reason
    assert res.seq_len == 32 and res.n_sequences == 2 and res.checkpoint_step == 20
    assert len(res.per_position_max) == 32
    assert res.max_abs_diff < 1e-4 and res.first_position_above is None
    assert res.max_abs_logit > 0.01  # the comparison is against non-trivial logits
    assert res.attention_windows == (-1, 16)
    close_figures()


def test_compare_logits_locates_where_two_computations_part_ways():
    fwd = torch.randn(2, 10, 256)
    step = fwd.clone()
    step[1, 6:, :3] += 0.5  # e.g. a window ignored from position 6 on
    cmp = compare_logits(step, fwd)
    assert cmp["max_abs_diff"] == pytest.approx(0.5, abs=1e-6)
    assert [v > 1e-3 for v in cmp["per_position_max"]] == [False] * 6 + [True] * 4


def test_held_out_sequences_are_fixed_by_the_seed():
    a, b, c = held_out_sequences(3, 32, seed=1), held_out_sequences(3, 32, seed=1), held_out_sequences(3, 32, seed=2)
    assert a.shape == (3, 32) and torch.equal(a, b) and not torch.equal(a, c)


def test_a_plain_state_dict_is_not_a_reference_checkpoint(tmp_path):
    torch.save(torch.nn.Linear(4, 4).state_dict(), tmp_path / "model.pt")
    res = analyze_decoding(decoding_input(load_run(tmp_path)))
    assert res.status == "no_data" and "reference-trainer" in res.reason


def test_a_model_config_that_does_not_fit_the_weights_is_no_data_not_a_crash(tmp_path):
    from hnet_diag.trainer.config import HNetConfig

    other = dict(TINY, d_model=[32, 64])
    torch.save({"model": torch.nn.Linear(4, 4).state_dict(), "step": 3,
                "config": {"model": HNetConfig.from_dict(other).to_dict()}}, tmp_path / "ckpt.pt")
    res = analyze_decoding(decoding_input(load_run(tmp_path)))
    assert res.status == "no_data" and "cannot rebuild" in res.reason


def test_decoding_that_ignores_the_attention_window_is_caught_beyond_the_window():
    """The official bug, reproduced: full attention while decoding, a window in training."""
    from hnet_diag.analyzers.decoding import decoding_consistency
    from hnet_diag.trainer.config import HNetConfig
    from hnet_diag.trainer.model import HNetLM, stepwise_logits

    torch.manual_seed(0)
    cfg = dict(TINY, arch_layout=["T1", ["T1"], "T1"], d_intermediate=[64, 64],
               attn_cfg={"num_heads": [2, 2], "rotary_emb_dim": [8, 8], "window_size": [8, -1]})
    model = HNetLM(HNetConfig.from_dict(cfg)).eval()
    ids = held_out_sequences(2, 24, seed=0)

    def stepwise_without_window(m, x):
        for module in m.modules():
            if hasattr(module, "window_size"):
                module.window_size = -1
        return stepwise_logits(m, x)

    assert decoding_consistency(model, ids)["max_abs_diff"] < 1e-4
    broken = decoding_consistency(HNetLM(HNetConfig.from_dict(cfg)).eval(), ids, stepwise_without_window)
    first_bad = next(i for i, v in enumerate(broken["per_position_max"]) if v > 1e-3)
    assert first_bad >= 8  # identical until the window is first exceeded


def test_a_model_above_max_params_is_not_rebuilt_unless_asked(tmp_path):
    save_reference_checkpoint(tmp_path)
    run = load_run(tmp_path)
    small = analyze_decoding(decoding_input(run, n_sequences=1, seq_len=8, max_params=1000))
    assert small.status == "no_data" and "max_params" in small.reason
    assert analyze_decoding(decoding_input(run, n_sequences=1, seq_len=8, max_params=None)).ok


def test_the_analyzer_opens_no_file_it_compares_the_model_it_is_handed(tmp_path):
    save_reference_checkpoint(tmp_path)
    inputs = decoding_input(load_run(tmp_path), n_sequences=1, seq_len=16)
    for f in tmp_path.iterdir():
        f.unlink()  # the checkpoint is gone: the analyzer must not need it
    res = analyze_decoding(inputs)
    assert res.ok and res.seq_len == 16 and res.n_sequences == 1 and res.checkpoint_step == 20
