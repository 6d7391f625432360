import math
from pathlib import Path

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError
from hnet_diag.settings_file import find_settings
from hnet_diag.sources import textlog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "public_logs"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- line shapes ------------------------------------------------------------------------


def test_nanogpt_iter_and_eval_lines_become_canonical_series(tmp_path):
    lines = ["step 0: train loss 4.1938, val loss 4.2005"]
    for it in range(0, 30, 10):
        lines.append(f"iter {it}: loss {4.2 - it * 0.01:.4f}, time {1838.43 + it:.2f}ms, mfu 0.20%")
    lines.append("step 30: train loss 3.9000, val loss 3.9500")
    _write(tmp_path, "train.log", "\n".join(lines) + "\n")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({0: 4.2, 10: 4.1, 20: 4.0})
    assert run.metric("val_loss").to_dict() == pytest.approx({0: 4.2005, 30: 3.95})
    assert run.metric("train_loss").to_dict() == pytest.approx({0: 4.1938, 30: 3.9})
    assert run.metric("step_time").iloc[0] == pytest.approx(1.83843)  # ms -> seconds
    assert run.metric("mfu").iloc[0] == pytest.approx(0.20)  # percent stays percent


def test_modded_nanogpt_lines_give_seconds_nan_and_the_planned_step_count(tmp_path):
    text = (
        "step:0/1750 val_loss:10.8258 train_time:0ms step_avg:nanms\n"
        "step:1/1750 train_loss:10.8 train_time:433ms step_avg:433.40ms\n"
        "step:125/1750 val_loss:4.3 train_time:12345ms step_avg:98.7ms\n"
    )
    path = _write(tmp_path, "run.txt", text)
    data = textlog.read(path)
    assert data.configs[str(path)]["max_steps"] == 1750
    run = load_run(tmp_path)
    assert run.metric("val_loss").to_dict() == pytest.approx({0: 10.8258, 125: 4.3})
    assert run.metric("train_time").to_dict() == pytest.approx({0: 0.0, 1: 0.433, 125: 12.345})
    assert run.metric("step_avg").isna().tolist() == [True, False, False]


def test_llmc_lines_map_norm_lr_timing_and_the_stepless_val_loss(tmp_path):
    text = (
        "val loss 4.9\n"
        "step    1/74 | train loss 4.500000 | norm 1.2345 | lr 1.00e-04 | 123.45 ms | 40.1% bf16 MFU | 150123 tok/s\n"
        "step    2/74 | train loss 4.400000 | norm 1.1000 | lr 2.00e-04 | 120.00 ms | 41.0% bf16 MFU | 151000 tok/s\n"
        "val loss 4.2\n"
        "step    3/74 | train loss 4.300000 | norm 1.0000 | lr 3.00e-04 | 121.00 ms | 41.0% bf16 MFU | 150500 tok/s\n"
    )
    _write(tmp_path, "main.log", text)
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 4.5, 2: 4.4, 3: 4.3})
    assert run.metric("grad_norm").to_dict() == pytest.approx({1: 1.2345, 2: 1.1, 3: 1.0})
    assert run.metric("lr").iloc[-1] == pytest.approx(3e-4)
    assert run.metric("step_time").iloc[0] == pytest.approx(0.12345)
    assert run.metric("tokens_per_s").iloc[0] == pytest.approx(150123)
    # llm.c evaluates before the step it then prints, so "val loss" belongs to the last step
    assert run.metric("val_loss").to_dict() == pytest.approx({0: 4.9, 2: 4.2})
    assert run.configs["main.log"]["max_steps"] == 74


def test_llmc_logfile_shape_is_read(tmp_path):
    _write(tmp_path, "log124M.txt", "s:0 tel:10.9\ns:1 trl:10.8 lr:0.000006 norm:8.1\ns:2 trl:10.2 lr:0.000012 norm:5.0\n")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 10.8, 2: 10.2})
    assert run.metric("val_loss").to_dict() == pytest.approx({0: 10.9})
    assert run.metric("grad_norm").iloc[-1] == pytest.approx(5.0)


def test_hf_trainer_dicts_count_steps_and_eval_dicts_join_the_preceding_step(tmp_path):
    text = (
        "{'loss': 2.3, 'grad_norm': 1.2, 'learning_rate': 2e-05, 'epoch': 0.1}\n"
        "{'loss': '2.1', 'grad_norm': '1.1', 'learning_rate': '1.9e-05', 'epoch': '0.2'}\n"
        "{'eval_loss': 2.25, 'eval_runtime': 1.5, 'epoch': 0.2}\n"
        "{'loss': 1.9, 'grad_norm': 0.9, 'learning_rate': 1.8e-05, 'epoch': 0.3}\n"
        "{'train_runtime': 331.7, 'train_samples_per_second': 0.1, 'train_loss': 13.37, 'epoch': 0.3}\n"
    )
    _write(tmp_path, "stdout.txt", text)
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 2.3, 2: 2.1, 3: 1.9})
    assert run.metric("val_loss").to_dict() == pytest.approx({2: 2.25})
    assert run.metric("lr").iloc[1] == pytest.approx(1.9e-05)
    # the summary's run-average train_loss must not become a point of the loss series
    assert run.configs["stdout.txt"]["train_summary"]["train_loss"] == pytest.approx(13.37)
    assert not run.has_metric("train_runtime")


def test_hf_logging_steps_from_the_printed_training_arguments_scale_the_steps(tmp_path):
    text = (
        "TrainingArguments(\n_n_gpu=1,\nlearning_rate=2e-05,\nlogging_steps=50,\nmax_steps=-1,\n)\n"
        "***** Running training *****\n  Num examples = 1,000\n  Total optimization steps = 150\n"
        "{'loss': 2.3, 'learning_rate': 2e-05, 'epoch': 0.3}\n"
        "{'loss': 2.0, 'learning_rate': 1e-05, 'epoch': 0.6}\n"
        "{'eval_loss': 2.1, 'epoch': 0.6}\n"
    )
    path = _write(tmp_path, "train.log", text)
    data = textlog.read(path)
    assert data.configs[str(path)]["max_steps"] == 150
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({50: 2.3, 100: 2.0})
    assert run.metric("val_loss").to_dict() == pytest.approx({100: 2.1})


def test_logging_steps_from_the_settings_file_win(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "logging-steps = 10\n")
    _write(tmp_path, "train.log", "logging_steps=50,\n{'loss': 2.3}\n{'loss': 2.2}\n")
    assert load_run(tmp_path).metric("loss").index.tolist() == [10, 20]


def test_generic_key_value_lines_with_logger_prefixes_ansi_and_progress_bars(tmp_path):
    text = (
        "2024-01-01 12:00:00,123 - INFO - train.py:88 - step=1 loss=2.50 lr=1e-3 grad_norm=0.9\n"
        "[rank0]: 2024-01-01 12:00:01,123 - INFO - train.py:88 - step=2 loss=2.40 lr=1e-3 grad_norm=0.8\n"
        "\x1b[32mINFO\x1b[0m | Epoch 1/3 | Step 3/150 | loss: 2.30 | lr: 1.00e-03\n"
        " 10%|#         | 4/40 [00:01<00:09,  3.9it/s]\r 12%|#         | 5/40 [00:01<00:09,  3.9it/s]\r"
        "iteration 4, loss 2.2, grad norm 0.7\n"
    )
    _write(tmp_path, "console.out", text)
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({1: 2.5, 2: 2.4, 3: 2.3, 4: 2.2})
    assert run.metric("grad_norm").to_dict() == pytest.approx({1: 0.9, 2: 0.8, 4: 0.7})
    walls = run.scalars[run.scalars["metric"] == "loss"]["wall_time"].tolist()
    assert walls[1] - walls[0] == pytest.approx(1.0)  # timestamps read from the prefix
    assert math.isnan(walls[2])
    assert run.configs["console.out"]["max_steps"] == 150


def test_nan_and_inf_become_real_nan_and_inf(tmp_path):
    text = "step 1 loss=2.0 grad_norm=1.0\nstep 2 loss=nan grad_norm=inf\nstep 3 loss=NaN grad_norm=-inf\n"
    _write(tmp_path, "t.log", text)
    run = load_run(tmp_path)
    assert run.metric("loss").isna().tolist() == [False, True, True]
    assert run.metric("grad_norm").tolist()[1:] == [math.inf, -math.inf]


def test_a_log_with_a_restart_gives_a_run_event_and_the_newest_write_wins(tmp_path):
    first = [f"iter {i}: loss {5 - i * 0.1:.2f}" for i in range(0, 6)]
    second = [f"iter {i}: loss {9 - i * 0.1:.2f}" for i in range(3, 8)]  # resumed from step 3
    _write(tmp_path, "nohup.out", "\n".join(first + second) + "\n")
    run = load_run(tmp_path)
    restarts = [e for e in run.events if e.kind == "restart"]
    assert [e.step for e in restarts] == [3]
    assert restarts[0].source.endswith("nohup.out") and "from 5 to 3" in restarts[0].detail
    loss = run.metric("loss")
    assert loss.index.tolist() == list(range(8))
    assert loss[4] == pytest.approx(8.6) and loss[2] == pytest.approx(4.8)


def test_lines_that_only_resemble_metrics_are_not_records(tmp_path):
    text = (
        "    print0(f\"step:{step}/{args.num_iterations} val_loss:{val_loss:.4f}\")\n"
        "    for step in range(10):\n"
        "num decayed parameter tensors: 50, with 124,354,560 parameters\n"
        "Total Parameters: 124,475,904\n"
        "step 5: loss 2.0\n"
    )
    data = textlog.read(_write(tmp_path, "x.log", text))
    assert data.scalars["tag"].astype(str).tolist() == ["loss"]


# -- user patterns and the settings file -----------------------------------------------


def test_user_pattern_in_pyproject_reads_an_unknown_line_shape(tmp_path):
    _write(
        tmp_path,
        "pyproject.toml",
        "[project]\nname = 'x'\n\n[[tool.hnet-diag.log-patterns]]\n"
        "regex = 'ep (?P<epoch>\\d+) it (?P<step>\\d+) L=(?P<loss>\\S+) T=(?P<step_time>\\S+)'\n",
    )
    _write(tmp_path, "train.log", "ep 0 it 10 L=3.5 T=120ms\nep 0 it 20 L=nan T=110ms\nep 1 it 30 L=2.9 T=0.1s\n")
    run = load_run(tmp_path)
    assert run.metric("loss").index.tolist() == [10, 20, 30]
    assert run.metric("loss").isna().tolist() == [False, True, False]
    assert run.metric("step_time").tolist() == pytest.approx([0.12, 0.11, 0.1])
    assert run.metric("epoch").tolist() == [0.0, 0.0, 1.0]


def test_user_pattern_in_the_project_above_the_run_folder_applies_wherever_the_command_runs(tmp_path, monkeypatch):
    project = tmp_path / "project"
    run_dir = project / "runs" / "a"
    run_dir.mkdir(parents=True)
    _write(project, "hnet-diag.toml", "[[log-patterns]]\nregex = '#(?P<step>\\d+) -> (?P<loss>[\\d.]+)'\n")
    _write(run_dir, "out.txt", "#1 -> 2.5\n#2 -> 2.25\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _write(elsewhere, "hnet-diag.toml", "[[log-patterns]]\nregex = 'never (?P<step>\\d+)'\n")
    monkeypatch.chdir(elsewhere)  # the current directory's settings play no part
    assert load_run(run_dir).metric("loss").to_dict() == pytest.approx({1: 2.5, 2: 2.25})


def test_patterns_passed_to_the_reader_are_the_only_ones_it_uses(tmp_path):
    log = _write(tmp_path, "out.txt", "#1 -> 2.5\n#2 -> 2.25\n")
    _write(tmp_path, "hnet-diag.toml", "[[log-patterns]]\nregex = '#(?P<step>\\d+) -> (?P<loss>[\\d.]+)'\n")
    assert textlog.read(log) is None  # the reader itself never looks for a settings file
    options = textlog.LogOptions.from_settings(find_settings(tmp_path))
    assert textlog.read(log, options).scalars["value"].tolist() == pytest.approx([2.5, 2.25])


def test_settings_given_to_load_run_replace_the_settings_file(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "[[log-patterns]]\nregex = 'never (?P<step>\\d+)'\n")
    _write(tmp_path, "out.txt", "#1 -> 2.5\n#2 -> 2.25\n")
    settings = {"log-patterns": [{"regex": "#(?P<step>\\d+) -> (?P<loss>[\\d.]+)"}]}
    run = load_run(tmp_path, settings=settings)
    assert run.metric("loss").to_dict() == pytest.approx({1: 2.5, 2: 2.25})
    assert run.project_settings.path is None


def test_bad_user_regex_in_the_run_folder_is_a_one_line_warning_and_the_log_is_still_read(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "[tool.hnet-diag]\nlog-patterns = [{regex = 'it (?P<step>\\d+'}]\n")
    _write(tmp_path, "train.log", "step 1 loss=2.0\n")
    run = load_run(tmp_path)
    [warning] = [w for w in run.warnings if w.source == "hnet-diag.toml"]
    assert "log-patterns[0]" in warning.message and "\n" not in warning.message
    assert run.metric("loss").to_dict() == {1: 2.0}  # read with the default line shapes


def test_bad_user_regex_in_the_project_above_the_run_is_a_one_line_error_naming_it(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "[tool.hnet-diag]\nlog-patterns = [{regex = 'it (?P<step>\\d+'}]\n")
    _write(tmp_path / "run", "train.log", "step 1 loss=2.0\n")
    with pytest.raises(InputError) as err:
        load_run(tmp_path / "run")
    message = str(err.value)
    assert "hnet-diag.toml" in message and "log-patterns[0]" in message and "\n" not in message


def test_user_regex_without_a_step_group_is_rejected(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "[[log-patterns]]\nregex = 'L=(?P<loss>\\S+)'\n")
    with pytest.raises(InputError, match="named group `step`"):
        textlog.LogOptions.from_settings(find_settings(tmp_path))


# -- files that are not training logs ---------------------------------------------------


def test_binary_and_prose_files_are_skipped_silently(tmp_path):
    (tmp_path / "weights.out").write_bytes(b"\x00\x01\x02step 1 loss=2.0\n" * 100)
    _write(tmp_path, "README.txt", "This run used the default settings.\nSee notes.\n")
    _write(tmp_path, "requirements.txt", "torch==2.13.0\nnumpy>=1.24\n")
    _write(tmp_path, "train.log", "step 1 loss=2.0\n")
    run = load_run(tmp_path)
    assert run.files == ["train.log"]
    assert run.warnings == []


def test_a_large_file_without_metric_lines_is_given_up_after_the_sniff_window(tmp_path, monkeypatch):
    monkeypatch.setattr(textlog, "SNIFF_LINES", 500)
    chatter = "".join(f"loading shard {i} of the corpus\n" for i in range(2_000))
    path = _write(tmp_path, "data.txt", chatter + "step 1 loss=2.0\n")
    assert textlog.read(path) is None  # metric lines after the window are not looked for
    assert textlog.read(_write(tmp_path, "late.txt", chatter[:400 * 32] + "step 1 loss=2.0\n")) is not None


def test_a_huge_line_without_newlines_is_read_in_pieces(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"x" * (3 * textlog.MAX_LINE_BYTES + 7) + b"\nstep 3 loss=1.5\n")
    data = textlog.read(path)
    assert data.scalars["step"].tolist() == [3]


def test_rows_keep_file_order_and_the_source_columns(tmp_path):
    path = _write(tmp_path, "t.log", "step 2 loss=1.0\nstep 1 loss=3.0\n")
    data = textlog.read(path)
    assert list(data.scalars.columns) == ["tag", "step", "value", "wall_time", "source"]
    assert data.scalars["step"].tolist() == [2, 1]
    assert set(data.scalars["source"].astype(str)) == {str(path)}


# -- real logs from public repositories (see each SOURCE.md) ---------------------------


def test_real_modded_nanogpt_record_log_matches_values_read_by_eye():
    path = FIXTURES / "modded_nanogpt_soap" / "train.txt"
    run = load_run(path)
    loss, val = run.metric("loss"), run.metric("val_loss")
    assert run.metric("train_time").index.nunique() == 161
    assert len(loss) == 160  # steps 1-121 and 5962-6000 print a train loss
    assert (loss.index[0], loss.iloc[0]) == (1, pytest.approx(11.0091))
    assert (loss.index[-1], loss.iloc[-1]) == (6000, pytest.approx(3.4305))
    assert val.to_dict() == pytest.approx({0: 11.0149, 6000: 3.2763})
    step_avg = run.metric("step_avg")
    assert step_avg[step_avg.isna()].index.tolist() == list(range(13))
    assert step_avg[6000] == pytest.approx(0.36334)
    assert run.configs["train.txt"]["max_steps"] == 6000
    assert not [e for e in run.events if e.kind == "restart"]


def test_real_build_nanogpt_console_log_matches_values_read_by_eye():
    run = load_run(FIXTURES / "build_nanogpt_shakespeare" / "train.log")
    loss = run.metric("loss")
    assert loss.index.tolist() == list(range(0, 251, 10))
    assert loss.iloc[0] == pytest.approx(10.9677) and loss.iloc[-1] == pytest.approx(0.0052)
    assert not loss.isna().any()
    assert run.metric("grad_norm").iloc[0] == pytest.approx(6.74)
    assert run.metric("step_time").iloc[0] == pytest.approx(25.21331)
    assert run.metric("tokens_per_s").iloc[0] == pytest.approx(5198.52)


def test_real_nanogpt_log_keeps_its_nan_losses_at_the_right_iterations():
    run = load_run(FIXTURES / "nanogpt_shakespeare_nan" / "train.log")
    loss = run.metric("loss")
    assert loss.index.tolist() == list(range(0, 451, 5))
    assert loss[0] == pytest.approx(4.2709) and loss[420] == pytest.approx(3.5023)
    assert loss[loss.isna()].index.tolist() == [425, 430, 435, 440, 445, 450]
    assert run.metric("val_loss").to_dict() == pytest.approx(
        {0: 4.2475, 100: 3.4987, 200: 3.4427, 300: 3.4254, 400: 3.3687}
    )
    assert run.metric("step_time")[0] == pytest.approx(10.26808)


def test_real_hf_trainer_log_takes_steps_from_the_progress_bar_glued_to_each_record():
    run = load_run(FIXTURES / "hf_trainer_qwen_lora" / "train.log")
    loss = run.metric("loss")
    assert loss.to_dict() == pytest.approx({10: 1.5618, 20: 1.2588, 30: 1.233, 4850: 1.1103})
    assert run.metric("lr")[4850] == pytest.approx(1.0300782859497323e-07)
    config = run.configs["train.log"]
    assert config["max_steps"] == 4854
    assert config["train_summary"]["train_loss"] == pytest.approx(1.113426063696347)


def test_a_trainer_record_after_its_progress_bar_uses_the_bar_step_and_eval_follows_it(tmp_path):
    text = (
        " 20%|##        | 10/50 [00:17<01:06,  1.67s/it]{'loss': 0.6957, 'learning_rate': 9e-06, 'epoch': 1.0}\n"
        "  0%|          | 0/3 [00:00<?, ?it/s]\n"
        "                                             {'eval_loss': 0.68, 'eval_runtime': 1.19, 'epoch': 1.0}\n"
        " 40%|####      | 20/50 [00:36<00:49,  1.66s/it]{'loss': 0.6744, 'learning_rate': 1.9e-05, 'epoch': 2.0}\n"
    )
    _write(tmp_path, "out.txt", text)
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({10: 0.6957, 20: 0.6744})
    assert run.metric("val_loss").to_dict() == pytest.approx({10: 0.68})
    assert run.configs["out.txt"]["max_steps"] == 50


def test_a_broken_settings_file_in_the_run_folder_is_one_warning_and_the_log_is_read_with_defaults(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "log-patterns = [\n")
    _write(tmp_path, "train.log", "step 1 loss=2.0\n")
    _write(tmp_path, "notes.txt", "step 3 loss=1.0\n")
    _write(tmp_path, "metrics.jsonl", '{"step": 1, "loss": 2.0}\n')
    run = load_run(tmp_path)
    assert run.has_metric("loss") and "train.log" in run.files
    [warning] = [w for w in run.warnings if w.source == "hnet-diag.toml"]
    assert "invalid TOML" in warning.message and "ignored" in warning.message


def test_a_broken_settings_file_above_the_run_is_a_one_line_error_naming_it(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "log-patterns = [\n")
    _write(tmp_path / "run", "train.log", "step 1 loss=2.0\n")
    with pytest.raises(InputError) as err:
        load_run(tmp_path / "run")
    assert err.value.path.endswith("hnet-diag.toml") and "invalid TOML" in str(err.value)


def test_a_line_of_a_known_shape_with_a_non_integer_step_is_skipped_not_fatal(tmp_path):
    text = "iter 1: loss 2.0\niter 2: loss 1.9\niter 2.5: loss 1.8\niter nan: loss 1.7\niter 3: loss 1.6\n"
    data = textlog.read(_write(tmp_path, "t.log", text))
    assert data.scalars["step"].tolist() == [1, 2, 3]


def test_prose_that_mentions_a_step_is_not_a_training_log(tmp_path):
    text = "In step 5 the loss of 3 runs was noted.\nWe then waited 10 minutes.\n"
    assert textlog.read(_write(tmp_path, "notes.txt", text)) is None
    data = textlog.read(_write(tmp_path, "mixed.txt", text + "then at step 6: loss=2.5\n"))
    assert data.scalars["tag"].astype(str).tolist() == ["loss"]


def test_python_logging_and_loguru_prefixes_do_not_become_metrics(tmp_path):
    text = (
        "INFO:root:step 5 loss 2.3 lr 1e-3\n"
        "2025-09-20 22:31:25.227 | INFO     | finetune.training.trainer:train:469 - Step 6: loss=2.2\n"
    )
    data = textlog.read(_write(tmp_path, "x.log", text))
    assert data.scalars["tag"].astype(str).tolist() == ["loss", "lr", "loss"]
    assert data.scalars["step"].tolist() == [5, 5, 6]


def test_two_logs_read_one_after_the_other_keep_their_own_tags(tmp_path):
    shape = "  Total optimization steps = 100\nstep 1 loss=1.5\nstep 2 loss=1.25\n"
    first = textlog.read(_write(tmp_path, "a.log", shape + shape))
    second = textlog.read(_write(tmp_path, "b.log", "step 0 acc=0.5\n" + shape))
    assert set(first.scalars["tag"].astype(str)) == {"loss"}
    tags = second.scalars.assign(tag=second.scalars["tag"].astype(str)).groupby("tag")["step"].apply(list)
    assert tags.to_dict() == {"acc": [0], "loss": [1, 2]}


def test_a_step_counter_that_restarts_each_epoch_becomes_a_global_step(tmp_path):
    lines = [f"Epoch: {e:2d} step: {s:2d} loss: {10 - e - s * 0.1:.2f}" for e in range(3) for s in range(4)]
    _write(tmp_path, "train.log", "\n".join(lines) + "\n")
    run = load_run(tmp_path)
    loss = run.metric("loss")
    assert loss.index.tolist() == list(range(12))
    assert loss[4] == pytest.approx(9.0) and loss[11] == pytest.approx(7.7)
    assert not [e for e in run.events if e.kind == "restart"]


def test_a_per_epoch_counter_total_is_not_taken_for_the_planned_steps(tmp_path):
    lines = [f"Epoch {e}/2 | Step {s}/3 | loss: 2.0" for e in (1, 2) for s in (1, 2, 3)]
    path = _write(tmp_path, "train.log", "\n".join(lines) + "\n")
    data = textlog.read(path)
    loss_rows = data.scalars[data.scalars["tag"] == "loss"]
    assert loss_rows["step"].tolist() == [1, 2, 3, 4, 5, 6]
    assert "max_steps" not in data.configs.get(str(path), {})


def test_a_user_pattern_with_an_epoch_group_gets_global_steps_too(tmp_path):
    _write(tmp_path, "hnet-diag.toml", "[[log-patterns]]\nregex = 'ep (?P<epoch>\\d+) it (?P<step>\\d+) L=(?P<loss>\\S+)'\n")
    _write(tmp_path, "train.log", "ep 0 it 1 L=3.0\nep 0 it 2 L=2.9\nep 1 it 1 L=2.8\nep 1 it 2 L=2.7\n")
    assert load_run(tmp_path).metric("loss").to_dict() == pytest.approx({1: 3.0, 2: 2.9, 3: 2.8, 4: 2.7})


def test_many_restarts_give_twenty_events_and_one_warning(tmp_path):
    lines = [f"step {s} loss={r + s * 0.1:.2f}" for r in range(30) for s in range(3)]
    _write(tmp_path, "loop.log", "\n".join(lines) + "\n")
    run = load_run(tmp_path)
    assert len([e for e in run.events if e.kind == "restart"]) == 20
    assert any("went back 29 times" in w.message for w in run.warnings)
