"""`hnet-diag watch` on real runs of the bundled trainer while they are being written.

The trainer runs in a subprocess; the watcher is started before its run folder exists, so
it also waits for the folder to appear.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

#: small and fast, but the same trainer and files as a real run
TINY = ["--config", "hnet_1stage_tiny", "--batch-size", "2", "--seq-len", "64", "--eval-every", "1000", "--quiet"]


def _start_trainer(out, *flags):
    return subprocess.Popen([sys.executable, "-m", "hnet_diag.trainer.train", *TINY, "--out", str(out), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _watch(run, *flags, timeout=900):
    return subprocess.run([sys.executable, "-m", "hnet_diag.cli", "watch", str(run), *flags],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_watch_fails_a_diverging_run_before_the_trainer_finishes_and_names_the_first_nonfinite_step(tmp_path):
    run = tmp_path / "run"
    watcher = subprocess.Popen([sys.executable, "-m", "hnet_diag.cli", "watch", str(run), "--interval", "0.2",
                                "--fail-on", "critical"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    trainer = _start_trainer(run, "--max-steps", "3000", "--warmup-steps", "2", "--learning-rate", "10",
                             "--max-grad-norm", "0")
    try:
        out, err = watcher.communicate(timeout=900)
        still_training = trainer.poll() is None
    finally:
        trainer.kill()
        trainer.wait()
    assert watcher.returncode == 1, (out, err)
    assert still_training, "the watcher must fail the run while the trainer is still going"
    assert "waiting for" in err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    first_nan = next(r["step"] for r in records if r.get("loss") == "nan")
    lines = [ln for ln in out.splitlines() if "critical HND404" in ln]
    assert len(lines) == 1 and f"first at step {first_nan}" in lines[0], out


def test_watch_until_done_on_a_healthy_run_exits_0_with_nothing_at_high_or_above(tmp_path):
    """The committed `healthy` run (the bundled trainer's defaults, 300 steps) written again
    line by line, as the trainer wrote it, then its end marker."""
    import shutil
    import threading

    src = "fixtures/runs/healthy"
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(f"{src}/config.json", run / "config.json")
    lines = open(f"{src}/metrics.jsonl").read().splitlines(keepends=True)

    def write():
        with open(run / "metrics.jsonl", "w") as fh:
            for i in range(0, len(lines), 10):
                fh.writelines(lines[i:i + 10])
                fh.flush()
                time.sleep(0.05)
            fh.write(json.dumps({"step": 300, "event": "finished"}) + "\n")

    writer = threading.Thread(target=write)
    writer.start()
    res = _watch(run, "--interval", "0.1", "--until-done", "--format", "json")
    writer.join()
    assert res.returncode == 0, (res.stdout, res.stderr)
    findings = [json.loads(line) for line in res.stdout.splitlines()]
    assert not [f for f in findings if f["event"] == "new" and f["severity"] in ("critical", "high")], findings
    assert "the run says it finished at step 300" in res.stderr


def test_watch_prints_each_finding_once_runs_exec_and_exits_1_at_fail_on(tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree("fixtures/runs/nan_divergence", run)
    seen = tmp_path / "exec.txt"
    res = _watch(run, "--interval", "0.05", "--fail-on", "critical", "--format", "json",
                 "--exec", f'echo "$HNET_DIAG_CODE $HNET_DIAG_SEVERITY $HNET_DIAG_STEP" >> {seen}')
    assert res.returncode == 1, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    codes = [e["code"] for e in events]
    assert len(codes) == len(set(codes)) and "HND404" in codes
    nan = next(e for e in events if e["code"] == "HND404")
    assert nan["severity"] == "critical" and nan["step"] == 60 and "first at step 6" in nan["message"]
    assert f"HND404 critical 60" in seen.read_text().splitlines()


def test_watch_with_idle_ends_a_clean_finished_run_with_0(tmp_path):
    res = _watch("fixtures/runs/healthy", "--interval", "0.05", "--idle", "2")
    assert res.returncode == 0, res.stderr
    assert not [ln for ln in res.stdout.splitlines() if " critical " in ln or " high " in ln]


def test_watch_exits_2_on_unusable_input(tmp_path):
    odd = tmp_path / "notes.xyz"
    odd.write_text("hello")
    res = _watch(odd, "--interval", "0.05")
    assert res.returncode == 2 and "unknown file format" in res.stderr
    res = _watch(tmp_path, "--interval", "0.05", "--select", "HND999")
    assert res.returncode == 2 and "HND999" in res.stderr and "Traceback" not in res.stderr
