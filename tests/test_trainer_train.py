"""The reference trainer end to end: real tiny H-Nets trained for a few steps into tmp_path."""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from hnet_diag.cli import main as cli_main  # noqa: E402
from hnet_diag.errors import InputError  # noqa: E402
from hnet_diag.trainer.train import TRAINING_KEYS, TrainConfig, load_checkpoint, model_api, param_groups, train  # noqa: E402

#: a 2-stage H-Net in the official config format, small enough for a step in milliseconds
MICRO_2STAGE = {
    "arch_layout": ["m1", ["m1", ["T1"], "m1"], "m1"],
    "d_model": [32, 48, 64],
    "d_intermediate": [0, 0, 128],
    "ssm_cfg": {"chunk_size": 32, "d_conv": 4, "d_state": 16, "expand": 2, "headdim": 16},
    "attn_cfg": {"num_heads": [2, 2, 2], "rotary_emb_dim": [0, 0, 16], "window_size": [-1, -1, -1]},
}
FAST = dict(batch_size=4, seq_len=64, eval_every=10, max_steps=20)


def _corpus(tmp_path):
    text = "\n\n".join(f"CITIZEN {i}:\nWe are accounted poor citizens, the patricians good {i}." for i in range(150))
    p = tmp_path / "corpus.txt"
    p.write_text(text)
    return str(p)


def _records(out):
    """Metric records; the end marker line (`"event": "finished"`) is checked on its own."""
    records = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "event" not in r]


def _config_file(tmp_path):
    p = tmp_path / "micro.json"
    p.write_text(json.dumps(MICRO_2STAGE))
    return str(p)


def test_a_run_writes_config_canonical_metrics_events_and_a_weights_only_checkpoint(tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(**{**FAST, "max_steps": 6}, data=(_corpus(tmp_path),), lr_multipliers=(3.0, 1.7, 0.9))
    result = train(cfg, _config_file(tmp_path), out, quiet=True)

    config = json.loads((out / "config.json").read_text())
    assert set(config) == {"model", "training"} and tuple(config["training"]) == TRAINING_KEYS
    assert config["model"]["d_model"] == [32, 48, 64] and config["training"]["target_compression"] == [3.0, 3.0]
    records = _records(out)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    expected = {"loss", "bpb", "lr", "grad_norm", "clipped", "ratio_loss", "tokens_per_s", "step_time"}
    expected |= {f"{k}/stage{i}" for k in ("lr", "grad_norm") for i in range(3)}
    expected |= {f"{k}/stage{i}" for k in ("ratio_loss", "boundary_frac", "boundary_prob", "compression", "boundary_undecided") for i in range(2)}
    assert expected <= set(records[0])
    assert "val_loss" in records[5] and "val_loss" not in records[0]
    r = records[2]
    assert r["bpb"] == pytest.approx(r["loss"] / math.log(2))
    assert r["lr/stage0"] == pytest.approx(3.0 * r["lr"]) and r["lr/stage2"] == pytest.approx(0.9 * r["lr"])
    assert r["compression/stage0"] == pytest.approx(1 / r["boundary_frac/stage0"])
    assert r["grad_norm"] == pytest.approx(math.sqrt(sum(r[f"grad_norm/stage{i}"] ** 2 for i in range(3))), rel=1e-4)
    assert r["ratio_loss"] == pytest.approx(0.03 * (r["ratio_loss/stage0"] + r["ratio_loss/stage1"]), rel=1e-5)
    assert list(out.glob("events.out.tfevents.*")) and (out / "train.log").read_text().count("\n") == 6

    ckpt = load_checkpoint(Path(result["checkpoint"]))  # weights_only=True inside
    assert ckpt["step"] == 6 and ckpt["config"] == config
    assert {g["stage"] for g in ckpt["optimizer"]["param_groups"]} == {0, 1, 2}
    assert ckpt["scheduler"]["max_steps"] == 6 and isinstance(ckpt["rng"]["torch"], torch.Tensor)
    assert any(k.startswith("backbone.routing_module.") for k in ckpt["model"])


def test_param_groups_carry_stage_and_multiplier_and_spare_1d_params_from_decay():
    HNetConfig, HNetLM = model_api()
    model = HNetLM(HNetConfig.from_dict(MICRO_2STAGE))
    groups = param_groups(model, (2.0, 1.5, 1.0), weight_decay=0.1)
    by_name = {n: g for g in groups for n in g["names"]}
    assert by_name["embeddings.weight"]["lr_multiplier"] == 2.0 and by_name["lm_head.weight"]["stage"] == 0
    assert by_name["backbone.routing_module.q_proj_layer.weight"]["stage"] == 0
    inner = [n for n in by_name if n.startswith("backbone.main_network.main_network.")]
    assert inner and all(by_name[n]["lr_multiplier"] == 1.0 for n in inner)
    params = dict(model.named_parameters())
    assert all(by_name[n]["weight_decay"] == 0.0 for n, p in params.items() if p.ndim < 2)
    assert sum(len(g["params"]) for g in groups) == len(params)


def test_a_resumed_run_continues_the_same_curve(tmp_path):
    data = (_corpus(tmp_path),)
    straight = train(TrainConfig(**FAST, data=data), MICRO_2STAGE, tmp_path / "a", quiet=True)
    train(TrainConfig(**FAST, data=data, stop_at_step=10), MICRO_2STAGE, tmp_path / "b", quiet=True)
    resumed = train(TrainConfig(), None, tmp_path / "b", resume=True, overrides={"stop_at_step": 20}, quiet=True)

    a, b = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(1, 21)) and resumed["step"] == straight["step"] == 20
    assert max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b)) < 1e-6
    assert max(abs(x["grad_norm"] - y["grad_norm"]) for x, y in zip(a, b)) < 1e-5
    assert len(list((tmp_path / "b").glob("events.out.tfevents.*"))) == 2
    assert json.loads((tmp_path / "b" / "config.json").read_text())["training"]["stop_at_step"] == 20


def test_clipping_records_the_pre_clip_norm_and_flags_clipped_steps(tmp_path):
    cfg = TrainConfig(**{**FAST, "max_steps": 3}, data=(_corpus(tmp_path),), max_grad_norm=1e-4)
    train(cfg, MICRO_2STAGE, tmp_path / "run", quiet=True)
    records = _records(tmp_path / "run")
    assert len(records) == 3 and all(r["clipped"] == 1.0 and r["grad_norm"] > 1e-3 for r in records)


def test_warmup_defaults_to_a_tenth_and_lr_follows_the_schedule(tmp_path):
    cfg = TrainConfig(**{**FAST, "max_steps": 10}, data=(_corpus(tmp_path),), learning_rate=1e-3, stop_at_step=4)
    train(cfg, MICRO_2STAGE, tmp_path / "run", quiet=True)
    records = _records(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["warmup_steps"] == 1
    assert [r["lr"] for r in records] == pytest.approx([1e-3] * 4)
    assert records[-1]["step"] == 4 and (tmp_path / "run" / "checkpoints" / "step_000004.pt").exists()


def test_wrong_number_of_lr_multipliers_is_a_one_line_error(tmp_path, capsys):
    code = cli_main(["train", "--config", _config_file(tmp_path), "--out", str(tmp_path / "run"),
                     "--lr-multipliers", "2.0,1.0", "--data", _corpus(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--lr-multipliers needs 3 values" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_cli_trains_a_bundled_config_name_and_generate_writes_generation_json(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["train", "--config", "hnet_1stage_tiny", "--out", str(out), "--max-steps", "2",
                     "--batch-size", "2", "--seq-len", "32", "--data", _corpus(tmp_path), "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["training"]["target_compression"] == [6.0]
    ckpt = out / "checkpoints" / "step_000002.pt"
    assert cli_main(["generate", "--checkpoint", str(ckpt), "--prompt", "CITIZEN", "--temperature", "1.0",
                     "--top-p", "0.9", "--top-k", "50", "--repetition-penalty", "1.1", "--max-new-tokens", "12"]) == 0
    gen = json.loads((out / "generation.json").read_text())
    assert {k: gen[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens")} == {
        "temperature": 1.0, "top_p": 0.9, "top_k": 50, "repetition_penalty": 1.1, "max_new_tokens": 12}
    assert gen["prompt"] == "CITIZEN" and gen["checkpoint"] == str(ckpt) and isinstance(gen["output"], str)
    assert gen["output"] in capsys.readouterr().out


def _torchrun(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    """One torchrun launch; a hung rendezvous is killed with its workers (own process group)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("2-process torchrun run did not finish in 240 s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _root_cause_signal(stderr: str) -> int | None:
    """The signal that killed the first failing worker, from torchrun's 'Root Cause' block; None if it exited."""
    block = stderr.partition("Root Cause")[2]
    m = re.search(r"exitcode\s*:\s*(-?\d+)", block)
    return -int(m.group(1)) if m and int(m.group(1)) < 0 else None


def _worker_lines(stderr: str) -> str:
    """What the workers printed, without torchrun's own report (which buries it: CI once showed only that)."""
    head = stderr.split("torch/distributed/elastic/multiprocessing/api.py")[0]
    return head.rpartition("\n")[0][-3000:]


@pytest.mark.slow
def test_two_process_torchrun_run_logs_once_and_matches_one_process(tmp_path):
    cfg_file, data = _config_file(tmp_path), _corpus(tmp_path)
    flags = ["--config", cfg_file, "--data", data, "--max-steps", "6", "--batch-size", "4", "--seq-len", "64",
             "--eval-every", "3", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "hnet_diag.trainer.train", *flags, "--out", str(tmp_path / "ddp")]
    done = _torchrun(cmd, env)
    # A worker killed by a signal (SIGABRT) is gloo's TCP transport aborting in its own thread, which a
    # Python trainer cannot cause or catch; it hit CI once in ~14 sessions and not in 30 local launches.
    # One relaunch tells that apart from a trainer bug, which fails both times (and exits 1, not by signal).
    if done.returncode != 0 and _root_cause_signal(done.stderr):
        shutil.rmtree(tmp_path / "ddp", ignore_errors=True)
        done = _torchrun(cmd, env)
    assert done.returncode == 0, _worker_lines(done.stderr) or done.stderr[-2000:]
    train(TrainConfig(max_steps=6, batch_size=4, seq_len=64, eval_every=3, data=(data,)), cfg_file, tmp_path / "one", quiet=True)
    ddp, one = _records(tmp_path / "ddp"), _records(tmp_path / "one")
    assert [r["step"] for r in ddp] == list(range(1, 7))  # rank 0 alone wrote, once per step
    assert len((tmp_path / "ddp" / "train.log").read_text().splitlines()) == 6
    assert max(abs(x["loss"] - y["loss"]) for x, y in zip(ddp, one)) < 1e-3
    assert load_checkpoint(tmp_path / "ddp" / "checkpoints" / "step_000006.pt")["step"] == 6


def test_checkpoints_without_optimizer_state_keep_the_param_groups_and_still_resume(tmp_path):
    cfg = TrainConfig(**{**FAST, "max_steps": 4}, data=(_corpus(tmp_path),), stop_at_step=2, save_optimizer=False)
    train(cfg, MICRO_2STAGE, tmp_path / "run", quiet=True)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_000002.pt")
    assert ckpt["optimizer"]["state"] == {}
    assert [g["lr_multiplier"] for g in ckpt["optimizer"]["param_groups"]][0] == 2.0
    assert train(TrainConfig(), None, tmp_path / "run", resume=True, overrides={"stop_at_step": 4}, quiet=True)["step"] == 4
