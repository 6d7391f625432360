"""A Lightning `Callback` that judges the run while it trains and stops it.

    from hnet_diag.live.lightning import HnetDiagCallback
    trainer = lightning.Trainer(..., callbacks=[HnetDiagCallback(stop_on="critical")])

After every training batch it feeds a `Monitor` the step's loss (what `training_step`
returned) and the first optimizer's learning rate, and after validation the logged
`val_loss`; the Trainer's `max_steps` and `gradient_clip_val` are the settings the rules
compare against. A new finding is logged (logger `hnet_diag`, warning level); one at or
above `stop_on` sets `trainer.should_stop`, logs why at error level and keeps it in
`callback.stop_reason`.

Works with `lightning` and with `pytorch_lightning`. Needs the optional dependency:
`pip install hnet-diag[lightning]`.
"""
from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - the older package name
    from pytorch_lightning.callbacks import Callback

from ..run import TrainingSettings
from .monitor import MONITOR_SHARE, StopGate


def training_settings(trainer: Any) -> TrainingSettings:
    max_steps = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
    lr = None
    if trainer.optimizers:
        lr = float(trainer.optimizers[0].param_groups[0]["lr"])
    clip = trainer.gradient_clip_val
    return TrainingSettings(learning_rate=lr, max_steps=max_steps, max_grad_norm=float(clip) if clip else None,
                            source="lightning.Trainer")


def _loss(outputs: Any) -> Any:
    if isinstance(outputs, dict):
        return outputs.get("loss")
    return outputs


class HnetDiagCallback(Callback, StopGate):
    """Judge with hnet-diag's rules after each batch; stop on a finding at or above `stop_on`."""

    def __init__(self, stop_on: str | None = "critical", settings: Any = None, share: float = MONITOR_SHARE):
        StopGate.__init__(self, stop_on, settings, share)

    def on_train_start(self, trainer, pl_module):
        self._start(training_settings(trainer), str(getattr(trainer, "default_root_dir", "lightning")))

    def _feed_trainer(self, trainer, metrics: dict[str, Any]) -> None:
        if self._feed(trainer.global_step, metrics):
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        metrics: dict[str, Any] = {}
        loss = _loss(outputs)
        if loss is not None:
            metrics["loss"] = loss.detach() if hasattr(loss, "detach") else loss
        if trainer.optimizers:
            metrics["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        self._feed_trainer(trainer, metrics)

    def on_validation_end(self, trainer, pl_module):
        val = trainer.callback_metrics.get("val_loss")
        if val is not None and not trainer.sanity_checking:
            self._feed_trainer(trainer, {"val_loss": val})

    def on_train_end(self, trainer, pl_module):
        self._finish()
