"""A hand-written trainer's own progress bar, read by the text-log reader.

The line carries no `step`/`iter` word: `Training [=====     ] 8.5% 5000/58874 | 4.62 it/s | ETA: ... |
loss=L | validation_loss=V`, redrawn at each validation. Before this shape was known the whole file
was "nothing readable" (fixtures/real_runs/cgpt_cuda_104m_fineweb_edu_58874, cohort 2026-12-01-m).
The same trainer draws bars of that shape for its tokenizer, with no loss on them: they are not
records.
"""
from pathlib import Path

import pytest

from hnet_diag import load_run

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "cgpt_cuda_104m_fineweb_edu_58874"

LINES = [
    "BPE training [========================================] 100.0% 31740/31740 | 139.66 it/s | ETA: 0.0 s | Total time: 227.26 s",
    "Tokenizing [========================================] 100.0% 9843688080/9843688080 | 414.98 MiB/s | ETA: 0.0 s",
    "Training [===                                     ] 8.5% 5000/58874 | 4.62 it/s | ETA: 11664.8 s | loss=3.910492 | validation_loss=3.908841",
    'Saved validation checkpoint at step 5000 to "output/model-104m/checkpoints/step-5000"',
    "Training [======                                  ] 17.0% 10000/58874 | 4.62 it/s | ETA: 10579.5 s | loss=3.702029 | validation_loss=3.707374",
    "Training [========================================] 100.0% 58874/58874 | 4.62 it/s | ETA: 0.0 s | loss=3.302037 | validation_loss=3.282484",
]


def test_bar_counter_is_the_step_and_plan(tmp_path):
    (tmp_path / "training_output.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.metric("loss").to_dict() == pytest.approx({5000: 3.910492, 10000: 3.702029, 58874: 3.302037})
    assert run.metric("val_loss")[10000] == pytest.approx(3.707374)
    assert run.training.max_steps == 58874  # the bar's N/M: not the tokenizer bars' counts
    assert run.last_step == 58874


def test_tqdm_and_keras_bars_are_not_read_as_this_shape(tmp_path):
    (tmp_path / "train.log").write_text(
        "Training:  45%|####5     | 450/1000 [00:10<00:12, 44.1it/s, loss=0.5]\n"
        "1875/1875 [==============================] - 5s 2ms/step - loss: 0.3000 - accuracy: 0.9100\n",
        encoding="utf-8",
    )
    from hnet_diag.sources.textlog import _BRACKET_BAR

    for line in (tmp_path / "train.log").read_text(encoding="utf-8").splitlines():
        assert _BRACKET_BAR.match(line) is None


def test_real_cgpt_console_is_read_whole():
    run = load_run(REAL)
    loss = run.metric("loss")
    assert len(loss) == 12 and loss.index[0] == 5000 and loss.index[-1] == 58874
    assert loss[5000] == pytest.approx(3.910492) and loss[58874] == pytest.approx(3.302037)
    val = run.metric("val_loss")
    assert len(val) == 12 and val[58874] == pytest.approx(3.282484)
    assert run.training.max_steps == 58874
