"""Boundary maps: where each stage of the bundled model chunks a passage, on the committed checkpoints."""
from __future__ import annotations

import json
import math
from functools import lru_cache

import pytest

from conftest import RUNS, _load

torch = pytest.importorskip("torch")

from hnet_diag.analyzers import boundary_map  # noqa: E402
from hnet_diag.analyzers.boundaries import (  # noqa: E402
    binomial_tail,
    marked_text,
    measure_stages,
    wilson_interval,
    word_starts,
)


@lru_cache(maxsize=None)
def mapped(name: str):
    """The default boundary map of a fixture run (one model load per run for the whole session)."""
    return boundary_map(_load(name))


# -- the measurements, on bytes we can count by hand ------------------------------------------

def test_word_starts_are_a_words_first_byte_or_the_space_or_punctuation_before_it():
    text = b"The cat, sat."
    starts = [i for i, s in enumerate(word_starts(text)) if s]
    # T(0); " "(3) before c(4); " "(8) before s(9), after the comma which ends "cat"
    assert starts == [0, 3, 4, 8, 9]


def test_binomial_tail_matches_the_sum_of_the_binomial_terms():
    for k, n, p in ((0, 10, 0.3), (4, 10, 0.3), (10, 10, 0.3), (40, 100, 0.35), (167, 387, 0.346)):
        exact = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert binomial_tail(k, n, p) == pytest.approx(exact, rel=1e-9, abs=1e-300)


def test_wilson_interval_contains_the_share_and_narrows_with_more_boundaries():
    low, high = wilson_interval(40, 100)
    assert low < 0.4 < high
    low2, high2 = wilson_interval(400, 1000)
    assert low < low2 < 0.4 < high2 < high


def test_an_inner_stage_is_measured_in_the_original_bytes_and_against_the_outer_stage():
    passage = b"one two three four five six seven"
    outer = [0, 3, 4, 7, 8, 13, 14, 18, 19, 23, 24, 27, 28]  # every word start and the space before it
    inner = [0, 4, 14, 24]  # a subset of outer, in passage positions
    s0, s1 = measure_stages(passage, [outer, inner], window=len(passage), targets=(3.0, 3.0))
    assert s0.word_start_share == 1.0 and s1.word_start_share == 1.0
    assert s0.compression == pytest.approx(len(passage) / len(outer))
    assert s1.compression == pytest.approx(len(outer) / len(inner))  # positions of its own input per boundary
    assert s1.bytes_per_chunk == pytest.approx(len(passage) / len(inner))
    assert s1.chance_within_outer == 1.0 and s0.chance_within_outer is None
    assert s0.judged == len(outer) - 1  # the window start is a boundary by construction, not a decision
    assert s1.p_value < s0.chance


def test_window_starts_are_left_out_of_the_counts():
    passage = b"abcdefghij" * 4
    s0, = measure_stages(passage, [[0, 10, 20, 30]], window=10)
    assert s0.judged == 0 and s0.word_start_share is None and s0.p_value is None


def test_the_map_puts_a_separator_before_each_boundary_and_shows_spaces_and_newlines():
    assert marked_text(b"The cat\nsat", [0, 3, 8]) == "|The|·cat⏎|sat"
    assert marked_text(b"a|b", [1], limit=2) == "a|¦"


# -- the committed checkpoints ------------------------------------------------------------------

def test_healthy_run_puts_its_outer_boundaries_at_word_starts_above_chance():
    b = mapped("healthy")
    assert b.ok, b.reason
    assert b.source.startswith("the run's validation split")
    s0 = b.stage(0)
    assert s0.word_start_share > s0.chance
    assert s0.p_value < 0.01
    assert s0.share_low > s0.chance  # the 95% interval clears chance too


def test_healthy_run_realizes_about_the_logged_compression_on_the_passage():
    b = mapped("healthy")
    logged = _load("healthy").scalars
    for s in b.stages:
        tail = logged[logged.metric == f"compression/stage{s.stage}"].value.tail(50).mean()
        assert s.compression == pytest.approx(tail, rel=0.25)


def test_inner_stage_boundaries_are_a_subset_of_the_outer_stage_boundaries():
    b = mapped("healthy")
    assert set(b.stage(1).positions) <= set(b.stage(0).positions)
    assert b.stage(1).n_positions == b.stage(0).n_boundaries


def test_collapsed_run_cuts_inside_words_below_chance_where_the_healthy_run_is_above():
    healthy, broken = mapped("healthy").stage(0), mapped("no_warmup").stage(0)
    assert broken.word_start_share < broken.chance < healthy.word_start_share
    below = 1.0 - binomial_tail(broken.at_word_starts + 1, broken.judged, broken.chance)
    assert below < 0.01
    assert mapped("no_warmup").stage(1).compression > 2 * mapped("healthy").stage(1).compression


def test_run_without_ratio_loss_shows_its_inner_stage_barely_compressing():
    healthy, broken = mapped("healthy").stage(1), mapped("no_ratio_loss").stage(1)
    assert broken.compression < 0.6 * broken.target < healthy.compression


def test_the_map_is_deterministic():
    again = boundary_map(_load("healthy"))
    assert again.to_dict() == mapped("healthy").to_dict()


def test_a_given_text_is_mapped_as_given():
    b = boundary_map(_load("healthy"), "The cat sat on the mat. " * 20)
    assert b.ok and b.source == "given" and b.n_bytes == 480
    assert b.marked(0, 24).replace("|", "") == "The·cat·sat·on·the·mat.·"


def test_a_run_without_checkpoint_has_no_map_and_says_why():
    b = boundary_map(_load("aggressive_multipliers"))
    assert not b.ok and "no reference-trainer checkpoint" in b.reason


def test_a_model_above_the_parameter_limit_is_not_rebuilt():
    b = boundary_map(_load("healthy"), max_params=1000)
    assert not b.ok and "max_params=1,000" in b.reason and "boundary_map(run, max_params=None)" in b.reason


def test_the_strip_has_one_row_per_stage(tmp_path):
    ax = mapped("healthy").plot()
    assert len(ax.get_yticks()) == 2
    assert "stage 1" in ax.get_yticklabels()[1].get_text()
    ax.figure.savefig(tmp_path / "strip.png")
    assert (tmp_path / "strip.png").stat().st_size > 1000


def test_json_report_carries_the_measurements_per_stage(tmp_path):
    from hnet_diag.cli import main

    out = tmp_path / "r.json"
    assert main(["analyze", str(RUNS / "healthy"), "-o", str(out), "--no-plots"]) == 0
    stages = json.loads(out.read_text())["boundaries"]["stages"]
    assert [s["stage"] for s in stages] == [0, 1]
    b = mapped("healthy")
    for s, mine in zip(stages, b.stages):
        assert s["word_start_share"] == pytest.approx(mine.word_start_share)
        assert s["chance"] == pytest.approx(mine.chance) and s["p_value"] == pytest.approx(mine.p_value)
        assert s["map"].startswith("|")
        assert "_positions" not in s


def test_markdown_report_shows_the_map_and_the_strip(tmp_path):
    from hnet_diag.cli import main

    out = tmp_path / "report.md"
    assert main(["analyze", str(RUNS / "healthy"), "-o", str(out)]) == 0
    text = out.read_text()
    assert "**Boundary map**" in text and "stage 0: |" in text
    assert "plots/boundaries.png" in text and (tmp_path / "plots" / "boundaries.png").is_file()


# -- HND304 on the committed runs ----------------------------------------------------------------

def judged(name: str):
    from hnet_diag.rules.engine import evaluate
    from hnet_diag.rules.registry import BY_CODE

    return evaluate(BY_CODE["HND304"], {"boundaries": mapped(name), "training": _load(name).training})


def test_healthy_run_stays_quiet_and_says_its_inner_stage_is_too_early_to_judge():
    f = judged("healthy")
    assert f.status.value == "pass", f.message
    assert "stage 1 not above chance is not judged before step 1,000" in f.message
    assert "checkpoint of step 300" in f.message


def test_collapsed_run_fires_on_boundaries_inside_words():
    f = judged("no_warmup")
    assert f.is_alarm and f.severity.value == "medium"
    assert "stage 0 cuts inside words more often than chance" in f.message
    assert f.evidence.plot == "boundaries.png" and f.evidence.measured < f.evidence.threshold


def test_run_without_ratio_loss_keeps_its_boundaries_at_word_starts_so_only_compression_fires():
    f = judged("no_ratio_loss")
    assert f.status.value == "pass", f.message
    assert "stage 1: 4" in f.message  # its inner stage share, quoted above chance


def test_a_stage_at_chance_fires_once_the_run_is_past_min_steps():
    from dataclasses import replace

    from hnet_diag.rules.engine import evaluate
    from hnet_diag.rules.registry import BY_CODE

    late = replace(mapped("healthy"), checkpoint_step=1000)  # the same map, as if from a run of 1,000 steps
    f = evaluate(BY_CODE["HND304"], {"boundaries": late})
    assert f.is_alarm and "stage 1 is no closer to word starts than chance" in f.message


def test_the_readme_boundary_map_example_runs_as_written(tmp_path, monkeypatch):
    import re

    readme = (RUNS.parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Boundary maps", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.replace('"fixtures/runs/healthy"', repr(str(RUNS / "healthy"))), "README.md", "exec"), namespace)
    assert namespace["b"].ok and namespace["b"].source == "given"
    assert (tmp_path / "boundaries.png").stat().st_size > 1000
    assert namespace["default"].to_dict() == mapped("healthy").to_dict()


def test_without_running_the_model_there_is_no_map_and_the_finding_says_why():
    from hnet_diag.analyzers.boundaries import analyze_boundaries
    from hnet_diag.rules.engine import evaluate
    from hnet_diag.rules.registry import BY_CODE
    from hnet_diag.sources.reference_model import boundary_input

    b = analyze_boundaries(boundary_input(_load("healthy"), enabled=False))
    assert not b.ok and "--no-samples" in b.reason
    f = evaluate(BY_CODE["HND304"], {"boundaries": b})
    assert f.status.value == "no-data" and "--no-samples" in f.message


def test_the_passage_comes_only_from_bundled_or_in_run_data_files(tmp_path):
    import shutil

    from hnet_diag.sources.reference_model import CORPUS, validation_passage

    run = shutil.copytree(RUNS / "healthy", tmp_path / "run", ignore=shutil.ignore_patterns("checkpoints"))
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not leak\n\nthis either\n" * 50)
    (run / "mine.txt").write_bytes(b"First paragraph here.\n\nSecond one.\n\nThird one, kept for validation.\n" * 3)
    for names in (["/etc/hostname"], [str(secret)], ["../secret.txt"], ["bundled:../../../../etc/hostname"]):
        passage, where = validation_passage(_load("healthy"), {"data": names})
        assert where == CORPUS and b"leak" not in passage, names
    (run / "link.txt").symlink_to(secret)
    from hnet_diag import load_run

    assert validation_passage(load_run(run), {"data": ["link.txt"]})[1] == CORPUS
    passage, where = validation_passage(load_run(run), {"data": ["mine.txt"]})
    assert where == "the run's validation split (mine.txt)" and passage and passage in (run / "mine.txt").read_bytes()


def test_no_samples_leaves_the_boundary_map_out_and_hnd304_says_why(tmp_path):
    from hnet_diag.cli import main

    out = tmp_path / "r.json"
    assert main(["analyze", str(RUNS / "no_warmup"), "-o", str(out), "--no-plots", "--no-samples"]) == 0
    data = json.loads(out.read_text())
    assert data["boundaries"] is None
    check = next(c for c in data["checks"] if c["code"] == "HND304")
    assert check["status"] == "no-data" and "--no-samples" in check["message"]
