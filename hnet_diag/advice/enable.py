"""What would give a check without data its data, in the trainer's own terms.

A check reports "no data" when the run lacks what it measures: a gradient-norm series, a
validation loss, the planned step count... Telling an HF user to "log per-stage metrics" is
no help; telling them `eval_strategy="steps"` is. Each check names what it `needs` (one of
NEEDS); each trainer says how to get it. The bundled trainer logs everything already, so it
has no entry: its reports say only why the data was missing.
"""
from __future__ import annotations

#: what a check can be missing -> a plain description (used for unknown trainers)
NEEDS: dict[str, str] = {
    "loss": "more training-loss points (log the loss more often)",
    "grad_norm": "the total gradient norm, logged per step",
    "lr": "the learning rate, logged per step",
    "max_grad_norm": "the clipping setting (a config file with the max grad norm)",
    "planned_steps": "the planned step count (a config file, or a `step N/M` counter)",
    "val_loss": "a validation loss, evaluated at intervals",
    "generation": "the sampling settings (a generation config)",
    "ranks": "one log per rank (each process's loss and gradient norm)",
    "checkpoint": "a checkpoint (weights, ideally with the optimizer state) in the run folder",
}

HINTS: dict[str, dict[str, str]] = {
    "hf": {
        "loss": "`logging_steps=N` in `TrainingArguments` (a smaller N gives more points)",
        "grad_norm": "`grad_norm` is logged beside the loss from transformers 4.38; lower `logging_steps` for more points",
        "lr": "`learning_rate` is logged beside the loss; lower `logging_steps` for more points",
        "max_grad_norm": "save `trainer.args.to_json_string()` as `training_args.json` in the run folder "
                         "(`training_args.bin` is a pickle and is not read)",
        "planned_steps": "keep `trainer_state.json` (it holds `max_steps`) in the run folder",
        "val_loss": "`eval_strategy=\"steps\"` and `eval_steps=N` in `TrainingArguments`, with an `eval_dataset`",
        "generation": "`model.generation_config.save_pretrained(run_dir)` (writes `generation_config.json`)",
    },
    "llamafactory": {
        "loss": "`logging_steps: N` in the training YAML",
        "grad_norm": "`logging_steps: N`; LLaMA-Factory's `trainer_log.jsonl` has no grad norm, `trainer_state.json` has",
        "lr": "`logging_steps: N` (the learning rate is in `trainer_log.jsonl`)",
        "max_grad_norm": "keep the training YAML (`max_grad_norm`) in the run folder",
        "planned_steps": "`trainer_log.jsonl` carries `total_steps`; keep it with `trainer_state.json`",
        "val_loss": "`eval_strategy: steps`, `eval_steps: N` and `val_size` (or an eval dataset) in the training YAML",
        "generation": "keep `generation_config.json` beside the model",
    },
    "lightning": {
        "loss": "`self.log(\"train_loss\", loss)` in `training_step` and `Trainer(log_every_n_steps=N)`",
        "grad_norm": "`self.log_dict(grad_norm(self, norm_type=2))` in `on_before_optimizer_step` "
                     "(`from lightning.pytorch.utilities import grad_norm`)",
        "lr": "the `LearningRateMonitor(logging_interval=\"step\")` callback",
        "max_grad_norm": "`self.save_hyperparameters()` with the clipping value (`gradient_clip_val`) among them",
        "planned_steps": "`Trainer(max_steps=N)` recorded through `self.save_hyperparameters()` (hparams.yaml)",
        "val_loss": "`self.log(\"val_loss\", loss)` in `validation_step` (and `Trainer(val_check_interval=N)`)",
        "generation": "a `generation.json` (or YAML) with the sampling settings beside the logs",
    },
    "nanogpt": {
        "loss": "a smaller `log_interval`",
        "grad_norm": "print the value `torch.nn.utils.clip_grad_norm_` returns on the `iter` line (nanoGPT does not)",
        "lr": "print `lr` on the `iter` line, or `wandb_log = True`",
        "max_grad_norm": "keep the config file (`grad_clip`) beside the log",
        "planned_steps": "keep the config file (`max_iters`) beside the log",
        "val_loss": "a smaller `eval_interval` (its `step N: train loss x, val loss y` lines)",
        "generation": "keep sample.py's settings (`temperature`, `top_k`, `max_new_tokens`) in a generation.json",
    },
    "build-nanogpt": {
        "loss": "print the step line every step",
        "lr": "the step line already prints `lr`; keep it",
        "planned_steps": "keep train_gpt2.py's `max_steps` in a config file beside the log",
        "max_grad_norm": "keep the clipping value of `clip_grad_norm_` in a config file beside the log",
        "val_loss": "the validation pass (`val_loss_steps`) and its `val` lines",
    },
    "modded-nanogpt": {
        "loss": "a smaller `val_loss_every` (train loss is printed every step)",
        "val_loss": "a smaller `val_loss_every`",
        "lr": "print the learning rate on the `step:` line",
        "grad_norm": "print the gradient norm on the `step:` line",
    },
    "llmc": {
        "val_loss": "`-v N` (validation loss every N steps)",
        "planned_steps": "keep the console output whole: its `step N/M` lines carry the plan",
        "max_grad_norm": "llm.c clips at a fixed 1.0 (no flag); nothing to log",
        "generation": "llm.c samples with fixed settings (`-g` sets the length only)",
    },
}


def hint(trainer: str, need: str) -> str:
    """How `trainer` would provide `need`; the plain description when it has no entry."""
    return HINTS.get(trainer, {}).get(need) or NEEDS.get(need, need)
