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

import logging
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - the older package name
    from pytorch_lightning.callbacks import Callback

from ..run import TrainingSettings
from .monitor import MONITOR_SHARE, Monitor

log = logging.getLogger("hnet_diag")


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


class HnetDiagCallback(Callback):
    """Judge with hnet-diag's rules after each batch; stop on a finding at or above `stop_on`."""

    def __init__(self, stop_on: str | None = "critical", settings: Any = None, share: float = MONITOR_SHARE):
        from ..rules.rule import Severity

        self.stop_on = Severity(stop_on).value if stop_on else None
        self.settings = settings
        self.share = share
        self.monitor: Monitor | None = None
        self.stop_reason: str | None = None

    def on_train_start(self, trainer, pl_module):
        self.monitor = Monitor(training_settings(trainer), settings=self.settings, share=self.share,
                               name=str(getattr(trainer, "default_root_dir", "lightning")))
        self.stop_reason = None

    def _feed(self, trainer, metrics: dict[str, Any]) -> None:
        if self.monitor is None:
            return
        for f in self.monitor.log(trainer.global_step, metrics):
            log.warning("hnet-diag: %s", f.line())
        if self.stop_on and self.stop_reason is None and self.monitor.should_stop(self.stop_on):
            self.stop_reason = self.monitor.reason(self.stop_on)
            trainer.should_stop = True
            log.error("hnet-diag: stopping training at step %d: %s", trainer.global_step, self.stop_reason)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        metrics: dict[str, Any] = {}
        loss = _loss(outputs)
        if loss is not None:
            metrics["loss"] = loss.detach() if hasattr(loss, "detach") else loss
        if trainer.optimizers:
            metrics["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        self._feed(trainer, metrics)

    def on_validation_end(self, trainer, pl_module):
        val = trainer.callback_metrics.get("val_loss")
        if val is not None and not trainer.sanity_checking:
            self._feed(trainer, {"val_loss": val})

    def on_train_end(self, trainer, pl_module):
        if self.monitor is None:
            return
        for f in self.monitor.finish():
            log.warning("hnet-diag: %s", f.line())
