"""The trainer's data pipeline, schedules and loggers: pieces that need no model."""
import json
import math

import pytest

from hnet_diag.errors import InputError
from hnet_diag.trainer.data import BOS, ByteBatches, bundled_corpus, read_documents, split_documents
from hnet_diag.trainer.logging import ConsoleLogger, FanOut, JsonlLogger, TensorBoardLogger
from hnet_diag.trainer.schedule import Schedule


def _corpus(tmp_path, n_docs=40):
    text = "\n\n".join(f"SPEAKER {i}:\nline {i} of the play, said twice {i}." for i in range(n_docs))
    path = tmp_path / "corpus.txt"
    path.write_text(text + "\n")
    return path


def test_bundled_corpus_splits_into_thousands_of_speeches():
    docs = read_documents([bundled_corpus()])
    assert len(docs) > 5000
    assert all(b"\n\n" not in d for d in docs[:200])


def test_validation_split_is_by_document_and_independent_of_the_training_seed(tmp_path):
    docs = read_documents([_corpus(tmp_path)])
    train, val = split_documents(docs)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(docs)
    assert split_documents(docs) == (train, val)
    a = ByteBatches.from_files([_corpus(tmp_path)], seq_len=16, batch_size=2, seed=1)
    b = ByteBatches.from_files([_corpus(tmp_path)], seq_len=16, batch_size=2, seed=2)
    assert a.val.equal(b.val)


def test_batches_are_a_function_of_seed_and_step_and_targets_are_inputs_shifted(tmp_path):
    batches = ByteBatches.from_files([_corpus(tmp_path)], seq_len=32, batch_size=4, seed=7)
    x1, y1 = batches.train_batch(5)
    x2, y2 = batches.train_batch(5)
    x3, _ = batches.train_batch(6)
    assert x1.shape == (4, 32) and x1.equal(x2) and y1.equal(y2) and not x1.equal(x3)
    assert x1[:, 1:].equal(y1[:, :-1])
    assert int(x1.max()) <= 255 and (batches.train == BOS).sum() > 0


def test_ranks_split_the_global_batch_between_them(tmp_path):
    batches = ByteBatches.from_files([_corpus(tmp_path)], seq_len=16, batch_size=4, seed=0)
    full, _ = batches.train_batch(3)
    r0, _ = batches.train_batch(3, rank=0, world_size=2)
    r1, _ = batches.train_batch(3, rank=1, world_size=2)
    assert r0.equal(full[0::2]) and r1.equal(full[1::2])


def test_validation_windows_are_the_same_on_every_call(tmp_path):
    batches = ByteBatches.from_files([_corpus(tmp_path, 200)], seq_len=16, batch_size=4, seed=0)
    first = [x for x, _ in batches.val_batches()]
    again = [x for x, _ in batches.val_batches()]
    assert len(first) >= 1 and all(a.equal(b) for a, b in zip(first, again))


def test_missing_data_file_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="nope.txt"):
        read_documents([tmp_path / "nope.txt"])


def test_wsd_warms_up_linearly_holds_then_decays_to_zero_over_the_last_fifth():
    s = Schedule("wsd", warmup_steps=10, max_steps=100)
    assert s.factor(5) == pytest.approx(0.5) and s.factor(10) == 1.0
    assert s.factor(50) == 1.0 and s.factor(80) == 1.0
    assert s.factor(85) == pytest.approx(1 - math.sqrt(0.25))
    assert s.factor(100) == pytest.approx(0.0)
    factors = [s.factor(i) for i in range(80, 101)]
    assert factors == sorted(factors, reverse=True)


def test_cosine_reaches_half_midway_and_constant_stays_flat_after_warmup():
    c = Schedule("cosine", warmup_steps=0, max_steps=100)
    assert c.factor(50) == pytest.approx(0.5) and c.factor(100) == pytest.approx(0.0, abs=1e-12)
    k = Schedule("constant", warmup_steps=4, max_steps=100)
    assert k.factor(2) == pytest.approx(0.5) and k.factor(99) == 1.0
    assert Schedule.from_state_dict(c.state_dict()) == c


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="linear"):
        Schedule("linear", 0, 10)


def test_fan_out_writes_the_same_metrics_to_jsonl_tensorboard_and_console(tmp_path):
    import io

    from tbparse import SummaryReader

    stream = io.StringIO()
    logger = FanOut([TensorBoardLogger(tmp_path), JsonlLogger(tmp_path / "metrics.jsonl"),
                     ConsoleLogger(stream, tmp_path / "train.log", max_steps=10)])
    logger.log({"loss": 2.5, "lr/stage0": 1e-3, "grad_norm": float("nan")}, 1)
    logger.log({"loss": 2.0, "lr/stage0": 2e-3, "grad_norm": 1.5}, 2)
    logger.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and records[0]["grad_norm"] == "nan"
    df = SummaryReader(str(tmp_path)).scalars
    assert sorted(df[df.tag == "loss"].value) == [2.0, 2.5]
    lines = (tmp_path / "train.log").read_text().splitlines()
    assert lines == stream.getvalue().splitlines()
    assert lines[1].startswith("step 2/10 | loss 2.0000") and "lr/stage0 2.000e-03" in lines[1]


def test_train_and_generate_flags_are_pinned():
    """The report recommends these flags by name; renaming one breaks every recommendation."""
    import argparse

    from hnet_diag.commands import generate, train

    def flags(module):
        p = argparse.ArgumentParser()
        module.add_arguments(p)
        return {s for a in p._actions for s in a.option_strings if s.startswith("--")} - {"--help"}

    assert flags(train) == {
        "--config", "--out", "--learning-rate", "--lr-multipliers", "--warmup-steps", "--max-steps", "--schedule",
        "--max-grad-norm", "--batch-size", "--seq-len", "--weight-decay", "--ratio-loss-weight",
        "--target-compression", "--stop-at-step", "--seed", "--data", "--eval-every", "--save-every", "--resume",
        "--no-optimizer-state", "--device", "--quiet", "--stop-on"}
    assert flags(generate) == {
        "--checkpoint", "--prompt", "--temperature", "--top-p", "--top-k", "--repetition-penalty",
        "--max-new-tokens", "--seed", "--out", "--device"}
