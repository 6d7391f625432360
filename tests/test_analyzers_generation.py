"""Generation settings: randomness, repetition penalty, length against training context."""
import pytest

from hnet_diag.analyzers.generation import analyze_generation, is_pure_sampling
from hnet_diag.run import GenerationSettings
from conftest import close_figures, settings, records_run

RECS = [{"step": s, "loss": 3.0} for s in range(10)]


def test_official_defaults_are_pure_sampling_without_repetition_penalty(tmp_path):
    gen = GenerationSettings(temperature=1.0, top_p=1.0, max_new_tokens=1024, source="generation.json")
    res = analyze_generation(records_run(tmp_path, RECS, settings(seq_len=256), generation=gen))
    assert res.ok and res.pure_sampling is True
    assert res.has_repetition_penalty is False
    assert res.max_new_over_seq_len == pytest.approx(4.0)
    assert res.source == "generation.json"


def test_top_k_or_low_temperature_or_nucleus_is_not_pure_sampling():
    assert is_pure_sampling(1.0, 1.0, 50) is False
    assert is_pure_sampling(0.7, 1.0, None) is False
    assert is_pure_sampling(1.0, 0.9, None) is False
    assert is_pure_sampling(1.2, None, 0) is True
    assert is_pure_sampling(None, 0.9, None) is None


def test_repetition_penalty_of_one_is_no_penalty(tmp_path):
    gen = GenerationSettings(temperature=0.8, repetition_penalty=1.0)
    assert analyze_generation(records_run(tmp_path / "a", RECS, generation=gen)).has_repetition_penalty is False
    gen = GenerationSettings(temperature=0.8, repetition_penalty=1.15)
    assert analyze_generation(records_run(tmp_path / "b", RECS, generation=gen)).has_repetition_penalty is True


def test_run_without_generation_settings_gives_no_data(tmp_path):
    res = analyze_generation(records_run(tmp_path, RECS, settings()))
    assert res.status == "no_data" and res.pure_sampling is None


def test_plot_compares_max_new_tokens_with_the_training_context(tmp_path):
    gen = GenerationSettings(temperature=1.0, top_p=1.0, max_new_tokens=1024)
    ax = analyze_generation(records_run(tmp_path, RECS, settings(seq_len=256), generation=gen)).plot()
    assert [p.get_height() for p in ax.patches] == [1024, 256]
    close_figures()
