"""Samples as evidence: the run's own checkpoint writes, the report shows and measures it.

Real checkpoints from the bundled trainer (fixtures/runs/example: generation.json at
temperature 1.0 / top-p 1.0; fixtures/runs/healthy: no generation settings), and a real
greedy `hnet-diag generate` for the looping case.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from types import SimpleNamespace

import pytest

from conftest import RUNS, close_figures
from hnet_diag import load_run
from hnet_diag.analyzers import sample_quality as samples_module
from hnet_diag.analyzers import samples
from hnet_diag.analyzers.sample_quality import (SamplesResult, analyze_samples, longest_repeated_span, repeated_ngram_share,
                                         valid_utf8_bytes)
from hnet_diag.cli import main
from hnet_diag.diagnosis import diagnose
from hnet_diag.report.machine import to_json_dict
from hnet_diag.rules.registry import BY_CODE
from hnet_diag.sources.samples_input import passage_prompts, read_prompts, run_text, samples_input
from hnet_diag.trainer.sampling import RECOMMENDED


@pytest.fixture(scope="module")
def example():
    return load_run(RUNS / "example")


@pytest.fixture(scope="module")
def healthy():
    return load_run(RUNS / "healthy")


@pytest.fixture(scope="module")
def example_diagnosis(example):
    return diagnose(example)


@pytest.fixture(scope="module")
def greedy_run(tmp_path_factory):
    """healthy's files plus a generation.json written by a real greedy `hnet-diag generate`."""
    folder = tmp_path_factory.mktemp("greedy") / "greedy"
    shutil.copytree(RUNS / "healthy", folder)
    ckpt = next((folder / "checkpoints").glob("*.pt"))
    assert main(["generate", "--checkpoint", str(ckpt), "--temperature", "0", "--max-new-tokens", "64",
                 "--prompt", "ROMEO:\n", "--out", str(folder)]) == 0
    return folder


# -- the measurements --------------------------------------------------------------------

def test_a_loop_repeats_most_of_its_4grams_and_a_long_span_while_prose_does_not():
    loop = b"the and the and the and the and the and the and "
    prose = b"Now is the winter of our discontent made glorious summer"
    rep, total = repeated_ngram_share(loop)
    assert rep / total > 0.8 and longest_repeated_span(loop) >= len(loop) - 8
    rep, total = repeated_ngram_share(prose)
    assert rep / total < 0.1 and longest_repeated_span(prose) < 6


def test_valid_utf8_counts_broken_bytes_but_not_a_character_cut_at_the_end():
    assert valid_utf8_bytes("café".encode()) == 5
    assert valid_utf8_bytes(b"ab\xffcd\xc3") == 5  # \xff is never UTF-8; \xc3 starts a cut character
    assert valid_utf8_bytes(b"\xff\xfe") == 0


def test_default_prompts_are_passage_starts_cut_at_a_word():
    docs = [b"ROMEO:\nBut soft, what light through yonder window breaks? It is the east", b"JULIET:\nAy me!"]
    prompts = passage_prompts(docs, size=30)
    assert prompts == (b"ROMEO:\nBut soft, what light ", b"JULIET:\nAy me!")


def test_the_runs_own_text_is_read_only_when_bundled_or_inside_the_run(tmp_path):
    def ckpt(data):
        return SimpleNamespace(config={"training": {"data": data}})

    assert run_text(ckpt(["bundled:tinyshakespeare.txt"]), tmp_path)[0] == ["bundled:tinyshakespeare.txt"]
    (tmp_path / "text.txt").write_text("A:\nhello there\n\nB:\nbye\n")
    assert run_text(ckpt(["text.txt"]), tmp_path)[0] == [str(tmp_path / "text.txt")]
    files, why = run_text(ckpt(["/etc/passwd"]), tmp_path)
    assert files is None and "not inside the run folder" in why
    files, why = run_text(ckpt(["bundled:../../../etc/passwd"]), tmp_path)
    assert files is None and "not a bundled corpus" in why


# -- the analyzer on real checkpoints ------------------------------------------------------

def test_example_samples_at_the_runs_settings_and_the_recommended_ones(example):
    r = samples(example)
    assert r.ok and [s.setting for s in r.sets] == ["run", "recommended"]
    ours, rec = r.at("run"), r.at("recommended")
    assert (ours.temperature, ours.top_p) == (1.0, 1.0)  # the run's generation.json
    assert (rec.temperature, rec.top_p) == (RECOMMENDED.temperature, RECOMMENDED.top_p)
    assert "generation.json" in r.settings_note and "validation" in r.prompt_source
    for s in (ours, rec):
        assert s.n_samples == 3 and s.n_bytes > 0 and len(s.samples) == 3
        assert 0 <= s.repeated_4gram_share <= 1 and 0 < s.valid_utf8_share <= 1 and s.loglik_per_byte < 0
        assert sum(x.n_bytes for x in s.samples) == s.n_bytes
    # truncating the tail is what the recommended settings do: the model finds its own samples likelier
    assert rec.loglik_per_byte > ours.loglik_per_byte
    ax = r.plot()
    assert ax.get_title() == "Samples from the checkpoint"
    close_figures()


def test_healthy_has_no_settings_so_the_generate_defaults_are_sampled_and_said(healthy):
    r = samples(healthy)
    assert r.ok and "records no sampling settings" in r.settings_note
    assert (r.at("run").temperature, r.at("run").top_p) == (1.0, 1.0) and r.at("recommended") is not None


def test_samples_are_deterministic_without_the_cache(example):
    first = samples(example, prompts=["KING RICHARD III:\n"])
    samples_module._GENERATED.clear()
    second = samples(example, prompts=["KING RICHARD III:\n"])
    assert first == second and first.at("run").samples[0].prompt == "KING RICHARD III:\n"


def test_a_model_above_the_parameter_limit_is_skipped_with_its_reason(example):
    r = analyze_samples(samples_input(example, max_params=1000))
    assert not r.ok and "samples skipped" in r.reason and "max_params=1,000" in r.reason and "--no-samples" in r.reason


def test_a_run_without_a_checkpoint_has_no_samples():
    r = samples(load_run(RUNS / "long_generation"))
    assert not r.ok and "no reference-trainer checkpoint" in r.reason


# -- findings and report -----------------------------------------------------------------

def test_hnd501_on_example_quotes_the_samples_at_both_settings(example_diagnosis):
    d = example_diagnosis
    f = d.finding("HND501")
    ours, rec = d.results.samples.at("run"), d.results.samples.at("recommended")
    assert f.is_alarm
    gap = rec.loglik_per_byte - ours.loglik_per_byte
    for text in (f"{ours.loglik_per_byte:.3g} nats/byte", f"{rec.loglik_per_byte:.3g} nats/byte",
                 f"{100 * ours.valid_utf8_share:.1f}% valid UTF-8", "at temperature 0.8, top-p 0.9",
                 f"gap of {gap:.3g}", f"threshold {BY_CODE['HND501'].threshold('min_loglik_gap').default:g}"):
        assert text in f.message
    assert f.evidence.measured == pytest.approx(gap)


def test_hnd501_passes_when_the_samples_do_not_show_it(example, example_diagnosis):
    d = diagnose(example, settings={"thresholds": {"HND501": {"min_loglik_gap": 5.0}}}, results=example_diagnosis.results)
    f = d.finding("HND501")
    assert not f.is_alarm and f.status.value == "pass" and "nats/byte" in f.message


def test_hnd501_without_samples_judges_the_values_and_says_no_sample_backs_it(tmp_path):
    out = tmp_path / "b" / "report.json"
    assert main(["analyze", str(RUNS / "example"), "--no-samples", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    checks = {c["code"]: c for c in data["checks"]}
    assert checks["HND501"]["status"] == "warn"
    assert "no sample backs this (samples were not generated (--no-samples))" in checks["HND501"]["message"]
    assert checks["HND505"]["status"] == "no-data" and data["samples"] is None


def test_example_report_is_byte_identical_twice_and_shows_the_samples_side_by_side(tmp_path, example_diagnosis):
    outs = []
    for i in range(2):
        samples_module._GENERATED.clear()  # the second run generates again
        out = tmp_path / str(i) / "report.md"
        assert main(["analyze", str(RUNS / "example"), "-o", str(out), "--no-plots"]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    text = outs[0].decode()
    section = text[text.index("### Samples from the Checkpoint"):text.index("### Decoding Consistency")]
    assert "| prompt | run: temperature 1, top-p 1 | recommended: temperature 0.8, top-p 0.9 |" in section
    s = example_diagnosis.results.samples
    for row in ("log-likelihood per byte", "valid UTF-8", "repeated 4-grams", "longest repeated span", "distinct-1"):
        assert f"| {row}" in section
    assert f"| bytes written | {s.at('run').n_bytes} | {s.at('recommended').n_bytes} |" in section
    assert "Second Citizen:⏎" in section  # the prompt, its line break shown
    assert "HND505" in section


def test_json_carries_the_measurements_and_the_cut_samples(example_diagnosis):
    data = json.loads(json.dumps(to_json_dict(example_diagnosis)))
    sets = {s["setting"]: s for s in data["samples"]["sets"]}
    assert set(sets) == {"run", "recommended"}
    for s in sets.values():
        assert {"repeated_4gram_share", "longest_repeated_span", "distinct_1", "distinct_2", "loglik_per_byte",
                "valid_utf8_share", "temperature", "top_p"} <= set(s)
        assert len(s["samples"]) == 3 and all(len(x["text"]) <= samples_module.SHOWN_CHARS for x in s["samples"])


def test_healthy_stays_clean_with_samples(healthy):
    with_samples = diagnose(healthy)
    without = diagnose(healthy, results=replace(with_samples.results, samples=SamplesResult.no_data("--no-samples")))
    assert with_samples.finding("HND505").status.value == "pass"
    assert with_samples.finding("HND501").status.value == "no-data"  # the run never sampled: settings not judged
    assert [f.code for f in with_samples.at_or_above("medium")] == [f.code for f in without.at_or_above("medium")]
    assert not with_samples.at_or_above("high")


def test_a_greedy_run_loops_and_hnd505_fires_with_the_numbers(greedy_run):
    d = diagnose(load_run(greedy_run))
    ours = d.results.samples.at("run")
    assert ours.temperature == 0.0 and d.results.samples.at("recommended") is None
    f = d.finding("HND505")
    assert f.is_alarm and f.severity.value == "medium"
    assert f"{100 * ours.repeated_4gram_share:.1f}% of their byte 4-grams" in f.message
    assert f"longest repeated span is {ours.longest_repeated_span} bytes" in f.message
    assert "--repetition-penalty 1.1" in " ".join(f.recommendation.flags)


def test_prompts_file_on_the_command_line_and_a_missing_one(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("KING RICHARD III:\\n\n\nROMEO:\\nO, she doth teach\n")
    assert read_prompts(prompts) == ("KING RICHARD III:\n", "ROMEO:\nO, she doth teach")
    out = tmp_path / "a" / "report.json"
    assert main(["analyze", str(RUNS / "example"), "--prompts", str(prompts), "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [x["prompt"] for x in data["samples"]["sets"][0]["samples"]] == ["KING RICHARD III:\n", "ROMEO:\nO, she doth teach"]
    assert data["samples"]["prompt_source"] == "prompts given"
    capsys.readouterr()
    assert main(["check", str(RUNS / "example"), "--prompts", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert "missing.txt" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unusable_run_settings_give_a_reason_and_a_short_max_new_tokens_is_kept(healthy):
    from hnet_diag.run import GenerationSettings

    broken = replace(healthy, generation=GenerationSettings(temperature=float("nan"), source="generation.json"))
    r = analyze_samples(samples_input(broken))
    assert not r.ok and "cannot be used (they are not finite numbers)" in r.reason
    short = replace(healthy, generation=GenerationSettings(temperature=0.7, top_p=0.95, max_new_tokens=16,
                                                           source="generation.json"))
    r = analyze_samples(samples_input(short))
    assert [s.setting for s in r.sets] == ["run"]  # truncated sampling: no recommended comparison needed
    assert r.at("run").max_new_bytes == 16 and all(s.n_bytes <= 16 for s in r.at("run").samples)
