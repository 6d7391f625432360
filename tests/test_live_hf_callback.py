"""The transformers callback stops a real Trainer (tiny GPT-2, built from a config, no
download) when the loss turns NaN, and says why."""
from __future__ import annotations

import logging
import math

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")


def _trainer(tmp_path, nan_from_call: int | None, callback, max_steps=12):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    class NaNAfter(GPT2LMHeadModel):
        """A real GPT-2 whose loss is made NaN from its n-th forward on (the injected fault)."""

        calls = 0

        def forward(self, input_ids=None, labels=None, **kw):
            out = super().forward(input_ids=input_ids, labels=labels, **kw)
            NaNAfter.calls += 1
            if nan_from_call is not None and NaNAfter.calls >= nan_from_call:
                out.loss = out.loss * float("nan")
            return out

    torch.manual_seed(0)
    model = NaNAfter(GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0))
    g = torch.Generator().manual_seed(0)
    data = [{"input_ids": (ids := torch.randint(0, 32, (16,), generator=g)), "labels": ids} for _ in range(64)]
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=max_steps, per_device_train_batch_size=4,
                             logging_steps=1, learning_rate=1e-3, warmup_steps=2, report_to=[], save_strategy="no",
                             use_cpu=True, logging_nan_inf_filter=False, disable_tqdm=True)
    return Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])


@pytest.mark.slow
def test_the_callback_stops_a_real_trainer_on_an_injected_nan_loss(tmp_path, caplog):
    from hnet_diag.live.hf import HnetDiagCallback

    cb = HnetDiagCallback(stop_on="critical")
    trainer = _trainer(tmp_path, nan_from_call=5, callback=cb, max_steps=40)
    with caplog.at_level(logging.WARNING, logger="hnet_diag"):
        trainer.train()
    assert trainer.state.global_step < 40  # stopped long before its plan
    assert cb.stop_reason and "HND404" in cb.stop_reason and "first at step 5" in cb.stop_reason
    assert any("stopping training at step" in r.getMessage() for r in caplog.records)
    assert {"hnet_diag_stop": cb.stop_reason, "step": trainer.state.global_step} in trainer.state.log_history


@pytest.mark.slow
def test_the_callback_lets_a_healthy_trainer_run_to_its_end(tmp_path):
    from hnet_diag.live.hf import HnetDiagCallback

    cb = HnetDiagCallback(stop_on="critical")
    trainer = _trainer(tmp_path, nan_from_call=None, callback=cb, max_steps=12)
    trainer.train()
    assert trainer.state.global_step == 12 and cb.stop_reason is None
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert all(math.isfinite(v) for v in losses)
