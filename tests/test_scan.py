"""`hnet-diag scan`: every run under a folder, in worker processes (or on Dask), worst first."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from hnet_diag.cli import main
from hnet_diag.scan import find_runs, scan

from conftest import example_like, run_folder as write_run

FIXTURE_RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small sweep: a healthy run, a sick one, one nested a level deeper, one unreadable."""
    root = tmp_path_factory.mktemp("sweep")
    write_run(root / "lr3e-4")
    example_like(root / "example")
    write_run(root / "group" / "short_warmup", max_steps=300, warmup=2, grad_spikes={4: 25.0, 6: 20.0, 9: 15.0})
    (root / "broken").mkdir()
    (root / "broken" / "events.out.tfevents.1.host").write_bytes(b"not an event file at all")
    (root / "sweep.json").write_text('{"note": "the sweep itself, not a run"}')
    return root


def _analyze_codes(path: Path) -> list[str]:
    """What `hnet-diag analyze` finds on one run: its alarms, most important first."""
    from hnet_diag.cli import build_parser
    from hnet_diag.commands.analyze import diagnose_from_args

    _run, d = diagnose_from_args(build_parser().parse_args(["analyze", str(path)]))
    return [f.code for f in d.alarms]


def test_run_folders_are_found_at_any_depth_and_their_subfolders_belong_to_them(tmp_path):
    write_run(tmp_path / "a")
    (tmp_path / "a" / "checkpoints").mkdir()
    (tmp_path / "a" / "checkpoints" / "config.json").write_text("{}")
    split = tmp_path / "deep" / "b"
    (split / "train").mkdir(parents=True)
    shutil.copy(next((FIXTURE_RUNS / "healthy").glob("events.out.tfevents.*")), split / "train")
    (tmp_path / "notes.json").write_text("{}")
    assert find_runs(tmp_path) == [tmp_path / "a", split]


def test_a_single_run_folder_scans_as_one_row(tmp_path):
    run = write_run(tmp_path / "only", max_steps=200)
    result = scan(run, workers=1)
    assert [r.run for r in result.rows] == ["."]
    assert result.rows[0].codes == tuple(_analyze_codes(run))


@pytest.mark.slow
def test_fixture_runs_scan_gives_one_row_per_run_with_the_findings_of_analyze():
    sys.path.insert(0, str(FIXTURE_RUNS.parent))
    import score_labels  # diagnoses each fixture run once per session (shared with the label tests)

    result = scan(FIXTURE_RUNS, workers=2)
    runs = sorted(p.name for p in FIXTURE_RUNS.iterdir() if p.is_dir())
    assert sorted(r.run for r in result.rows) == runs
    for row in result.rows:
        assert row.error is None, row
        assert set(row.codes) == score_labels.raised_codes(row.run), row.run
        assert len(row.codes) == len(set(row.codes))
    by_name = {r.run: r for r in result.rows}
    assert by_name["healthy"].worst == "ok" and by_name["healthy"].codes == ()
    assert {"HND101", "HND202"} <= set(by_name["aggressive_multipliers"].codes)
    ranks = [r.rank for r in result.rows]
    assert ranks == sorted(ranks)  # worst first


def test_an_unreadable_run_is_a_row_with_its_error_and_the_scan_goes_on(sweep, capsys):
    assert main(["scan", str(sweep), "--workers", "2"]) == 2
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(lines) == 4
    assert lines[0].startswith("| `broken` |") and "error:" in lines[0] and "events.out.tfevents.1.host" in lines[0]
    assert any(line.startswith("| `group/short_warmup` |") for line in lines)
    assert "sweep.json" not in out


def test_rows_are_sorted_worst_first_and_agree_with_analyze(sweep):
    result = scan(sweep, workers=2)
    assert [r.worst for r in result.rows][0] == "error"
    readable = [r for r in result.rows if not r.error]
    assert [r.rank for r in readable] == sorted(r.rank for r in readable)
    for row in readable:
        assert list(row.codes) == _analyze_codes(sweep / row.run), row.run
    assert result.rows[-1].run == "lr3e-4" and result.rows[-1].worst == "ok"


def test_json_and_csv_carry_the_same_rows_as_markdown(sweep, tmp_path, capsys):
    assert main(["scan", str(sweep), "-o", str(tmp_path / "t.json")]) == 2
    assert "table:" in capsys.readouterr().out
    data = json.loads((tmp_path / "t.json").read_text())
    assert main(["scan", str(sweep), "--format", "csv"]) == 2
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run"] for r in rows] == [r["run"] for r in data["runs"]]
    assert [r["codes"].split() for r in rows] == [r["codes"] for r in data["runs"]]
    assert data["summary"]["error"] == 1 and data["runs"][0]["error"]
    example = next(r for r in data["runs"] if r["run"] == "example")
    assert example["last_step"] == 499 and example["planned_steps"] == 1500
    assert example["findings"][0]["severity"] == example["worst"]


def test_exit_codes_follow_check(sweep, tmp_path, capsys):
    clean = tmp_path / "clean"
    write_run(clean / "a")
    write_run(clean / "b", seed=1)
    assert main(["scan", str(clean)]) == 0
    sick = tmp_path / "sick"
    example_like(sick / "example")
    write_run(sick / "ok")
    assert main(["scan", str(sick), "--fail-on", "high"]) == 1
    assert main(["scan", str(sick), "--ignore", "HND1,HND2,HND3,HND4,HND5", "--fail-on", "low"]) == 0
    assert main(["scan", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["scan", str(tmp_path / "empty")]) == 2
    assert "no run folders" in capsys.readouterr().err
    assert main(["scan", str(sick), "--ignore", "HND77"]) == 2
    assert "HND77" in capsys.readouterr().err


def test_the_table_is_the_same_whatever_the_number_of_workers(sweep):
    from hnet_diag.report.scan_table import to_json

    assert to_json(scan(sweep, workers=1)) == to_json(scan(sweep, workers=3))


@pytest.mark.slow
def test_dask_localcluster_gives_the_same_table_as_worker_processes(sweep, capsys):
    distributed = pytest.importorskip("distributed")
    from hnet_diag.report.scan_table import to_json

    local = to_json(scan(sweep, workers=2))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        capsys.readouterr()
        assert main(["scan", str(sweep), "--dask", cluster.scheduler_address, "--format", "json"]) == 2
        assert capsys.readouterr().out == local


def test_an_unreachable_dask_scheduler_is_one_clear_error(sweep):
    pytest.importorskip("distributed")
    from hnet_diag.errors import HnetDiagError

    with pytest.raises(HnetDiagError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        scan(sweep, dask="tcp://127.0.0.1:9", dask_timeout=1)


def test_a_settings_file_given_on_the_command_line_applies_to_every_run(tmp_path, capsys):
    sick = tmp_path / "sick"
    example_like(sick / "example")
    (tmp_path / "conf").mkdir()  # not above the runs, so only --settings brings it in
    settings = tmp_path / "conf" / "hnet-diag.toml"
    settings.write_text('ignore = ["HND1", "HND2", "HND3", "HND4", "HND5"]\n')
    assert main(["scan", str(sick), "--fail-on", "low"]) == 1
    assert main(["scan", str(sick), "--fail-on", "low", "--settings", str(settings)]) == 0
    (tmp_path / "conf" / "other.toml").write_text("[tool.other]\nx = 1\n")
    assert main(["scan", str(sick), "--settings", str(tmp_path / "conf" / "other.toml")]) == 2
    assert "no [tool.hnet-diag] table" in capsys.readouterr().err
