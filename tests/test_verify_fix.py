"""`hnet-diag verify-fix`: the report's plan as bundled-trainer commands, trained and compared.

The dry runs check the exact commands against the committed runs' own config.json; one
real follow-up (20 steps of the 158k-parameter micro model) checks training + compare end
to end, and that a short follow-up never claims to resolve what it did not reach.
"""
from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from hnet_diag.cli import main

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def _train_args(line: str):
    """Parse a printed `hnet-diag train ...` line with the train command's own parser."""
    import argparse

    from hnet_diag.commands import train

    argv = shlex.split(line)
    assert argv[:2] == ["hnet-diag", "train"], line
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    return p.parse_args(argv[2:])


def _config(name: str) -> dict:
    return json.loads((RUNS / name / "config.json").read_text())["training"]


def _dry_run(capsys, name: str, *extra: str) -> list[str]:
    assert main(["verify-fix", str(RUNS / name), "--dry-run", "--out", "/tmp/never-written", *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_follow_up_changes_only_the_recommended_settings(capsys):
    lines = _dry_run(capsys, "aggressive_multipliers")
    assert len(lines) == 2 and lines[1].startswith("hnet-diag compare ")
    args = _train_args(lines[0])
    original = _config("aggressive_multipliers")
    assert args.lr_multipliers == (2.0, 1.5, 1.0)  # the report's fix
    for key in ("learning_rate", "warmup_steps", "max_steps", "schedule", "max_grad_norm", "batch_size", "seq_len",
                "weight_decay", "ratio_loss_weight", "seed", "eval_every"):
        assert getattr(args, key) == original[key], key
    assert args.target_compression == tuple(original["target_compression"])
    assert args.config == str(RUNS / "aggressive_multipliers" / "config.json") and args.stop_at_step is None
    # healthy was made with the same flags and the paper's multipliers: the follow-up is healthy
    healthy = _config("healthy")
    for key in ("learning_rate", "lr_multipliers", "warmup_steps", "max_steps", "seed"):
        value = getattr(args, key)
        assert (list(value) if isinstance(value, tuple) else value) == healthy[key], key


def test_no_warmup_gets_the_lower_lr_and_a_warmup_as_a_new_run(capsys):
    args = _train_args(_dry_run(capsys, "no_warmup")[0])
    assert args.learning_rate == pytest.approx(0.05) and args.warmup_steps == 30 and not args.resume


def test_a_cut_run_with_a_checkpoint_is_resumed_from_a_copy_and_sampled_again(capsys):
    lines = _dry_run(capsys, "example")
    argv = [shlex.split(x) for x in _join_continued(lines)]
    assert argv[0] == ["cp", "-r", str(RUNS / "example"), "/tmp/never-written"]
    assert argv[1][:2] == ["hnet-diag", "train"] and "--resume" in argv[1]
    args = _train_args(shlex.join(argv[1]))
    assert args.max_steps == 600 and args.stop_at_step == 600 and args.out == "/tmp/never-written"
    gen = argv[2]
    assert gen[:2] == ["hnet-diag", "generate"]
    assert gen[gen.index("--checkpoint") + 1] == "/tmp/never-written/checkpoints/step_000600.pt"
    assert gen[gen.index("--temperature") + 1] == "0.8" and gen[gen.index("--top-p") + 1] == "0.9"
    assert gen[gen.index("--repetition-penalty") + 1] == "1.1"
    record = json.loads((RUNS / "example" / "generation.json").read_text())
    assert gen[gen.index("--prompt") + 1] == record["prompt"] and gen[gen.index("--seed") + 1] == str(record["seed"])
    assert argv[3][:2] == ["hnet-diag", "compare"]


def _join_continued(lines: list[str]) -> list[str]:
    """A quoted prompt may hold a newline: join the lines back into whole commands."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].count("'") % 2 == 1:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def test_steps_stops_the_follow_up_without_changing_its_plan(capsys):
    args = _train_args(_dry_run(capsys, "aggressive_multipliers", "--steps", "50")[0])
    assert args.max_steps == 300 and args.stop_at_step == 50


def test_a_healthy_run_has_nothing_to_fix_and_trains_nothing(tmp_path, capsys):
    out = tmp_path / "fix"
    assert main(["verify-fix", str(RUNS / "healthy"), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "nothing to fix" in said and "nothing trained" in said
    assert not out.exists()


def test_a_run_of_another_trainer_gets_the_changes_and_the_compare_command_only(tmp_path, capsys):
    from conftest import example_like

    run = example_like(tmp_path / "lightning_run")
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").unlink()
    (run / "hparams.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in cfg["training"].items()))
    out = tmp_path / "fix"
    assert main(["verify-fix", str(run), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# ") and "not written by the bundled trainer" in lines[0]
    assert "--lr-multipliers" in lines[0] or "--warmup-steps" in lines[0] or "--max-steps" in lines[0]
    assert lines[1] == f"hnet-diag compare {run} NEW_RUN" and len(lines) == 2
    assert not out.exists()


def test_missing_training_data_is_one_clear_error(tmp_path, capsys):
    # overfit was trained on a temporary file that no longer exists
    assert main(["verify-fix", str(RUNS / "overfit"), "--dry-run"]) == 2
    assert "training data of the original run is gone" in capsys.readouterr().err


@pytest.mark.slow
def test_a_short_follow_up_trains_compares_and_claims_only_what_it_reached(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    original = tmp_path / "aggressive_multipliers"
    shutil.copytree(RUNS / "aggressive_multipliers", original)
    before = {p: p.stat().st_mtime_ns for p in original.rglob("*")}
    out = tmp_path / "fix"
    rc = main(["verify-fix", str(original), "--steps", "20", "--out", str(out), "--fail-on", "medium"])
    said = capsys.readouterr().out
    assert "$ hnet-diag train" in said and "$ hnet-diag compare" in said
    assert {p: p.stat().st_mtime_ns for p in original.rglob("*")} == before  # the original is untouched

    from hnet_diag import load_run

    follow = load_run(out)
    assert follow.last_step == 20 and follow.training.max_steps == 300
    assert follow.training.lr_multipliers == (2.0, 1.5, 1.0)

    data = json.loads((out / "hnet-diag-report" / "compare.json").read_text())
    assert data["settings_diff"]["--lr-multipliers"] == ["100.0,20.0,2.0", "2.0,1.5,1.0"]
    assert data["settings_diff"]["--stop-at-step"] == [None, "20"]
    resolved = {x["code"]: x for x in data["findings"]["resolved"]}
    persisting = {x["code"]: x for x in data["findings"]["persisting"]}
    # the multipliers are a setting, checked at step 0: resolved, with both runs' values
    assert resolved["HND202"]["a"]["evidence"]["measured"] == pytest.approx(50)
    assert resolved["HND202"]["b"]["evidence"]["measured"] == pytest.approx(2)
    # A's spikes reach step 292; a 20-step follow-up cannot show them gone
    assert "stopped at step 20" in persisting["HND101"]["note"]
    assert "HND401" in {x["code"] for x in data["findings"]["new"]}  # stopped at 20 of 300, and said so
    assert [o["held"] for o in data["outcomes"] if o["code"] == "HND202"] == [True]
    assert rc == 1  # HND101 (high) is not shown resolved
    md = (out / "hnet-diag-report" / "compare.md").read_text()
    assert "### Resolved (1)" in md and (out / "hnet-diag-report" / "plots" / "compare_loss.png").is_file()


def test_an_existing_output_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "metrics.jsonl").write_text("{}\n")
    assert main(["verify-fix", str(RUNS / "aggressive_multipliers"), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_runs_config_json_is_a_model_config_for_the_trainer():
    from hnet_diag.trainer.config import HNetConfig

    micro = RUNS.parent / "micro_2stage.json"
    assert HNetConfig.from_json(RUNS / "healthy" / "config.json") == HNetConfig.from_json(micro)
