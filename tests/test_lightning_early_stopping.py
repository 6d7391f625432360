"""A run stopped by Lightning's EarlyStopping is reported as such, with what triggered it.

Real Lightning: a tiny LightningModule fitted by a real `Trainer` with a real
`EarlyStopping("val_loss")`, a `CSVLogger` (metrics.csv + hparams.yaml) and the default
ModelCheckpoint, all writing their own files. The validation labels are unrelated to the
inputs, so the model memorises its training set and the validation loss rises from the
first evaluation: the callback stops the run after `patience` evaluations. hnet-diag reads the
callback's state from the checkpoint (weights_only loading) and HND401 says who stopped the run.
"""
from __future__ import annotations

import csv
import logging
import warnings

import pytest

pytest.importorskip("lightning")

PATIENCE = 5  # the validation loss then rises beyond its own movement between evaluations (HND403)


def _fit(root, patience: int, max_epochs: int):
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))

        def training_step(self, batch, batch_idx):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.nn.functional.binary_cross_entropy_with_logits(self.net(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    x, xv = torch.randn(64, 8), torch.randn(32, 8)
    train = torch.utils.data.TensorDataset(x, (x[:, :1] > 0).float())
    val = torch.utils.data.TensorDataset(xv, torch.randint(0, 2, (32, 1)).float())  # unlearnable: val loss rises
    stopper = EarlyStopping("val_loss", patience=patience)
    trainer = L.Trainer(max_epochs=max_epochs, logger=CSVLogger(str(root), name="lightning_logs"), callbacks=[stopper],
                        accelerator="cpu", devices=1, log_every_n_steps=1, enable_progress_bar=False,
                        enable_model_summary=False)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Tiny(), torch.utils.data.DataLoader(train, batch_size=16),
                    torch.utils.data.DataLoader(val, batch_size=32))
    return trainer, stopper


@pytest.fixture(scope="session")
def lightning_runs(tmp_path_factory):
    """(folder, trainer, callback) of a run the callback stopped and of one it let finish."""
    stopped_dir, finished_dir = tmp_path_factory.mktemp("es_stopped"), tmp_path_factory.mktemp("es_finished")
    stopped = _fit(stopped_dir, PATIENCE, max_epochs=30)
    finished = _fit(finished_dir, 50, max_epochs=3)
    return {"stopped": (stopped_dir, *stopped), "finished": (finished_dir, *finished)}


def _val_losses(root):
    (path,) = root.rglob("metrics.csv")
    with path.open() as fh:
        return [float(r["val_loss"]) for r in csv.DictReader(fh) if r.get("val_loss")]


def test_the_callback_state_is_read_from_lightnings_own_checkpoint(lightning_runs):
    from hnet_diag import load_run
    from hnet_diag.analyzers.validation import early_stopping_state

    root, trainer, stopper = lightning_runs["stopped"]
    assert trainer.current_epoch < 30 and stopper.stopped_epoch > 0  # the real callback did stop it
    es = early_stopping_state(load_run(root))
    assert es is not None and es.triggered
    assert es.source.endswith(".ckpt") and es.monitor == "val_loss"
    assert (es.patience, es.counter, es.stopped_epoch) == (PATIENCE, stopper.wait_count, stopper.stopped_epoch)
    assert es.best_metric == pytest.approx(min(_val_losses(root)), rel=1e-6)


def test_hnd401_says_lightnings_early_stopping_ended_the_run_and_what_triggered_it(lightning_runs):
    from hnet_diag import diagnose, load_run

    root, _, stopper = lightning_runs["stopped"]
    report = diagnose(load_run(root))
    f = next(x for x in report.alarms if x.code == "HND401")
    assert f.severity.value == "low"
    assert f"stopped by Lightning's EarlyStopping at epoch {stopper.stopped_epoch}" in f.message
    assert f"val_loss did not improve for {PATIENCE} evaluations, reaching its patience of {PATIENCE}" in f.message
    assert f"best val_loss {min(_val_losses(root)):.3g}" in f.message
    # stopped on purpose: no "resume to the plan" beside the callback's stop
    assert f.recommendation.flags == () and "max_steps:up" not in f.recommendation.actions
    assert "--resume" not in " ".join(flag for x in report.alarms if x.recommendation for flag in x.recommendation.flags)
    # the run already stops early: the overfitting advice does not offer early stopping again
    overfit = next(x for x in report.alarms if x.code == "HND403")
    assert "early_stopping" not in {c.setting for c in overfit.recommendation.changes}


def test_a_lightning_run_the_callback_let_finish_is_not_called_stopped(lightning_runs):
    from hnet_diag import diagnose, load_run
    from hnet_diag.analyzers.validation import early_stopping_state

    root, trainer, stopper = lightning_runs["finished"]
    assert trainer.current_epoch == 3 and stopper.stopped_epoch == 0
    es = early_stopping_state(load_run(root))
    assert es is not None and not es.triggered and es.counter < es.patience
    assert "HND401" not in {x.code for x in diagnose(load_run(root)).alarms}
