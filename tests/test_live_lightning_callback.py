"""The Lightning callback stops a real Lightning Trainer when the loss turns NaN."""
from __future__ import annotations

import logging

import pytest

pytest.importorskip("lightning")


def _fit(nan_from_step: int | None, max_steps: int, callback):
    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(8, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            if nan_from_step is not None and self.global_step + 1 >= nan_from_step:
                loss = loss * float("nan")  # the injected fault
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback])
    trainer.fit(Tiny(), loader)
    return trainer


@pytest.mark.slow
def test_the_callback_stops_a_real_lightning_trainer_on_a_nan_loss(caplog):
    from hnet_diag.live.lightning import HnetDiagCallback

    cb = HnetDiagCallback(stop_on="critical")
    with caplog.at_level(logging.WARNING, logger="hnet_diag"):
        trainer = _fit(nan_from_step=6, max_steps=60, callback=cb)
    assert trainer.global_step < 60
    assert cb.stop_reason and "HND404" in cb.stop_reason and "first at step 6" in cb.stop_reason
    assert any("stopping training at step" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_the_callback_lets_a_healthy_lightning_run_finish():
    from hnet_diag.live.lightning import HnetDiagCallback

    cb = HnetDiagCallback(stop_on="critical")
    trainer = _fit(nan_from_step=None, max_steps=20, callback=cb)
    assert trainer.global_step == 20 and cb.stop_reason is None
