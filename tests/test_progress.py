"""The reading progress bar goes to stderr only, and only when asked or on a terminal."""
from pathlib import Path

from hnet_diag import load_run
from hnet_diag import progress

RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "healthy"


def test_off_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("HNET_DIAG_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "MIN_BYTES", 0)
    load_run(RUN)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_forced_on_draws_on_stderr_only(capsys, monkeypatch):
    monkeypatch.setenv("HNET_DIAG_PROGRESS", "1")
    run = load_run(RUN)
    out, err = capsys.readouterr()
    assert out == ""
    assert "files" in err and run.files
