"""The model rebuilt from a run's checkpoint is one fact of an analysis: built once, shared, unchanged.

The decoding check, the boundary map and the samples each need the live model; one
`hnet-diag analyze` builds it once (kept on the analysis' shared view of the run, by the
checkpoint file and its model config), and two different checkpoint files never share one.
Real checkpoints written by the bundled trainer (fixtures/runs/*/checkpoints); the builder
counted is the class that constructs the torch module.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import RUNS
from hnet_diag import load_run
from hnet_diag.analyzers.cache import cached
from hnet_diag.cli import main
from hnet_diag.sources.reference_model import boundary_input, decoding_input, rebuild_model

torch = pytest.importorskip("torch")


@pytest.fixture
def built(monkeypatch):
    """Every HNetLM constructed while the test runs (the real class, counted)."""
    import hnet_diag.trainer.model as model_module

    made: list = []

    class Counted(model_module.HNetLM):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(model_module, "HNetLM", Counted)
    return made


def _same_weights(model, path) -> bool:
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state.get("model", state)
    own = model.state_dict()
    return own.keys() == saved.keys() and all(torch.equal(own[k], saved[k]) for k in own)


def test_one_analyze_rebuilds_the_checkpoints_model_once_and_leaves_it_unchanged(tmp_path, built):
    out = tmp_path / "report.json"
    assert main(["analyze", str(RUNS / "example"), "--no-plots", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    # all three users of the model ran on it: the decoding check, the boundary map, the samples
    decoding = next(c for c in report["checks"] if c["code"] == "HND504")
    assert decoding["status"] == "pass"
    assert report["boundaries"]["stages"] and not report["boundaries"]["reason"]
    assert report["samples"]["sets"] and not report["samples"]["reason"]
    assert len(built) == 1
    model = built[0]
    assert not model.training  # eval mode, as every user expects
    assert not any(m.training for m in model.modules())
    assert _same_weights(model, RUNS / "example" / "checkpoints" / "step_000200.pt")  # no user changed it


def test_two_checkpoints_in_one_analysis_do_not_share_a_model(tmp_path, built):
    folder = tmp_path / "two"
    shutil.copytree(RUNS / "healthy", folder)
    other = folder / "checkpoints" / "step_000400.pt"  # another real run's checkpoint, same model config
    shutil.copy(RUNS / "no_ratio_loss" / "checkpoints" / "step_000300.pt", other)
    run = load_run(folder)
    view = cached(run)
    by_path = {str(c.path): c for c in run.checkpoints}
    assert len(by_path) == 2
    models = {}
    for path, ckpt in sorted(by_path.items()):
        model, _cfg, reason = rebuild_model(ckpt, view=view)
        assert reason is None and _same_weights(model, path)
        models[path] = model
    assert len(built) == 2 and len({id(m) for m in models.values()}) == 2
    # asked again within the analysis: the same models, no new build
    for path, ckpt in by_path.items():
        assert rebuild_model(ckpt, view=view)[0] is models[path]
    assert len(built) == 2
    # the newest checkpoint is the one the checks run, and they share it
    assert decoding_input(view).model is boundary_input(view).model is models[str(other)]
    assert len(built) == 2


def test_a_checkpoint_rewritten_in_place_is_rebuilt_and_a_plain_run_is_not_cached(tmp_path, built):
    folder = tmp_path / "rewritten"
    shutil.copytree(RUNS / "healthy", folder)
    path = folder / "checkpoints" / "step_000300.pt"
    view = cached(load_run(folder))
    first = decoding_input(view).model
    assert decoding_input(view).model is first and len(built) == 1
    shutil.copy(RUNS / "no_ratio_loss" / "checkpoints" / "step_000300.pt", path)  # new bytes, same name
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = decoding_input(view).model
    assert second is not first and len(built) == 2 and _same_weights(second, path)
    # outside an analysis (a notebook's plain Run) every call gets a model of its own
    run = load_run(folder)
    assert decoding_input(run).model is not decoding_input(run).model and len(built) == 4


def test_a_lower_size_bound_is_still_refused_when_the_model_was_built(built):
    view = cached(load_run(RUNS / "example"))
    assert decoding_input(view).ok and len(built) == 1
    small = boundary_input(view, max_params=1000)
    assert not small.ok and "max_params=1,000" in small.reason and len(built) == 1
