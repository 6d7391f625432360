"""Each trainer's words for a change: one table per trainer, rendering `Action`s.

The rules say *what* to change (`Action(setting="warmup_steps", from_=525, to=1100)`); this
module says it the way the user's trainer spells it:

| trainer | warmup to 1100 steps |
|---|---|
| bundled (`hnet-diag train`) | `--warmup-steps 1100` |
| Hugging Face Trainer | `TrainingArguments(warmup_steps=1100)` or `--warmup_steps 1100` |
| PyTorch Lightning | a step-wise warmup scheduler in `configure_optimizers` |
| nanoGPT | `warmup_iters = 1100` in the config file, or `--warmup_iters=1100` |
| llm.c | `-u 1100` |
| unknown | "Lengthen the warmup to 1100 steps (now 525)." |

A table entry is a small function of the action returning `Piece`s: a keyword of a call
(`TrainingArguments(...)`, `Trainer(...)`) that `advise` merges into one call, a config
line, a command-line token, or a sentence where the trainer has no knob for it (llm.c clips
gradients at a fixed 1.0). A setting missing from a table is said in a neutral sentence with
the value, never dropped, except `optional` actions (a trainer-specific extra remedy such
as HF's `EarlyStoppingCallback`), which appear only where the trainer has them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from .actions import SETTINGS, Action

#: trainer id -> how its advice is shown (code fence language) and where it goes
LANGUAGES = {"hnet-diag": "bash", "hf": "python", "llamafactory": "yaml", "lightning": "python", "nanogpt": "python",
             "build-nanogpt": "python", "modded-nanogpt": "python", "llmc": "bash", "unknown": "text"}


@dataclass(frozen=True)
class Piece:
    """One part of the advice: `kind` is "call:<Name>", "line", "flag" or "note"."""

    kind: str
    body: str
    cli: str = ""  # the same change as a command-line token, where the trainer has one


@dataclass(frozen=True)
class Advice:
    """A recommendation's actions in one trainer's words, ready to print."""

    trainer: str
    code: tuple[str, ...] = ()  # lines to show in a code block (language: LANGUAGES[trainer])
    cli: str = ""  # the same as a command line, where the trainer takes one
    notes: tuple[str, ...] = ()  # sentences: what has no knob, or how a change must be made
    flags: tuple[str, ...] = field(default=())  # the code as separate tokens (flag trainers)

    @property
    def language(self) -> str:
        return LANGUAGES.get(self.trainer, "text")

    def inline(self) -> str:
        """One line for a terminal or an annotation: code, then the notes."""
        parts = ["; ".join(self.code)] if self.code else []
        parts += list(self.notes)
        return " ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, object]:
        return {"trainer": self.trainer, "code": list(self.code), "cli": self.cli or None, "notes": list(self.notes),
                "language": self.language}


Entry = Callable[[Action], list[Piece]]


# -- helpers ------------------------------------------------------------------------------------
def _py(a: Action) -> str:
    """The value as a Python literal (strings quoted, placeholders kept readable)."""
    v = a.value
    if v.startswith("<"):
        return v
    if a.setting in ("schedule",) or not _is_number(v):
        return repr(v) if not v.lower() in ("true", "false") else v.capitalize()
    return v


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _kw(call: str, key: str, cli: str | None = None) -> Entry:
    """A keyword of `call(...)`, with `--key value` on the command line (HF's HfArgumentParser)."""
    def entry(a: Action) -> list[Piece]:
        return [Piece(f"call:{call}", f"{key}={_py(a)}", f"--{cli or key} {a.value}" if cli is not False else "")]
    return entry


def _line(key: str, fmt: str = "{key} = {value}", cli: str = "--{key}={value}") -> Entry:
    """A line of a Python config file or script (nanoGPT's configurator also takes `--key=value`)."""
    def entry(a: Action) -> list[Piece]:
        value = _py(a)
        return [Piece("line", fmt.format(key=key, value=value), cli.format(key=key, value=a.value) if cli else "")]
    return entry


def _flag(flag: str) -> Entry:
    def entry(a: Action) -> list[Piece]:
        return [Piece("flag", f"{flag} {a.value}", f"{flag} {a.value}")]
    return entry


def _note(text: str) -> Entry:
    """A sentence; `{value}` and `{what}` are filled in."""
    def entry(a: Action) -> list[Piece]:
        return [Piece("note", text.format(value=a.value, what=SETTINGS[a.setting][0], **dict(a.params)))]
    return entry


def _both(*entries: Entry) -> Entry:
    def entry(a: Action) -> list[Piece]:
        return [p for e in entries for p in e(a)]
    return entry


def _yaml(key: str) -> Entry:
    def entry(a: Action) -> list[Piece]:
        return [Piece("line", f"{key}: {a.value}", "")]
    return entry


# -- the tables ---------------------------------------------------------------------------------
BUNDLED: dict[str, Entry] = {
    "learning_rate": _flag("--learning-rate"),
    "lr_multipliers": _flag("--lr-multipliers"),
    "warmup_steps": _flag("--warmup-steps"),
    "max_steps": _flag("--max-steps"),
    "max_grad_norm": _flag("--max-grad-norm"),
    "schedule": _flag("--schedule"),
    "resume": lambda a: [Piece("flag", "--resume", "--resume")],
    "weight_decay": _flag("--weight-decay"),
    "ratio_loss_weight": _flag("--ratio-loss-weight"),
    "target_compression": _flag("--target-compression"),
    "temperature": _flag("--temperature"),
    "top_p": _flag("--top-p"),
    "top_k": _flag("--top-k"),
    "repetition_penalty": _flag("--repetition-penalty"),
    "max_new_tokens": _flag("--max-new-tokens"),
}


def _hf_early_stopping(a: Action) -> list[Piece]:
    metric = "eval_loss"
    return [
        Piece("call:TrainingArguments", "load_best_model_at_end=True", "--load_best_model_at_end"),
        Piece("call:TrainingArguments", f'metric_for_best_model="{metric}"', f"--metric_for_best_model {metric}"),
        Piece("call:TrainingArguments", "greater_is_better=False", "--greater_is_better False"),
        Piece("line", f"Trainer(..., callbacks=[EarlyStoppingCallback(early_stopping_patience={a.param('patience', 2)})])"),
        Piece("note", "`load_best_model_at_end` needs `save_strategy` equal to `eval_strategy` (and `save_steps` a "
                      "multiple of `eval_steps`)."),
    ]


def _hf_schedule(a: Action) -> list[Piece]:
    kind = {"wsd": "warmup_stable_decay"}.get(a.value, a.value)
    pieces = [Piece("call:TrainingArguments", f'lr_scheduler_type="{kind}"', f"--lr_scheduler_type {kind}")]
    if kind == "warmup_stable_decay":
        pieces.append(Piece("note", "Give it `lr_scheduler_kwargs={\"num_decay_steps\": ...}` (the paper decays over "
                                    "the last 20% of the steps)."))
    return pieces


#: the HF Trainer's (and LLaMA-Factory's) default `max_grad_norm`
HF_DEFAULT_MAX_GRAD_NORM = 1.0


def _hf_clip_default_note(a: Action) -> list[Piece]:
    """Asking an HF run for its own default clipping is only news if the run changed it.

    trainer_state.json does not record `max_grad_norm`, so hnet-diag cannot tell whether the run
    clipped; the note says what the recommendation changes in each case instead of implying the
    run had no clipping.
    """
    if a.from_ is not None or a.to is None or float(a.to) != HF_DEFAULT_MAX_GRAD_NORM:
        return []
    limit = f"{HF_DEFAULT_MAX_GRAD_NORM:.1f}"
    return [Piece("note", f"The HF Trainer already clips at `max_grad_norm={limit}` by default; the run's clipping "
                          f"value is not recorded, so this changes something only if its settings turned clipping "
                          f"off (0) or set it above {limit}.")]


HF: dict[str, Entry] = {
    "learning_rate": _kw("TrainingArguments", "learning_rate"),
    "warmup_steps": _kw("TrainingArguments", "warmup_steps"),
    "max_steps": _kw("TrainingArguments", "max_steps"),
    "max_grad_norm": _both(_kw("TrainingArguments", "max_grad_norm"), _hf_clip_default_note),
    "weight_decay": _kw("TrainingArguments", "weight_decay"),
    "schedule": _hf_schedule,
    "resume": lambda a: [Piece("line", "trainer.train(resume_from_checkpoint=True)", "--resume_from_checkpoint <output_dir>/checkpoint-N")],
    "early_stopping": _hf_early_stopping,
    "temperature": _kw("GenerationConfig", "temperature", False),
    "top_p": _kw("GenerationConfig", "top_p", False),
    "top_k": _kw("GenerationConfig", "top_k", False),
    "repetition_penalty": _kw("GenerationConfig", "repetition_penalty", False),
    "max_new_tokens": _kw("GenerationConfig", "max_new_tokens", False),
}

#: LLaMA-Factory trains through the HF Trainer and takes the same names in its YAML config
LLAMAFACTORY: dict[str, Entry] = {
    **{k: _yaml(k) for k in ("learning_rate", "warmup_steps", "max_steps", "weight_decay")},
    "max_grad_norm": _both(_yaml("max_grad_norm"), _hf_clip_default_note),
    "schedule": lambda a: [Piece("line", f"lr_scheduler_type: {'warmup_stable_decay' if a.value == 'wsd' else a.value}")],
    "resume": lambda a: [Piece("line", "resume_from_checkpoint: <output_dir>/checkpoint-N")],
    "early_stopping": lambda a: [Piece("line", "load_best_model_at_end: true"),
                                 Piece("line", "metric_for_best_model: eval_loss"),
                                 Piece("line", f"early_stopping_steps: {a.param('patience', 2)}")],
}

LIGHTNING: dict[str, Entry] = {
    "learning_rate": _note("Set `lr={value}` on the optimizer that `LightningModule.configure_optimizers` returns."),
    "warmup_steps": _note("Warm up over {value} steps in `configure_optimizers`: e.g. `LinearLR(optimizer, "
                          "start_factor=0.01, total_iters={value})` returned with `\"interval\": \"step\"`."),
    "max_steps": _kw("Trainer", "max_steps", False),
    "max_grad_norm": _kw("Trainer", "gradient_clip_val", False),
    "weight_decay": _note("Set `weight_decay={value}` on the optimizer in `configure_optimizers`."),
    "schedule": _note("Return a decaying scheduler from `configure_optimizers` (e.g. `CosineAnnealingLR`, stepped "
                      "with `\"interval\": \"step\"`)."),
    "resume": lambda a: [Piece("line", 'trainer.fit(model, ckpt_path="last")')],
    "early_stopping": lambda a: [
        Piece("call:Trainer", f"callbacks=[EarlyStopping(monitor=\"val_loss\", patience={a.param('patience', 2)}), "
                              "ModelCheckpoint(monitor=\"val_loss\", save_top_k=1)]")],
}

NANOGPT: dict[str, Entry] = {
    "learning_rate": _both(_line("learning_rate"), _note("Keep `min_lr` about a tenth of it.")),
    "warmup_steps": _line("warmup_iters"),
    "max_steps": lambda a: [*_line("max_iters")(a), *_line("lr_decay_iters")(a)],
    "max_grad_norm": _line("grad_clip"),
    "weight_decay": _line("weight_decay"),
    "schedule": lambda a: [Piece("line", "decay_lr = True", "--decay_lr=True")],
    "resume": lambda a: [Piece("line", "init_from = 'resume'", "--init_from=resume")],
    "early_stopping": lambda a: [Piece("line", "always_save_checkpoint = False", "--always_save_checkpoint=False"),
                                 Piece("note", "nanoGPT then keeps only the checkpoint with the best validation loss.")],
    "temperature": _line("temperature", cli="--{key}={value}"),
    "top_k": _line("top_k"),
    "max_new_tokens": _line("max_new_tokens"),
}

BUILD_NANOGPT: dict[str, Entry] = {
    "learning_rate": _line("max_lr", cli=""),
    "warmup_steps": _line("warmup_steps", cli=""),
    "max_steps": _line("max_steps", cli=""),
    "max_grad_norm": lambda a: [Piece("line", f"norm = torch.nn.utils.clip_grad_norm_(model.parameters(), {a.value})")],
}

MODDED_NANOGPT: dict[str, Entry] = {
    "max_steps": _line("num_iterations", cli=""),
    "warmup_steps": _line("warmup_iters", cli=""),
    "schedule": _note("Give the schedule a decay phase: `warmdown_iters` (or `cooldown_frac` in newer records) in "
                      "`Hyperparameters`."),
    "learning_rate": _note("Scale the `lr` of its optimizers (Adam for embeddings and head, Muon for the matrices) "
                           "to {value}."),
}

LLMC: dict[str, Entry] = {
    "learning_rate": _flag("-l"),
    "warmup_steps": _flag("-u"),
    "max_steps": _flag("-x"),
    "weight_decay": _flag("-c"),
    "schedule": lambda a: [Piece("flag", f"-k {a.value if a.value in ('cosine', 'linear', 'constant', 'wsd') else 'cosine'}"),
                           Piece("flag", "-q 0.0")],
    "resume": lambda a: [Piece("flag", "-y 1"),
                         Piece("note", "llm.c resumes from the checkpoints in its `-o` log directory (written every `-n` steps).")],
    "max_grad_norm": _note("llm.c clips the gradient norm at a fixed 1.0 (`grad_clip` in train_gpt2.cu, no flag); "
                           "change it there to {value}."),
    "max_new_tokens": _flag("-g"),
}

TABLES: dict[str, dict[str, Entry]] = {
    "hnet-diag": BUNDLED, "hf": HF, "llamafactory": LLAMAFACTORY, "lightning": LIGHTNING, "nanogpt": NANOGPT,
    "build-nanogpt": BUILD_NANOGPT, "modded-nanogpt": MODDED_NANOGPT, "llmc": LLMC, "unknown": {},
}

#: where each trainer's advice goes, said once under the code
WHERE: dict[str, str] = {
    "hf": "",
    "llamafactory": "in the LLaMA-Factory training YAML",
    "nanogpt": "in the config file passed to train.py (or as --key=value on its command line)",
    "build-nanogpt": "at the top of train_gpt2.py",
    "modded-nanogpt": "in train_gpt.py's Hyperparameters",
}


# -- rendering ------------------------------------------------------------------------------------
def neutral(a: Action) -> str:
    """The change in plain words, for a trainer without a table entry."""
    what, unit = SETTINGS[a.setting]
    if a.setting == "resume":
        return "Resume from the last checkpoint."
    if a.setting == "early_stopping":
        return f"Stop on the validation loss (patience {a.param('patience', 2)} evaluations) and keep the best checkpoint."
    now = f" (now {a.from_})" if a.from_ is not None else ""
    if a.setting == "max_steps":
        return f"Train to step {a.value}{now}."
    verb = {"up": "Raise", "down": "Lower"}.get(a.direction, "Set")
    if a.setting == "warmup_steps":
        verb = {"up": "Lengthen", "down": "Shorten"}.get(a.direction, "Set")
    value = f"{a.value} {unit}".strip() if not a.value.startswith("<") else a.value
    return f"{verb} {what} to {value}{now}."


def pieces(a: Action, trainer: str) -> list[Piece]:
    """One action in `trainer`'s words (a neutral sentence where it has no entry)."""
    entry = TABLES.get(trainer, {}).get(a.setting)
    if entry is None:
        return [] if a.optional else [Piece("note", neutral(a))]
    return entry(a)


def advise(actions: Iterable[Action], trainer: str) -> Advice:
    """All actions of one recommendation, merged: one `TrainingArguments(...)`, one flag line."""
    calls: dict[str, list[str]] = {}
    lines: list[str] = []
    flags: list[str] = []
    notes: list[str] = []
    cli: list[str] = []
    for a in actions:
        for p in pieces(a, trainer):
            if p.kind.startswith("call:"):
                calls.setdefault(p.kind[5:], []).append(p.body)
            elif p.kind == "line":
                lines.append(p.body)
            elif p.kind == "flag":
                flags.append(p.body)
            else:
                notes.append(p.body)
            if p.cli:
                cli.append(p.cli)
    code = [f"{name}({', '.join(dict.fromkeys(args))})" for name, args in calls.items()]
    code += list(dict.fromkeys(lines))
    if flags:
        code.append(" ".join(flags))
    where = WHERE.get(trainer, "")
    if where and lines:
        notes.insert(0, f"Set these {where}.")
    shown_cli = " ".join(dict.fromkeys(cli)) if trainer not in ("hnet-diag", "llmc") else ""
    return Advice(trainer, tuple(code), shown_cli, tuple(dict.fromkeys(notes)), tuple(flags))


def bundled_flags(actions: Iterable[Action]) -> tuple[str, ...]:
    """The bundled trainer's flags for these actions (what `compare`/`verify-fix` re-run with)."""
    return advise(actions, "hnet-diag").flags
