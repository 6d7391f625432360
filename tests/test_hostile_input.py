"""Hostile and damaged run folders (issue 14): one regression test per failure class.

Every test runs the CLI entry point on the crafted folder and checks that it answers with
one line (no traceback), in bounded time, and that the run folder is left as it was; then
it checks what load_run made of the file.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hnet_diag.cli import main
from hnet_diag.errors import InputError
from hnet_diag.sources.discover import load_run
from hostile_inputs import (
    GOOD_JSONL, deadline, deep_json, save_deep_checkpoint, save_evil_pickle, save_hnet_checkpoint,
    save_safetensors_deep_metadata, shared_tree, tree_digest, write, write_event_file_with_bad_metadata,
    yaml_alias_bomb,
)

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *argv: str, seconds: float = 60) -> tuple[int, str, str]:
    """Run `hnet-diag argv...` in-process; no traceback, exit 0 or 2, within `seconds`."""
    with deadline(seconds):
        rc = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        assert err.startswith("hnet-diag: error: ") and err.count("\n") == 1, err
    return rc, out, err


def summary(capsys, run: Path, *extra: str) -> tuple[int, str, str]:
    before = tree_digest(run)
    result = cli(capsys, "summary", str(run), *extra)
    assert tree_digest(run) == before  # nothing written into the run
    return result


def warning_on(run, source: str) -> str:
    found = [w.message for w in run.warnings if w.source == source]
    assert found, [str(w) for w in run.warnings]
    return found[0]


# 1 ----------------------------------------------------------------------------------------
def test_deeply_nested_json_yaml_and_checkpoint_configs_are_warnings_not_recursion_errors(tmp_path, capsys):
    write(tmp_path, "metrics.jsonl", GOOD_JSONL + deep_json(100_000) + "\n" + '{"step": 3, "loss": 1.8}\n')
    write(tmp_path, "config.json", deep_json(100_000))
    write(tmp_path, "trainer_state.json", deep_json(100_000))
    write(tmp_path, "hparams.yaml", "a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    save_deep_checkpoint(tmp_path / "ckpt_deep.pt", 2000)
    save_safetensors_deep_metadata(tmp_path / "model.safetensors", 2000)
    summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == {1: 2.0, 2: 1.9, 3: 1.8}  # only the deep line is dropped
    assert "malformed line" in warning_on(run, "metrics.jsonl")
    for name in ("config.json", "trainer_state.json", "hparams.yaml"):
        assert "nested" in warning_on(run, name) or "malformed" in warning_on(run, name)
    assert "nested deeper than 64 levels" in warning_on(run, "ckpt_deep.pt")
    (st,) = [c for c in run.checkpoints if c.path.endswith("model.safetensors")]
    assert st.step == 7 and isinstance(st.config["config"], str)  # kept as text, never walked


# 2 ----------------------------------------------------------------------------------------
def test_steps_beyond_int64_or_infinite_drop_their_line_and_huge_numbers_are_inf(tmp_path, capsys):
    lines = ['{"step": 1, "loss": 2.0}', '{"step": Infinity, "loss": 9}', '{"step": 1e400, "loss": 9}',
             '{"step": -Infinity, "loss": 9}', '{"step": %d, "loss": 9}' % 2**70, '{"step": 2, "loss": %s}' % ("9" * 400)]
    write(tmp_path, "metrics.jsonl", "\n".join(lines) + "\n")
    write(tmp_path, "trainer_state.json", json.dumps({"log_history": [{"step": 5, "loss": 1.0}]})[:-2] + ', {"step": 1e400, "loss": 3}]}')
    write(tmp_path, "metrics.csv", "step,acc\n1,0.5\n1e400,0.6\n%d,0.7\n2,%s\n" % (2**70, "9" * 400))
    write(tmp_path, "train.log", "step 1 loss=2.0\nstep %s loss=1.0\nstep 2 loss=1.5\n" % ("9" * 30))
    write(tmp_path, "sub/hf.log", "logging_steps=%s\nContinuing training from global step %s\n{'loss': 1.0, 'learning_rate': 1e-3}\n"
          % ("9" * 40, "9" * 40))
    write(tmp_path, "config.json", json.dumps({"lr": 1e-3, "warmup_ratio": 1e300, "max_steps": 10**18,
                                               "batch_size": int("7" * 400)}))
    write(tmp_path, "nan_cfg/config.yaml", "warmup_ratio: .nan\nmax_steps: 100\nlr: 1" + "0" * 400 + "\n")
    summary(capsys, tmp_path)
    run = load_run(tmp_path)
    from_jsonl = run.scalars[(run.scalars["source"] == "metrics.jsonl") & (run.scalars["tag"] == "loss")]
    assert dict(zip(from_jsonl["step"], from_jsonl["value"])) == {1: 2.0, 2: math.inf}  # a 400-digit loss is inf
    from_state = run.scalars[run.scalars["source"] == "trainer_state.json"]
    assert from_state["step"].tolist() == [5]
    assert "step is not a finite integer" in warning_on(run, "metrics.jsonl")
    assert "not a finite integer" in warning_on(run, "trainer_state.json")
    assert run.metric("acc").to_dict() == {1: 0.5, 2: math.inf}
    assert run.training.warmup_steps is None and run.training.batch_size is None and run.training.learning_rate == 1e-3


# 3 ----------------------------------------------------------------------------------------
def test_a_checkpoint_holding_none_is_a_warning(tmp_path, capsys):
    import torch

    torch.save(None, tmp_path / "model.pt")
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    summary(capsys, tmp_path)
    assert warning_on(load_run(tmp_path), "model.pt") == "not a checkpoint (holds None)"


# 4 ----------------------------------------------------------------------------------------
def test_an_event_record_with_valid_crc_and_malformed_summary_metadata_is_skipped(tmp_path, capsys):
    write_event_file_with_bad_metadata(tmp_path / "tb")
    summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert run.metric("loss").index.tolist() == [0, 1, 2]
    (message,) = [w.message for w in run.warnings if w.source.startswith("tb/events")]
    assert "1 record(s) are not readable Event protos" in message


# 5 ----------------------------------------------------------------------------------------
def test_rich_markup_in_file_names_and_config_values_is_printed_as_text(tmp_path, capsys):
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    write(tmp_path, "x[/]y.jsonl", "not json\nat all\n")
    write(tmp_path, "config.json", json.dumps({"arch_layout": ["m1[/]", ["[bold]T1"], "m1"], "d_model": [8, 16]}))
    out_file = tmp_path.parent / f"{tmp_path.name}-report.md"
    rc, out, _ = cli(capsys, "analyze", str(tmp_path), "--no-plots", "-o", str(out_file))
    assert rc == 0 and "x[/]y.jsonl" in out and "m1[/]" in out
    rc, out, _ = summary(capsys, tmp_path)
    assert "x[/]y.jsonl" in out


# 6 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["metrics.jsonl", "config.json", "train.log", "events.out.tfevents.1.host",
                                  "model.pt", "trainer_state.json", "metrics.csv", "config.yaml", "args.txt"])
def test_a_fifo_named_like_any_artefact_is_refused_without_blocking(tmp_path, capsys, name):
    write(tmp_path, "good.jsonl", GOOD_JSONL)
    os.mkfifo(tmp_path / name)
    summary(capsys, tmp_path)
    assert warning_on(load_run(tmp_path), name) == "not a regular file (FIFO); not read"
    fifo_only = tmp_path / "alone"
    fifo_only.mkdir()
    os.mkfifo(fifo_only / name)
    with pytest.raises(InputError, match="FIFO"):
        load_run(fifo_only / name)  # named on the command line: refused too, not opened


# 7 ----------------------------------------------------------------------------------------
def test_a_step_followed_by_a_long_run_of_spaces_parses_in_linear_time(tmp_path, capsys):
    bad = ("step" + " " * 65_000 + "x\n") * 40
    blank = " " * 65_000 + "x\n"  # found by the fuzz suite: a blank run at a line start (trainer detection)
    write(tmp_path, "train.log", blank * 3 + "step 1 loss=2.0\n" + bad + "step 2 loss=1.9\n")
    with deadline(20):
        summary(capsys, tmp_path)
    assert load_run(tmp_path).metric("loss").to_dict() == {1: 2.0, 2: 1.9}


# 8 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern, line", [("^(?P<step>a+)+$", "a" * 60_000 + "b"), ("^(?P<step>(a|aa)+)+$", "a" * 40 + "b")])
def test_a_catastrophic_log_pattern_from_the_run_folder_times_out_with_a_warning(tmp_path, capsys, pattern, line):
    write(tmp_path, "hnet-diag.toml", f"[[log-patterns]]\nregex = '{pattern}'\n")
    write(tmp_path, "train.log", (line + "\n") * 50 + "step 1 loss=2.0\n")
    with deadline(20):
        summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert "took more than" in warning_on(run, "train.log") and "hnet-diag.toml" in warning_on(run, "train.log")
    assert run.metric("loss").to_dict() == {1: 2.0}  # the built-in line shapes still read the log


# 9 ----------------------------------------------------------------------------------------
def test_billion_laughs_in_yaml_and_in_a_checkpoint_config_are_refused_small(tmp_path, capsys):
    import torch

    write(tmp_path, "config.yaml", yaml_alias_bomb())
    torch.save({"model": {"w": torch.ones(2)}, "config": shared_tree()}, tmp_path / "ckpt.pt")
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    with deadline(30):
        summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert "counting repeated references" in warning_on(run, "config.yaml")
    assert "counting repeated references" in warning_on(run, "ckpt.pt")
    assert run.checkpoints and run.checkpoints[0].config is None


# 10 ---------------------------------------------------------------------------------------
def test_a_stride_zero_tensor_is_measured_on_its_distinct_elements(tmp_path, capsys):
    import torch

    torch.save({"w": torch.full((1,), 2.0).expand(2**40), "b": torch.tensor([3.0, -1.0]).reshape(2, 1).expand(2, 5)},
               tmp_path / "model.pt")
    assert (tmp_path / "model.pt").stat().st_size < 4096
    with deadline(20):
        summary(capsys, tmp_path)
    (ckpt,) = load_run(tmp_path).checkpoints
    w, b = sorted(ckpt.tensors, key=lambda t: t.name, reverse=True)
    assert w.numel == 2**40 and w.mean == 2.0 and w.l2_norm == pytest.approx(2.0 * 2**20)
    dense = torch.tensor([3.0, -1.0]).reshape(2, 1).expand(2, 5).contiguous()
    assert b.l2_norm == pytest.approx(float(dense.norm())) and b.std == pytest.approx(float(dense.std(unbiased=False)))


# 11 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["metrics.jsonl", "config.json", "trainer_state.json", "config.yaml", "metrics.csv"])
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_symlink_to_an_endless_device_is_never_read(tmp_path, capsys, name, device):
    write(tmp_path, "good.jsonl", GOOD_JSONL)
    os.symlink(device, tmp_path / name)
    summary(capsys, tmp_path, "--follow-external-links")  # even when links out are allowed
    run = load_run(tmp_path, follow_external_links=True)
    assert warning_on(run, name) == "not a regular file (character device); not read"


# 12 ---------------------------------------------------------------------------------------
def test_a_csv_header_of_millions_of_columns_is_refused_before_pandas(tmp_path, capsys):
    write(tmp_path, "metrics.csv", "step" + "," * (20 << 20) + "\n1\n")
    write(tmp_path, "wide/metrics.csv", "step," + ",".join(f"c{i}" for i in range(20_000)) + "\n")
    write(tmp_path, "good.jsonl", GOOD_JSONL)
    with deadline(30):
        summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert "header longer than 1 MiB" in warning_on(run, "metrics.csv")
    assert "20,001 columns" in warning_on(run, "wide/metrics.csv")


# 13 ---------------------------------------------------------------------------------------
def test_the_decoding_check_counts_the_model_the_config_claims_before_building_it(tmp_path):
    from hnet_diag.analyzers.decoding import analyze_decoding
    from hnet_diag.sources.reference_model import decoding_input

    save_hnet_checkpoint(tmp_path / "step_10.pt", d_model=4096)
    assert (tmp_path / "step_10.pt").stat().st_size < 1 << 20
    run = load_run(tmp_path)
    with deadline(20):
        result = analyze_decoding(decoding_input(run))
    assert not result.ok and "more than max_params=50,000,000" in result.reason
    size = int(result.reason.split("about ")[1].split(" parameters")[0].replace(",", ""))
    assert size > 2 * 4096 * 4096  # from the config, not the 2,048 elements in the file


# 14 ---------------------------------------------------------------------------------------
def test_text_and_config_symlinks_out_of_the_run_are_not_followed_unless_asked(tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    secret = write(outside, "secret.txt", "lr: 0.5\nsecret_token: hunter2\n")
    run_dir = tmp_path / "run"
    write(run_dir, "metrics.jsonl", GOOD_JSONL)
    os.symlink(secret, run_dir / "args.txt")
    os.symlink("/etc/passwd", run_dir / "hparams.txt")
    write(run_dir, "inside.txt", "lr: 0.25\n")
    os.symlink(run_dir / "inside.txt", run_dir / "config_args.txt")  # a link within the run is fine
    rc, out, _ = summary(capsys, run_dir)
    assert "hunter2" not in out and "root:" not in out
    run = load_run(run_dir)
    assert "outside the run folder; not followed" in warning_on(run, "args.txt")
    assert "hparams.txt" in [w.source for w in run.warnings]
    assert set(run.configs) == {"config_args.txt"}
    assert load_run(run_dir, follow_external_links=True).configs["args.txt"]["secret_token"] == "hunter2"
    rc, out, _ = summary(capsys, run_dir, "--follow-external-links")
    assert "args.txt" not in "".join(line for line in out.splitlines() if "warning" in line)


# 15 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("target", ["os.system", "subprocess.Popen"])
def test_a_pickle_that_would_run_code_is_refused_naming_the_callable(tmp_path, capsys, target, legacy):
    save_evil_pickle(tmp_path / "model.pt", target, legacy=legacy)
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    rc, out, err = summary(capsys, tmp_path)
    expected = {"os.system": "posix.system" if os.name == "posix" else "nt.system", "subprocess.Popen": "subprocess.Popen"}[target]
    message = warning_on(load_run(tmp_path), "model.pt")
    assert message == f"refused: would run code ({expected}); not executed"
    assert "weights_only" not in out + err


# 16 ---------------------------------------------------------------------------------------
def test_torch_deprecation_warnings_do_not_reach_the_terminal(tmp_path):
    import torch

    with pytest.warns(UserWarning):  # making one warns; reading it must not
        torch.save({"q": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)}, tmp_path / "quant.pt")
    torch.save({"w": torch.ones(3)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save({"w": torch.ones(3)}, tmp_path / "p4.pt", _use_new_zipfile_serialization=False, pickle_protocol=4)
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    proc = subprocess.run([sys.executable, "-m", "hnet_diag.cli", "summary", str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "TypedStorage" not in proc.stdout and "Detected pickle protocol" not in proc.stdout


# 17 ---------------------------------------------------------------------------------------
def test_nothing_readable_always_says_why(tmp_path, capsys):
    write(tmp_path, "notes.txt", "just some notes\n")
    rc, _, err = cli(capsys, "summary", str(tmp_path))
    assert rc == 2 and "nothing readable: notes.txt: no line looks like a training-log record" in err
    os.mkfifo(tmp_path / "metrics.jsonl")
    rc, _, err = cli(capsys, "summary", str(tmp_path))  # refused files are reasons too
    assert rc == 2 and "metrics.jsonl: not a regular file (FIFO); not read" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_errors_are_worded_once_for_every_reader(tmp_path, capsys):
    import torch

    for name, content in (("metrics.jsonl", GOOD_JSONL), ("config.json", "{}"), ("train.log", "step 1 loss=1\n")):
        write(tmp_path, name, content).chmod(0)
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    (tmp_path / "model.pt").chmod(0)
    write(tmp_path, "ok/metrics.jsonl", GOOD_JSONL)
    locked = tmp_path / "locked"
    write(locked, "metrics.jsonl", GOOD_JSONL)
    locked.chmod(0)
    try:
        summary(capsys, tmp_path)
        run = load_run(tmp_path)
        for name in ("metrics.jsonl", "config.json", "train.log", "model.pt"):
            assert warning_on(run, name) == "cannot read (Permission denied)"
        assert "cannot read (Permission denied)" in warning_on(run, "locked")  # 18: unreadable subfolder
    finally:
        locked.chmod(0o755)


# 18 ---------------------------------------------------------------------------------------
def test_one_bad_jsonl_line_drops_that_line_only(tmp_path, capsys):
    lines = ['{"step": 1, "loss": 2.0}', '{"step": NaN, "loss": 5.0}', '{"step": 2, "loss": %s}' % ("1" * 4400),
             '{"step": 3, "loss": 1.8, "note": "a\u2028b"}', '{"step": 4, "loss": 1.7}']
    write(tmp_path, "metrics.jsonl", "\n".join(lines) + "\n")
    summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == {1: 2.0, 2: math.inf, 3: 1.8, 4: 1.7}
    assert "(line 2)" in warning_on(run, "metrics.jsonl")


def test_a_utf8_byte_order_mark_is_accepted_in_json_files(tmp_path, capsys):
    bom = b"\xef\xbb\xbf"
    write(tmp_path, "trainer_state.json", bom + json.dumps({"log_history": [{"step": 1, "loss": 2.0}], "max_steps": 10}).encode())
    write(tmp_path, "config.json", bom + json.dumps({"learning_rate": 3e-4}).encode())
    write(tmp_path, "metrics.csv", bom + b"step,acc\n1,0.5\n")
    summary(capsys, tmp_path)
    run = load_run(tmp_path)
    assert not run.warnings
    assert run.metric("loss").to_dict() == {1: 2.0} and run.metric("acc").to_dict() == {1: 0.5}
    assert run.training.learning_rate == 3e-4


def test_an_unreadable_subfolder_is_a_warning(tmp_path, capsys, monkeypatch):
    """As root (CI containers) permissions cannot lock a folder, so the listing fails as the OS would."""
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    write(tmp_path, "sub/metrics.jsonl", GOOD_JSONL)
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    run = load_run(tmp_path)
    assert warning_on(run, "sub") == "folder cannot read (Permission denied); its files were skipped"


# 19 ---------------------------------------------------------------------------------------
def test_a_damaged_settings_file_in_the_run_folder_is_a_warning_not_exit_2(tmp_path, capsys):
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    write(tmp_path, "hnet-diag.toml", "select = [\n")
    out_file = tmp_path.parent / f"{tmp_path.name}-report.json"
    rc, out, _ = cli(capsys, "analyze", str(tmp_path), "--no-plots", "-o", str(out_file))
    assert rc == 0 and "hnet-diag.toml" in out and "invalid TOML" in out
    report = json.loads(out_file.read_text())
    assert any("hnet-diag.toml" in w and "invalid TOML" in w for w in report["run"]["warnings"]), report["run"]["warnings"]


def test_an_invalid_rule_selection_in_the_run_folders_settings_is_a_warning_not_exit_2(tmp_path, capsys):
    write(tmp_path, "metrics.jsonl", GOOD_JSONL)
    write(tmp_path, "hnet-diag.toml", "select = ['NOPE999']\n")
    out_file = tmp_path.parent / f"{tmp_path.name}-report.json"
    rc, out, _ = cli(capsys, "check", str(tmp_path), "--json", str(out_file))
    assert rc == 0 and "hnet-diag.toml" in out and "its settings were ignored" in out
    rc, _, err = cli(capsys, "check", str(tmp_path), "--select", "NOPE999")  # the user's own typo stays an error
    assert rc == 2 and "NOPE999" in err


def test_an_argparse_dump_holding_a_regex_prints_no_python_warning(tmp_path):
    """Found by make fuzz: `'\\d'` in a dumped value made literal_eval warn on stderr."""
    import warnings

    from hnet_diag.sources.config import parse_args_text

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_args_text("regex = 'it (?P<step>\\d+)'\nlr = 0.1") == {"regex": "it (?P<step>\\d+)", "lr": 0.1}
