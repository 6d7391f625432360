"""The committed fixture runs (fixtures/runs/, made by fixtures/make_runs.py) are what the script says.

These runs were trained by the reference trainer; the tests check that each folder is a
complete run that load_run reads, and that its recorded settings are the ordinary settings
make_runs.py gives it, so the pathology comes from those settings and nothing else.
"""
import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "fixtures" / "runs"


def _make_runs():
    spec = importlib.util.spec_from_file_location("make_runs", ROOT / "fixtures" / "make_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flag(flags, name):
    return flags[flags.index(name) + 1] if name in flags else None


@pytest.mark.parametrize("name", list(_make_runs().RUNS))
def test_each_fixture_run_records_the_settings_make_runs_gave_it(name):
    flags, keep_checkpoint = _make_runs().RUNS[name]
    training = json.loads((RUNS / name / "config.json").read_text())["training"]
    for flag, key in [("--max-steps", "max_steps"), ("--warmup-steps", "warmup_steps"), ("--stop-at-step", "stop_at_step")]:
        if _flag(flags, flag) is not None:
            assert training[key] == int(_flag(flags, flag))
    if _flag(flags, "--lr-multipliers"):
        assert training["lr_multipliers"] == [float(x) for x in _flag(flags, "--lr-multipliers").split(",")]
    if _flag(flags, "--ratio-loss-weight"):
        assert training["ratio_loss_weight"] == float(_flag(flags, "--ratio-loss-weight"))
    for flag, key in [("--max-grad-norm", "max_grad_norm"), ("--learning-rate", "learning_rate")]:
        if _flag(flags, flag) is not None:
            assert training[key] == float(_flag(flags, flag))
    records = [ln for ln in (RUNS / name / "metrics.jsonl").read_text().splitlines() if '"event"' not in ln]
    last = training["stop_at_step"] or training["max_steps"]
    assert json.loads(records[-1])["step"] == last and len(records) == last
    assert list((RUNS / name).glob("events.out.tfevents.*")) and (RUNS / name / "train.log").exists()
    assert (RUNS / name / "checkpoints").exists() == keep_checkpoint
    assert "/work/" not in (RUNS / name / "config.json").read_text()


def test_the_example_run_has_pure_sampling_generation_settings_and_a_checkpoint():
    gen = json.loads((RUNS / "example" / "generation.json").read_text())
    assert gen["temperature"] == 1.0 and gen["top_p"] == 1.0 and gen["output"]
    assert (ROOT / gen["checkpoint"]).is_file()


def test_load_run_reads_the_healthy_fixture_with_every_canonical_trainer_metric():
    from hnet_diag import load_run

    run = load_run(RUNS / "healthy")
    for name in ["loss", "val_loss", "bpb", "lr", "lr/stage2", "grad_norm/stage0", "clipped",
                 "ratio_loss/stage1", "compression/stage0", "boundary_undecided/stage1", "tokens_per_s"]:
        assert run.has_metric(name), name
    assert run.last_step == 300


def test_the_tight_clipping_run_clipped_every_step_and_the_nan_run_logged_nan_until_its_last_step():
    from hnet_diag import load_run

    clipping = load_run(RUNS / "tight_clipping")
    assert clipping.metric("clipped").values.min() == 1.0
    nan = [json.loads(line) for line in (RUNS / "nan_divergence" / "metrics.jsonl").read_text().splitlines()
           if '"event"' not in line]
    assert nan[-1]["loss"] == "nan" and nan[-1]["step"] == 60
    loss = load_run(RUNS / "nan_divergence").metric("loss")
    assert math.isnan(loss.iloc[-1]) and math.isfinite(loss.iloc[0])


def test_the_overfit_run_trained_on_the_corpus_excerpt_make_runs_writes():
    make_runs = _make_runs()
    training = json.loads((RUNS / "overfit" / "config.json").read_text())["training"]
    assert training["data"] == [make_runs.excerpt_name("overfit")]
    assert len(make_runs.bundled_corpus_bytes()[:make_runs.EXCERPT_BYTES["overfit"]]) == make_runs.EXCERPT_BYTES["overfit"]


def test_the_long_generation_run_is_healthy_logs_plus_a_generation_past_the_training_context():
    source, flags = _make_runs().GENERATION_ONLY["long_generation"]
    folder = RUNS / "long_generation"
    for name in ["config.json", "metrics.jsonl"]:
        assert (folder / name).read_bytes() == (RUNS / source / name).read_bytes()
    assert not (folder / "checkpoints").exists()
    gen = json.loads((folder / "generation.json").read_text())
    for flag, key in [("--max-new-tokens", "max_new_tokens"), ("--temperature", "temperature"),
                      ("--top-p", "top_p"), ("--repetition-penalty", "repetition_penalty")]:
        assert gen[key] == float(_flag(flags, flag))
    assert gen["max_new_tokens"] > json.loads((folder / "config.json").read_text())["training"]["seq_len"]
    assert (ROOT / gen["checkpoint"]).is_file() and gen["checkpoint"].startswith(f"fixtures/runs/{source}/checkpoints/")
