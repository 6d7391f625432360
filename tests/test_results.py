"""Results: the typed bridge from analyzers to rules has a field for every analyzer."""
from __future__ import annotations

from dataclasses import fields

import pytest

from hnet_diag.analyzers import ANALYZERS, analyzer
from hnet_diag.results import SETTINGS, Results


def test_every_registered_analyzer_has_a_typed_field_of_its_result_type():
    names = {f.name: f for f in fields(Results)}
    assert set(ANALYZERS) == set(names) - set(SETTINGS) - {"failed", "progress"}
    for name in ANALYZERS:
        returned = analyzer(name).__annotations__.get("return")
        assert returned and returned.split(".")[-1] in str(names[name].type), (name, returned, names[name].type)


def test_a_misspelt_result_name_is_an_error_not_a_silently_missing_result():
    with pytest.raises(KeyError, match="gradient"):
        Results.of({"gradient": None})


def test_the_runs_settings_fill_what_the_results_lack_and_explicit_ones_win():
    from hnet_diag.run import TrainingSettings

    class RunLike:
        training = TrainingSettings(learning_rate=1e-3)
        model = None
        generation = None

    assert Results.of({}, RunLike()).training.learning_rate == 1e-3
    mine = TrainingSettings(learning_rate=5e-4)
    assert Results.of({"training": mine}, RunLike()).training is mine
    assert Results.of(Results(), RunLike()).training.learning_rate == 1e-3  # None does not hide the run's
