"""One change, each trainer's words (hnet_diag.advice)."""
from __future__ import annotations

import pytest

from hnet_diag.advice import Action, advise, bundled_flags, neutral
from hnet_diag.advice.vocabulary import TABLES

WARMUP = Action("warmup_steps", to=1100, from_=525)


@pytest.mark.parametrize(
    ("trainer", "code", "cli"),
    [
        ("hnet-diag", ("--warmup-steps 1100",), ""),
        ("hf", ("TrainingArguments(warmup_steps=1100)",), "--warmup_steps 1100"),
        ("nanogpt", ("warmup_iters = 1100",), "--warmup_iters=1100"),
        ("llmc", ("-u 1100",), ""),
        ("build-nanogpt", ("warmup_steps = 1100",), ""),
        ("modded-nanogpt", ("warmup_iters = 1100",), ""),
        ("llamafactory", ("warmup_steps: 1100",), ""),
    ],
)
def test_the_same_warmup_change_in_each_trainers_own_terms(trainer, code, cli):
    advice = advise([WARMUP], trainer)
    assert advice.code == code
    assert advice.cli == cli


def test_lightning_warmup_is_a_scheduler_in_configure_optimizers_with_the_value():
    advice = advise([WARMUP], "lightning")
    assert not advice.code
    assert "configure_optimizers" in advice.notes[0] and "total_iters=1100" in advice.notes[0]


def test_an_unknown_trainer_gets_a_neutral_sentence_with_both_values():
    assert advise([WARMUP], "unknown").notes == ("Lengthen the warmup to 1100 steps (now 525).",)
    assert neutral(Action("learning_rate", to=7e-6, from_=1e-5, text="7e-6")) == "Lower the peak learning rate to 7e-6 (now 1e-05)."


def test_several_hf_changes_merge_into_one_training_arguments_call():
    advice = advise([Action("learning_rate", to=5e-5, from_=1e-4, text="5e-5"), Action("max_grad_norm", to=1.0, text="1.0")], "hf")
    assert advice.code == ("TrainingArguments(learning_rate=5e-5, max_grad_norm=1.0)",)
    assert advice.cli == "--learning_rate 5e-5 --max_grad_norm 1.0"


def test_lightning_clipping_and_length_are_trainer_arguments():
    advice = advise([Action("max_steps", to=11000, from_=5739), Action("max_grad_norm", to=1.0, text="1.0")], "lightning")
    assert advice.code == ("Trainer(max_steps=11000, gradient_clip_val=1.0)",)


def test_nanogpt_moves_its_decay_horizon_with_the_run_length():
    advice = advise([Action("max_steps", to=6000, from_=5000)], "nanogpt")
    assert advice.code == ("max_iters = 6000", "lr_decay_iters = 6000")


def test_llmc_has_no_clipping_flag_and_says_so_with_the_value():
    advice = advise([Action("max_grad_norm", to=0.5, from_=1.0, text="0.5")], "llmc")
    assert not advice.code and "fixed 1.0" in advice.notes[0] and "0.5" in advice.notes[0]


def test_hf_overfitting_remedy_adds_best_model_and_early_stopping_only_where_it_exists():
    actions = [Action("max_steps", to=1000, from_=5000),
               Action("early_stopping", optional=True, params=(("patience", 2),))]
    hf = advise(actions, "hf")
    assert 'TrainingArguments(max_steps=1000, load_best_model_at_end=True, metric_for_best_model="eval_loss", ' \
           "greater_is_better=False)" in hf.code
    assert "Trainer(..., callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])" in hf.code
    assert advise(actions, "hnet-diag").code == ("--max-steps 1000",)  # the bundled trainer has none: not shown
    assert advise(actions, "unknown").notes == ("Train to step 1000 (now 5000).",)


def test_bundled_flags_are_separate_tokens_for_tools_that_rerun_the_fix():
    assert bundled_flags([Action("resume"), Action("max_steps", to=300, from_=100)]) == ("--resume", "--max-steps 300")


def test_actions_know_their_direction_for_the_conflict_check():
    assert WARMUP.key == "warmup_steps:up"
    assert Action("lr_multipliers", to=(2.0, 1.5, 1.0), from_=(4.0, 2.0, 1.0)).key == "lr_multipliers:down"
    assert Action("schedule", to="wsd", direction="anneal").key == "schedule:anneal"
    assert WARMUP.to_dict() == {"setting": "warmup_steps", "from": 525, "to": 1100, "direction": "up"}
    with pytest.raises(ValueError, match="unknown setting"):
        Action("warmup")


def test_every_table_names_only_known_settings():
    from hnet_diag.advice import SETTINGS

    for trainer, table in TABLES.items():
        assert set(table) <= set(SETTINGS), trainer


# -- the bundled flags, read back as actions ------------------------------------------------------
def test_flags_read_back_as_actions_with_direction_and_current_value():
    from hnet_diag.advice.flags import parse_flags
    from hnet_diag.run import TrainingSettings

    now = TrainingSettings(learning_rate=3e-4, warmup_steps=10, max_steps=300)
    (lr, clip) = parse_flags(["--learning-rate 1.5e-4", "--max-grad-norm 1.0"], ["learning_rate:down"], now)
    assert lr.to_dict() == {"setting": "learning_rate", "from": 3e-4, "to": 1.5e-4, "direction": "down"}
    assert lr.text == "1.5e-4" and clip.to == 1.0 and clip.from_ is None
    (half,) = parse_flags(["--learning-rate <half the current value>"], ["learning_rate:down"], now)
    assert half.to is None and half.value == "<half the current value>" and half.key == "learning_rate:down"
    (mult,) = parse_flags(["--lr-multipliers 2.0,1.5,1.0"], ["lr_multipliers:down"], now)
    assert mult.to == [2.0, 1.5, 1.0]


@pytest.mark.parametrize("flags", [["--resume --max-steps 300"], ["--temperature 0.8 --top-p 0.9"], ["--schedule wsd"],
                                   ["--learning-rate 7e-6", "--max-grad-norm 1.0"], ["--lr-multipliers 2.0,1.5,1.0"],
                                   ["--ratio-loss-weight 0.03 --learning-rate 1e-3 --warmup-steps 30"]])
def test_the_bundled_table_renders_parsed_flags_back_to_the_same_text(flags):
    from hnet_diag.advice.flags import parse_flags

    assert " ".join(bundled_flags(parse_flags(flags))) == " ".join(flags)


def test_hf_clipping_at_its_default_says_it_only_matters_if_the_run_changed_it():
    """trainer_state.json does not record max_grad_norm; HF clips at 1.0 unless told otherwise."""
    for trainer in ("hf", "llamafactory"):
        unknown = advise([Action("max_grad_norm", to=1.0, text="1.0")], trainer)
        assert any("default" in n and "max_grad_norm" in n for n in unknown.notes), (trainer, unknown.notes)
        known = advise([Action("max_grad_norm", to=1.0, from_=0.0, text="1.0")], trainer)
        assert not any("default" in n for n in known.notes), (trainer, known.notes)
        other = advise([Action("max_grad_norm", to=0.5, text="0.5")], trainer)
        assert not any("default" in n for n in other.notes), (trainer, other.notes)
