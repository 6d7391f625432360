"""The settings file: found once from the run's path (never from the current directory)."""
from __future__ import annotations

import pytest

from hnet_diag import diagnose, load_run
from hnet_diag.errors import InputError
from hnet_diag.settings_file import ProjectSettings, find_settings


def test_the_nearest_settings_file_above_the_run_folder_wins(tmp_path, monkeypatch):
    project = tmp_path / "project"
    run_dir = project / "runs" / "a"
    run_dir.mkdir(parents=True)
    (project / "hnet-diag.toml").write_text("select = ['HND1']\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "hnet-diag.toml").write_text("select = ['HND4']\n")
    monkeypatch.chdir(cwd)
    found = find_settings(run_dir)
    assert dict(found.table) == {"select": ["HND1"]} and found.path == project / "hnet-diag.toml"
    (run_dir / "pyproject.toml").write_text("[tool.black]\nline-length = 99\n")  # no hnet-diag table: skipped
    assert dict(find_settings(run_dir).table) == {"select": ["HND1"]}
    (run_dir / "pyproject.toml").write_text("[tool.hnet-diag]\nignore = ['HND2']\n")
    found = find_settings(run_dir)
    assert dict(found.table) == {"ignore": ["HND2"]} and found.path == run_dir / "pyproject.toml"
    assert found.origin.endswith("pyproject.toml [tool.hnet-diag]")


def test_hnet_diag_toml_beats_pyproject_in_the_same_folder_and_a_file_names_its_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.hnet-diag]\nignore = ['HND2']\n")
    (tmp_path / "hnet-diag.toml").write_text("[tool.hnet-diag]\nignore = ['HND5']\n")
    log = tmp_path / "train.log"
    log.write_text("step 1 loss=2.0\n")
    assert dict(find_settings(log).table) == {"ignore": ["HND5"]}


def test_no_settings_file_gives_the_defaults(tmp_path):
    found = find_settings(tmp_path)
    assert found == ProjectSettings() and found.origin == "defaults" and found.path is None


def test_invalid_toml_is_an_input_error_naming_the_file(tmp_path):
    (tmp_path / "hnet-diag.toml").write_text("select = [\n")
    with pytest.raises(InputError) as err:
        find_settings(tmp_path)
    assert err.value.path.endswith("hnet-diag.toml") and "invalid TOML" in str(err.value)


def test_diagnose_applies_the_settings_load_run_found_without_looking_again(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(f'{{"step": {s}, "loss": {3 - s / 100}}}\n' for s in range(1, 60)))
    (tmp_path / "hnet-diag.toml").write_text("select = ['HND4']\n")
    run = load_run(tmp_path)
    (tmp_path / "hnet-diag.toml").unlink()  # diagnose must not read the file again
    d = diagnose(run)
    assert d.findings and all(f.code.startswith("HND4") for f in d.findings)
    assert d.settings_origin.endswith("hnet-diag.toml")
    assert {f.code[:4] for f in diagnose(run, settings={}).findings} > {"HND4"}  # explicit settings win
