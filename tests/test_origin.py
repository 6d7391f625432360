"""Which trainer wrote a run, and whether the model is an H-Net (hnet_diag.sources.origin)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hnet_diag.sources.discover import load_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PUBLIC = FIXTURES / "public_logs"


@pytest.mark.parametrize(
    ("run", "trainer", "file"),
    [
        ("hf_trainer_qwen_lora", "hf", "train.log"),
        ("nanogpt_shakespeare_nan", "nanogpt", "train.log"),
        ("build_nanogpt_shakespeare", "build-nanogpt", "train.log"),
        ("modded_nanogpt_soap", "modded-nanogpt", "train.txt"),
        ("llmc_gpt2_124m_cut", "llmc", "train.log"),
        ("lightning_slm_undertrained", "lightning", "lightning_logs/version_0/metrics.csv"),
    ],
)
def test_real_public_runs_name_their_trainer_and_the_file_that_showed_it(run, trainer, file):
    r = load_run(PUBLIC / run)
    assert r.trainer.id == trainer
    assert r.trainer.source == file
    assert r.trainer.reason
    assert not r.model_kind.hnet, r.model_kind


REAL = FIXTURES / "real_runs"


@pytest.mark.parametrize(
    ("run", "trainer", "file"),
    [
        ("whisper_largev2_japanese", "hf", "trainer_state.json"),
        ("slm_lightning_v0", "lightning", "metrics.csv"),
        ("turngpt_lightning", "lightning", "metrics.csv"),
        ("qwen25_medical_llamafactory", "llamafactory", "trainer_log.jsonl"),
    ],
)
def test_real_corpus_runs_name_their_trainer(run, trainer, file):
    r = load_run(REAL / run)
    assert (r.trainer.id, r.trainer.source) == (trainer, file)


def test_a_csv_not_written_by_lightning_is_not_taken_for_it(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,epoch,loss\n" + "".join(f"{i},0,{3 - i / 100}\n" for i in range(30)))
    assert load_run(tmp_path).trainer.id == "unknown"


def test_bundled_trainer_runs_are_recognised_as_such_and_as_h_nets():
    r = load_run(FIXTURES / "runs" / "healthy")
    assert r.trainer.id == "hnet-diag"
    assert r.trainer.source == "config.json"
    assert "tensorboard" in r.trainer.loggers
    assert r.model_kind.hnet and r.model_kind.name == "H-Net (2-stage)"
    assert "arch_layout" in r.model_kind.reason


def test_routing_metrics_alone_show_an_h_net(tmp_path):
    shutil.copy(FIXTURES / "runs" / "healthy" / "metrics.jsonl", tmp_path / "metrics.jsonl")
    r = load_run(tmp_path)
    assert r.model_kind.hnet
    assert "routing metric" in r.model_kind.reason and r.model_kind.source == "metrics.jsonl"


def test_a_bundled_trainer_log_alone_still_names_the_bundled_trainer(tmp_path):
    shutil.copy(FIXTURES / "runs" / "healthy" / "train.log", tmp_path / "train.log")
    r = load_run(tmp_path)
    assert r.trainer.id == "hnet-diag" and r.trainer.source == "train.log"


def test_hf_model_config_gives_the_model_its_name(tmp_path):
    shutil.copy(REAL / "whisper_largev2_japanese" / "trainer_state.json", tmp_path)
    shutil.copy(PUBLIC / "hf_whisper_ja_config" / "config.json", tmp_path)
    r = load_run(tmp_path)
    assert r.model_kind.name == "whisper-large-v2"
    assert r.model_kind.source == "config.json"


def test_a_run_with_nothing_telling_stays_unknown(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,loss\n" + "".join(f"{i},{3 - i / 100}\n" for i in range(30)))
    r = load_run(tmp_path)
    assert r.trainer.id == "unknown" and r.trainer.source is None
    assert not r.model_kind.hnet


def test_training_arguments_logged_to_wandb_name_hf(tmp_path, monkeypatch):
    """HF's WandbCallback stores every TrainingArguments field in the W&B run config; wandb writes it itself."""
    wandb = pytest.importorskip("wandb")
    for var, sub in (("WANDB_DIR", "out"), ("WANDB_CONFIG_DIR", "cfg"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    args = {"output_dir": "out", "learning_rate": 2e-5, "logging_steps": 10, "per_device_train_batch_size": 8,
            "lr_scheduler_type": "linear", "warmup_steps": 100, "eval_strategy": "steps", "max_steps": 300}
    run = wandb.init(project="hnet-diag-test", dir=str(tmp_path / "out"), config=args)
    for i in range(30):
        run.log({"train/loss": 3.0 * 0.98 ** i, "train/learning_rate": 2e-5}, step=i * 10)
    run.finish()
    wandb.teardown()
    r = load_run(tmp_path / "out")
    assert r.trainer.id == "hf", r.trainer
    assert "wandb" in r.trainer.loggers
    assert "TrainingArguments" in r.trainer.reason


@pytest.mark.slow
def test_a_run_written_by_lightning_itself_is_recognised(tmp_path):
    """A real Lightning fit with its CSVLogger and ModelCheckpoint: metrics.csv, hparams.yaml, epoch=N-step=M.ckpt."""
    pytest.importorskip("lightning")
    import warnings

    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(-1)), batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = L.Trainer(max_steps=16, logger=L.pytorch.loggers.CSVLogger(tmp_path), log_every_n_steps=1,
                            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
        trainer.fit(Tiny(), data)
    r = load_run(tmp_path)
    assert r.trainer.id == "lightning"
    assert r.trainer.source == "lightning_logs/version_0/metrics.csv"
    assert not r.model_kind.hnet
    ckpt = load_run(next(tmp_path.rglob("*.ckpt")))  # the checkpoint alone says Lightning too
    assert ckpt.trainer.id == "lightning" and "ModelCheckpoint" in ckpt.trainer.reason


def test_summary_command_says_who_wrote_the_run_and_whether_it_is_an_h_net(capsys):
    from hnet_diag.cli import main

    assert main(["summary", str(PUBLIC / "llmc_gpt2_124m_cut")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "trainer: llm.c (train.log:" in out and "model: not an H-Net" in out
