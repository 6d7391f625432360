"""Per-rank logs: each file keeps its rank; a rank that leaves the others is measured.

fixtures/multirank/ holds real 4-rank DDP runs (fixtures/multirank/make_ddp_runs.py): a
healthy one, and one whose rank-2 replica has its weights corrupted at step 60.
"""
import json
import math
import shutil
from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.analyzers.ranks import analyze_ranks
from hnet_diag.sources.ranks import rank_of

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "multirank"


@pytest.mark.parametrize("path, rank", [
    ("logs/rank0/metrics.jsonl", 0), ("train_rank_3.log", 3), ("run/worker-2.log", 2), ("tb/rank=12/x.jsonl", 12),
    ("x/attempt_0/5/stdout.log", 5), ("log_r7.txt", 7), ("gpu_1/train.log", 1),
    ("metrics.jsonl", None), ("events.out.tfevents.1.host.456.0", None), ("step_100.pt", None), ("framework.log", None),
])
def test_rank_from_path(path, rank):
    assert rank_of(path) == rank


def test_rank_column():
    run = load_run(RUNS / "healthy")
    assert sorted(run.scalars["rank"].unique()) == [0, 1, 2, 3]
    assert run.scalars.groupby("stream")["rank"].nunique().eq(1).all()
    single = load_run(RUNS / "healthy" / "rank1" / "metrics.jsonl")  # the name inside the run says nothing
    assert single.scalars["rank"].isna().all()


def test_healthy_ranks_agree():
    res = analyze_ranks(load_run(RUNS / "healthy"))
    assert res.ok and res.ranks == (0, 1, 2, 3) and set(res.metrics) == {"loss", "grad_norm"}
    assert res.departures == ()


def test_corrupted_replica_departs_on_loss_from_its_onset():
    res = analyze_ranks(load_run(RUNS / "desync"))
    (d,) = res.departures
    assert (d.metric, d.rank) == ("loss", 2)
    assert 58 <= d.first_step <= 62 and d.last_step >= 110  # it never rejoins
    assert d.median_rel_gap > 1.0 and d.value > d.others_median


def test_rank_alone_writing_nan(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(RUNS / "healthy", run_dir)
    f = run_dir / "rank3" / "metrics.jsonl"
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    for r in rows[100:]:
        r["grad_norm"] = float("nan")
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d,) = analyze_ranks(load_run(run_dir)).departures
    assert (d.metric, d.rank, d.first_step) == ("grad_norm", 3, 100) and d.non_finite == 20
    assert math.isnan(d.value)


def test_two_ranks_cannot_say_which_departed(tmp_path):
    for k in (0, 1):
        shutil.copytree(RUNS / "desync" / f"rank{k}", tmp_path / f"rank{k}")
    res = analyze_ranks(load_run(tmp_path))
    assert not res.ok and "at least 3" in res.reason


def test_hnd601_end_to_end():
    from hnet_diag import diagnose

    (bad,) = [f for f in diagnose(load_run(RUNS / "desync")).findings if f.code == "HND601"]
    assert bad.is_alarm and "rank 2" in bad.message and "step 60" in bad.message
    (ok,) = [f for f in diagnose(load_run(RUNS / "healthy")).findings if f.code == "HND601"]
    assert not ok.is_alarm
