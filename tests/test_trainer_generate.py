"""Sampling rules of `hnet-diag generate`, checked on hand-made logits."""
import pytest

torch = pytest.importorskip("torch")

from hnet_diag.trainer.generate import SamplingSettings, next_byte, run_folder_of  # noqa: E402


def _logits():
    logits = torch.full((256,), -5.0)
    logits[65], logits[66], logits[67] = 3.0, 2.9, 0.0
    return logits


def test_temperature_zero_and_top_k_one_both_pick_the_most_likely_byte():
    g = torch.Generator().manual_seed(0)
    assert next_byte(_logits(), [], SamplingSettings(temperature=0.0), g) == 65
    assert {next_byte(_logits(), [], SamplingSettings(top_k=1), g) for _ in range(20)} == {65}


def test_top_p_keeps_only_the_smallest_set_reaching_the_mass():
    g = torch.Generator().manual_seed(0)
    picks = {next_byte(_logits(), [], SamplingSettings(top_p=0.6), g) for _ in range(200)}
    assert picks == {65, 66}


def test_repetition_penalty_steers_away_from_bytes_already_seen():
    g = torch.Generator().manual_seed(0)
    assert next_byte(_logits(), [65], SamplingSettings(temperature=0.0, repetition_penalty=1.3), g) == 66
    assert next_byte(_logits(), [65], SamplingSettings(temperature=0.0), g) == 65


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        SamplingSettings(top_p=0.0).check()


def test_generation_json_goes_to_the_run_folder_not_the_checkpoints_folder(tmp_path):
    assert run_folder_of(tmp_path / "run" / "checkpoints" / "step_000010.pt") == (tmp_path / "run").resolve()
    assert run_folder_of(tmp_path / "model.pt") == tmp_path.resolve()
