import json

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError


def _snapshot(folder):
    return sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_jsonl_log_becomes_step_indexed_canonical_series(tmp_path):
    lines = [json.dumps({"step": s, "train/loss": 5.0 - s * 0.1, "lr": 1e-3}) for s in range(10)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    run = load_run(tmp_path)
    loss = run.metric("loss")
    assert list(loss.index) == list(range(10))
    assert loss.iloc[-1] == pytest.approx(4.1)
    assert run.metric("train/loss").equals(loss)


def test_truncated_last_jsonl_line_is_a_warning_and_earlier_records_load(tmp_path):
    good = "\n".join(json.dumps({"step": s, "loss": 1.0}) for s in range(3))
    (tmp_path / "metrics.jsonl").write_text(good + '\n{"step": 3, "lo')
    run = load_run(tmp_path)
    assert len(run.metric("loss")) == 3
    assert any("incomplete" in w.message for w in run.warnings)
    assert [e.kind for e in run.events] == ["truncated"]


def test_nan_strings_in_logs_become_real_nan(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": "nan"}\n{"step": 3, "loss": NaN}\n')
    s = load_run(tmp_path).metric("loss")
    assert s.isna().tolist() == [False, True, True]


def test_lightning_metrics_csv_with_sparse_rows(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n0,9,2.5,\n0,9,,2.7\n0,19,2.1,\n0,19,,2.4\n")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == {9: 2.5, 19: 2.1}
    assert run.metric("val_loss").to_dict() == {9: 2.7, 19: 2.4}


def test_hf_trainer_state_log_history(tmp_path):
    state = {"max_steps": 100, "global_step": 20, "log_history": [
        {"step": 10, "loss": 2.0, "grad_norm": "1.5", "learning_rate": 1e-4},
        {"step": 20, "loss": 1.8, "grad_norm": 1.2, "learning_rate": 9e-5},
        {"step": 20, "eval_loss": 1.9}]}
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    run = load_run(tmp_path)
    assert run.metric("grad_norm").to_dict() == {10: 1.5, 20: 1.2}
    assert run.metric("val_loss").to_dict() == {20: 1.9}
    assert run.configs["trainer_state.json"]["max_steps"] == 100


def test_malformed_file_is_a_warning_naming_it_and_the_rest_still_loads(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    (tmp_path / "bad.csv").write_text('a,b\n1,2,3,4\n"unclosed\n')
    run = load_run(tmp_path)
    assert run.has_metric("loss")
    assert any(w.source == "bad.csv" for w in run.warnings)


def test_empty_folder_is_a_one_line_error_naming_it(tmp_path):
    with pytest.raises(InputError) as err:
        load_run(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_run(tmp_path / "nope")


def test_loading_never_writes_into_the_run_folder(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    before = _snapshot(tmp_path)
    load_run(tmp_path)
    assert _snapshot(tmp_path) == before


def test_warnings_and_events_name_files_relative_to_the_run_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    run = load_run(tmp_path)
    assert [w.source for w in run.warnings] == ["sub/metrics.jsonl"]
    assert [e.source for e in run.events] == ["sub/metrics.jsonl"]


def test_every_record_source_takes_its_step_from_one_list_of_step_keys(tmp_path):
    from hnet_diag.sources import base, checkpoint, csv, jsonl

    assert jsonl.STEP_KEYS is csv.STEP_KEYS is checkpoint.STEP_KEYS is base.STEP_KEYS
    # a key from the shared list is a step in JSONL and CSV alike, never a metric
    (tmp_path / "a.jsonl").write_text('{"iter_num": 7, "loss": 2.0}\n{"iter_num": 8, "loss": 1.5}\n')
    (tmp_path / "b.csv").write_text("iter_num,val_loss\n7,2.5\n8,2.25\n")
    run = load_run(tmp_path)
    assert run.metric("loss").index.tolist() == [7, 8] and run.metric("val_loss").index.tolist() == [7, 8]
    assert not run.has_metric("iter_num")


def test_one_float_coercion_keeps_nan_and_reads_booleans_as_switches_in_configs():
    import math

    from hnet_diag.sources.base import to_float, to_int

    assert math.isnan(to_float("NaN")) and to_float(" 1e-3 ") == 1e-3 and to_float(None) is None
    assert to_float(True) == 1.0 and to_float(True, bools=False) is None
    assert to_int("300") == 300 and to_int(2.0) == 2 and to_int(2.5) is None and to_int(True) is None
    assert to_int(float("inf")) is None
