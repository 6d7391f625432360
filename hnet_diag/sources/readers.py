"""The discovery table: which reader reads which file, and which folders are never entered.

`discover.load_run` walks a local run folder with it; `remote` uses it to copy only the
files some reader would read. A new format is one new row here and one new module.
"""
from __future__ import annotations

# (glob on the file name, module in hnet_diag.sources, function). First match wins.
# Event files are read together (one call per folder) so resumed runs can be merged.
READERS: list[tuple[str, str, str]] = [
    ("events.out.tfevents.*", "tensorboard", "read_folder"),
    ("trainer_state.json", "hf_trainer_state", "read"),
    ("*.safetensors.index.json", "sharded", "read_index"),  # before *.json: shard index
    ("*.bin.index.json", "sharded", "read_index"),
    (".metadata", "sharded", "read_dcp"),  # torch.distributed.checkpoint folder
    ("*.wandb", "wandb_run", "read"),  # W&B transaction log (run-<id>.wandb)
    ("meta.yaml", "mlflow_run", "read_meta"),  # MLflow file-store run (else read as a config)
    ("*.db", "mlflow_run", "read_db"),  # MLflow SQLite store (other databases: None)
    ("*.jsonl", "jsonl", "read"),
    ("*.csv", "csv", "read"),
    ("*.safetensors", "checkpoint", "read"),
    ("*.pt", "checkpoint", "read"),
    ("*.pth", "checkpoint", "read"),
    ("*.bin", "checkpoint", "read"),
    ("*.ckpt", "checkpoint", "read"),
    ("*.json", "config", "read"),
    ("*.yaml", "config", "read"),
    ("*.yml", "config", "read"),
    ("*.log", "textlog", "read"),
    ("*.out", "textlog", "read"),
    ("args.txt", "config", "read"),  # argparse dumps, before the generic *.txt row
    ("*_args.txt", "config", "read"),
    ("hparams.txt", "config", "read"),
    ("*.args", "config", "read"),
    ("*.txt", "textlog", "read"),
]

#: folders never entered: VCS, caches, and the report folder hnet-diag itself writes
SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", "hnet-diag-report", "wandb-cache"}
