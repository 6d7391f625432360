"""Rule engine: select/ignore by code or prefix, thresholds from files and the CLI, no-data."""
from __future__ import annotations

import pytest

from hnet_diag.errors import InputError
from hnet_diag.rules.engine import (
    build_settings, evaluate, is_selected, parse_threshold_arg, run_rules,
)
from hnet_diag.rules.registry import BY_CODE
from hnet_diag.rules.rule import Status
from hnet_diag.settings_file import find_settings


def test_the_more_specific_of_select_and_ignore_wins():
    assert is_selected("HND101", ["HND"], ["HND1"]) is False
    assert is_selected("HND101", ["HND101"], ["HND1"]) is True
    assert is_selected("HND102", ["HND101"], ["HND1"]) is False
    assert is_selected("HND405", ["HND4"], []) is True
    assert is_selected("HND501", ["HND4"], []) is False


def test_on_a_tie_ignore_wins():
    assert is_selected("HND101", ["HND1"], ["HND1"]) is False


def test_unknown_code_in_select_is_a_clear_error_naming_the_option():
    with pytest.raises(InputError, match="--select.*HND999"):
        build_settings({}, select=["HND999"])
    with pytest.raises(InputError, match="unknown rule code"):
        build_settings({"ignore": ["XYZ"]}, origin="pyproject.toml")


def test_cli_lists_accept_commas_and_override_the_file():
    s = build_settings({"select": ["HND1"], "ignore": ["HND102"]}, select=["hnd4,HND5"])
    assert s.select == ("HND4", "HND5")
    assert s.ignore == ("HND102",)


def test_threshold_overrides_merge_file_then_cli():
    table = {"thresholds": {"HND101": {"min_ratio": 5, "single_spike_ratio": 20}}}
    s = build_settings(table, thresholds=["HND101.min_ratio=8"])
    assert s.thresholds["HND101"] == {"min_ratio": 8.0, "single_spike_ratio": 20.0}


@pytest.mark.parametrize("arg,problem", [
    ("HND101.nope=3", "has no threshold 'nope'"),
    ("HND999.min_ratio=3", "unknown rule"),
    ("HND101min_ratio=3", "expected CODE.name=number"),
    ("HND101.min_ratio=abc", "expected CODE.name=number"),
])
def test_bad_threshold_arguments_are_input_errors(arg, problem):
    with pytest.raises(InputError, match=problem):
        build_settings({}, thresholds=[arg])


def test_parse_threshold_arg_upper_cases_the_code():
    assert parse_threshold_arg("hnd202.far_factor=3") == ("HND202", "far_factor", 3.0)


def test_settings_are_read_from_pyproject_in_the_run_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.hnet-diag]\nignore = ["HND5"]\nlog-patterns = ["x"]\n'
        '[tool.hnet-diag.thresholds.HND401]\nmin_completed = 0.5\n'
    )
    found = find_settings(tmp_path)
    s = build_settings(found.table, found.origin, select=None, ignore=None, thresholds=["HND101.min_ratio=4"])
    assert s.ignore == ("HND5",)
    assert s.thresholds == {"HND401": {"min_completed": 0.5}, "HND101": {"min_ratio": 4.0}}
    assert "pyproject.toml" in s.origin


def test_a_threshold_for_a_wrong_type_in_the_file_is_an_error(tmp_path):
    (tmp_path / "hnet-diag.toml").write_text('[thresholds.HND101]\nmin_ratio = "big"\n')
    with pytest.raises(InputError, match="finite number"):
        found = find_settings(tmp_path)
        build_settings(found.table, found.origin, select=None, ignore=None, thresholds=[])


def test_a_missing_analyzer_result_gives_no_data_not_an_alarm():
    f = evaluate(BY_CODE["HND101"], {})
    assert f.status is Status.NO_DATA and not f.is_alarm and f.recommendation is None


def test_an_analyzer_result_without_data_gives_no_data_with_its_reason():
    from hnet_diag.analyzers.gradients import GradientResult

    f = evaluate(BY_CODE["HND101"], {"gradients": GradientResult.no_data("no grad_norm logged")})
    assert f.status is Status.NO_DATA
    assert "no grad_norm logged" in f.message


def test_run_rules_applies_selection():
    findings = run_rules({}, build_settings({}, select=["HND4"], ignore=["HND405"]))
    assert [f.code for f in findings] == ["HND401", "HND402", "HND403", "HND404", "HND406", "HND407"]


def test_combined_flag_templates_become_one_flag_per_entry():
    from hnet_diag.rules.engine import split_flags

    assert split_flags(["--resume --max-steps 600", "--temperature 0.8 --top-p 0.9", "--resume"]) == [
        "--resume", "--max-steps 600", "--temperature 0.8", "--top-p 0.9"]
