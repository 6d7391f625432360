"""`hnet-diag train --stop-on`: the bundled trainer judges itself while it trains."""
from __future__ import annotations

import json
from pathlib import Path

from hnet_diag.trainer.train import TrainConfig, load_checkpoint, train

MICRO = dict(batch_size=2, seq_len=64, eval_every=1000)


def _lines(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_stop_on_critical_stops_a_diverging_run_saves_a_checkpoint_and_says_why(tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(**MICRO, max_steps=200, learning_rate=10.0, max_grad_norm=0.0)
    result = train(cfg, "hnet_1stage_tiny", out, quiet=True, stop_on="critical")
    records = _lines(out)
    first_nan = next(r["step"] for r in records if r.get("loss") == "nan")
    assert result["step"] < 200 and result["stopped"] and "HND404" in result["stopped"]
    assert f"first at step {first_nan}" in result["stopped"]
    end = records[-1]
    assert end["event"] == "stopped" and end["step"] == result["step"] and end["reason"] == result["stopped"]
    log = (out / "train.log").read_text().splitlines()
    assert log[-1].startswith(f"run stopped at step {result['step']} of 200 planned: --stop-on critical: HND404")
    assert load_checkpoint(Path(result["checkpoint"]))["step"] == result["step"]


def test_a_run_that_reaches_its_end_says_finished_and_stop_on_lets_a_healthy_run_finish(tmp_path):
    out = tmp_path / "run"
    result = train(TrainConfig(**MICRO, max_steps=8), "transformer_tiny", out, quiet=True, stop_on="critical")
    records = _lines(out)
    assert result["stopped"] is None and result["step"] == 8
    assert records[-1] == {"step": 8, "wall_time": records[-1]["wall_time"], "event": "finished"}
    assert [r["step"] for r in records[:-1]] == list(range(1, 9))
    assert len((out / "train.log").read_text().splitlines()) == 8  # one line per step, no end line
