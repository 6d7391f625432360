"""Sharded checkpoints give the same per-tensor statistics as the unsharded file of the same weights.

Every layout is written by its real library: huggingface_hub's sharding helper (the one
transformers' save_pretrained uses) and torch.distributed.checkpoint.
"""
import os
import pickle
import warnings

import pytest
import torch
from torch import nn

from hnet_diag import load_run
from hnet_diag.errors import InputError, UnsafeCheckpointError
from hnet_diag.sources import checkpoint, sharded

hf = pytest.importorskip("huggingface_hub")


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(64, 16), nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16), nn.LayerNorm(16))


def _trained():
    m = _model()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    for _ in range(2):
        m(torch.randint(0, 64, (4, 5))).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    return m, opt


def _snapshot(folder):
    return sorted((p, os.stat(os.path.join(d, p)).st_mtime_ns) for d, _, fs in os.walk(folder) for p in fs)


def _stats(summary):
    return [(t.name, t.shape, t.dtype, t.l2_norm, t.max_abs, t.mean, t.std, t.zero_frac) for t in summary.tensors]


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_hf_shards_match_unsharded(tmp_path, safe):
    sd = _model().state_dict()
    whole, shards = tmp_path / "whole", tmp_path / "sharded"
    whole.mkdir(), shards.mkdir()
    hf.save_torch_state_dict(sd, whole, safe_serialization=safe)  # one file: no index
    hf.save_torch_state_dict(sd, shards, safe_serialization=safe, max_shard_size=3000)
    index = "model.safetensors.index.json" if safe else "pytorch_model.bin.index.json"
    assert (shards / index).is_file() and len(list(shards.glob("*-of-*"))) >= 3
    before = _snapshot(shards)
    run_whole, run_sharded = load_run(whole), load_run(shards)
    assert len(run_sharded.checkpoints) == 1, "the shards are one checkpoint, not one per shard"
    assert run_sharded.files == [index]
    assert _stats(run_sharded.checkpoints[0]) == _stats(run_whole.checkpoints[0])
    assert _snapshot(shards) == before


def test_hf_sharded_trainer_folder_folds_optimizer(tmp_path):
    m, opt = _trained()
    ckpt = tmp_path / "checkpoint-40"
    ckpt.mkdir()
    hf.save_torch_state_dict(m.state_dict(), ckpt, safe_serialization=False, max_shard_size=3000)
    torch.save(opt.state_dict(), ckpt / "optimizer.pt")
    (summary,) = load_run(ckpt).checkpoints
    assert summary.step == 40
    assert summary.param_groups[0]["lr"] == pytest.approx(1e-3)
    names = {t.name for t in summary.optimizer_moments}
    assert "1.weight.exp_avg_sq" in names  # matched to parameter names through the merged shards


def test_hf_index_naming_a_missing_shard_is_one_line(tmp_path):
    hf.save_torch_state_dict(_model().state_dict(), tmp_path, max_shard_size=3000)
    victim = sorted(tmp_path.glob("*-of-*.safetensors"))[0]
    victim.unlink()
    with pytest.raises(InputError) as err:
        sharded.read_index(tmp_path / "model.safetensors.index.json")
    assert "model.safetensors.index.json" in str(err.value) and victim.name in str(err.value)
    assert "\n" not in str(err.value)


def test_dcp_matches_torch_save(tmp_path):
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    m, opt = _trained()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msd, osd = get_state_dict(m, opt)
        dcp.save({"model": msd, "optimizer": osd, "step": 11, "config": {"lr": 1e-3, "d_model": 16}},
                 checkpoint_id=tmp_path / "dcp", no_dist=True)
    torch.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "step": 11}, tmp_path / "whole.pt")
    before = _snapshot(tmp_path / "dcp")
    run = load_run(tmp_path / "dcp")
    (dist_summary,) = run.checkpoints
    (whole,) = checkpoint.read(tmp_path / "whole.pt").checkpoints
    assert dist_summary.format == "dcp" and dist_summary.step == 11
    assert _stats(dist_summary) == _stats(whole)
    moments = lambda s: sorted((t.name, t.l2_norm, t.max_abs) for t in s.optimizer_moments)  # noqa: E731
    assert moments(dist_summary) == moments(whole)
    assert dist_summary.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert dist_summary.config == {"lr": 1e-3, "d_model": 16}
    assert _snapshot(tmp_path / "dcp") == before


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_dcp_metadata_needing_code_is_refused_unexecuted(tmp_path, monkeypatch):
    import torch.distributed.checkpoint as dcp

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save({"w": torch.ones(3)}, checkpoint_id=tmp_path / "dcp", no_dist=True)
    (tmp_path / "dcp" / ".metadata").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(UnsafeCheckpointError, match=r"refused: would run code \(posix\.system\)"):
        sharded.read_dcp(tmp_path / "dcp" / ".metadata")
    assert not (tmp_path / "pwned").exists()


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "sharded")


def test_dcp_split_over_two_ranks_matches_whole():
    """Written by fixtures/sharded/make_dcp_two_ranks.py: matrices split by rows over two ranks."""
    folder = os.path.join(FIXTURES, "dcp_two_ranks")
    (dist_summary,) = sharded.read_dcp(os.path.join(folder, ".metadata")).checkpoints
    (whole,) = checkpoint.read(os.path.join(FIXTURES, "dcp_two_ranks_whole.pt")).checkpoints
    assert dist_summary.step == whole.step == 120
    assert sorted(_stats(dist_summary)) == sorted(_stats(whole))
    assert any(t.numel >= 64 * 16 for t in dist_summary.tensors)
