"""Where a run came from: the trainer (and loggers) that wrote it, and whether it is an H-Net.

Advice is only useful in the words of the tool the user runs: an HF user sets
`warmup_steps` in `TrainingArguments`, a nanoGPT user edits `warmup_iters`, an llm.c user
passes `-u`. And the H-Net checks (per-stage multipliers, routing, chunking) only apply to
an H-Net. Both are decided here, once, from what the sources already loaded: file names,
config keys, checkpoint parameter names, metric names, and the first lines of the text
logs that were read. Each answer keeps the file that showed it and why, so the report can
cite it like any other evidence.

Trainers recognised (`TRAINERS`): the bundled H-Net trainer (`hnet-diag train`), Hugging
Face Trainer, PyTorch Lightning, nanoGPT, build-nanogpt, modded-nanogpt and llm.c. W&B,
MLflow and TensorBoard are loggers, not trainers: they are recorded separately, and a
W&B/MLflow config still names the trainer when its keys are that trainer's (an HF run
logged to W&B stores every `TrainingArguments` field in `config.yaml`).
"""
from __future__ import annotations

import re
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable

from ..run import ModelKind, Run, TrainerInfo

#: trainer id -> name shown in reports
TRAINERS: dict[str, str] = {
    "hnet-diag": "hnet-diag trainer",
    "hf": "HF Trainer",
    "llamafactory": "LLaMA-Factory",
    "lightning": "PyTorch Lightning",
    "nanogpt": "nanoGPT",
    "build-nanogpt": "build-nanogpt",
    "modded-nanogpt": "modded-nanogpt",
    "llmc": "llm.c",
    "unknown": "unknown trainer",
}

HEAD_BYTES = 64 << 10  # a text log's trainer shows in its first lines
# The patterns below run on untrusted text: none may hold two adjacent quantifiers over the
# same characters (`\s*\|?\s*`), which backtrack quadratically on a long run of blanks
# (tests/test_fuzz_sources.py found a 64 KiB line of spaces taking 16 s).
_TEXT_SUFFIXES = {".log", ".out", ".txt"}

# -- text log signatures: (trainer, pattern, what it is) ---------------------------------------
_LINE_SIGNATURES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("hnet-diag", re.compile(r"^step \d+/\d+ \| loss \S+ \| bpb \S+ \| lr ", re.M), "the bundled trainer's step line"),
    ("llmc", re.compile(r"^step\s+\d+/\d+ \| (?:train )?loss [-\d.naif]+ (?:\([^)]*\))?\s*\| norm ", re.M | re.I), "llm.c's step line"),
    ("llmc", re.compile(r"^\| (?:max_steps|warmup iterations|learning rate \(LR\))\s+\| ", re.M), "llm.c's parameter table"),
    ("llmc", re.compile(r"^s:\d+ tr?l:", re.M), "llm.c's -o log file"),
    ("modded-nanogpt", re.compile(r"^step:\d+/\d+ (?:val_loss|train_loss):\S+ train_time:", re.M), "modded-nanogpt's step line"),
    ("nanogpt", re.compile(r"^iter \d+: loss [-\d.naif]+, time [\d.]+ms, mfu ", re.M | re.I), "nanoGPT's iter line"),
    ("nanogpt", re.compile(r"^step \d+: train loss [-\d.naif]+, val loss ", re.M | re.I), "nanoGPT's eval line"),
    ("build-nanogpt", re.compile(r"^step\s+\d+ \| loss: [-\d.naif]+ \| .*\bnorm: ", re.M | re.I), "build-nanogpt's step line"),
    ("hf", re.compile(r"\{'loss': [^}\n]{0,2000}?'(?:grad_norm|learning_rate)': [^}\n]{0,2000}?'epoch': ", re.M), "HF Trainer's log dict"),
    ("hf", re.compile(r"\*{5} Running training \*{5}"), "HF Trainer's start banner"),
    ("lightning", re.compile(r"^[ \t]*(?:\|[ \t]*)?Name[ \t]+\|[ \t]+Type[ \t]+\|[ \t]+Params", re.M), "Lightning's model summary"),
    ("lightning", re.compile(r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES"), "Lightning's device banner"),
)

# -- config key signatures ---------------------------------------------------------------------
#: TrainingArguments fields that only HF writes together
_HF_KEYS = {"logging_steps", "per_device_train_batch_size", "per_device_eval_batch_size", "lr_scheduler_type",
            "eval_strategy", "evaluation_strategy", "save_strategy", "logging_strategy", "gradient_accumulation_steps",
            "load_best_model_at_end", "metric_for_best_model", "output_dir", "warmup_ratio", "num_train_epochs"}
#: nanoGPT's train.py globals (its config files and checkpoint `config`)
_NANOGPT_KEYS = {"warmup_iters", "lr_decay_iters", "max_iters", "eval_interval", "eval_iters", "always_save_checkpoint",
                 "init_from", "decay_lr", "grad_clip", "min_lr", "wandb_log"}
_LIGHTNING_CKPT = re.compile(r"epoch=\d+-step=\d+\.ckpt$")
_ROUTING_METRICS = ("boundary_frac", "boundary_prob", "compression", "ratio_loss", "boundary_undecided")


def detect_trainer(run: Run, root: Path | None = None) -> TrainerInfo:
    """The trainer that wrote `run`, the file that showed it, and the loggers seen.

    `root` is the folder `run.files` are relative to (the run folder); text logs among
    them are read again, at most HEAD_BYTES each, to match the trainers' line shapes.
    """
    root = Path(root) if root is not None else _root(run)
    found = _first(_candidates(run, root))
    loggers = _loggers(run.files)
    if found is None:
        return TrainerInfo("unknown", TRAINERS["unknown"], loggers=loggers)
    trainer, source, reason = found
    return TrainerInfo(trainer, TRAINERS[trainer], source=source, reason=reason, loggers=loggers)


def _root(run: Run) -> Path:
    p = Path(run.path)
    return p.parent if p.is_file() else p


def _first(found: Iterable[tuple[str, str, str]]) -> tuple[str, str, str] | None:
    return next(iter(found), None)


def _candidates(run: Run, root: Path) -> Iterable[tuple[str, str, str]]:
    """(trainer, file, reason), strongest evidence first: the trainer's own files, then
    config keys, then checkpoint names, then text-log line shapes."""
    files = sorted(run.files, key=lambda f: (len(PurePath(f).parts), f))
    names = {PurePath(f).name: f for f in reversed(files)}
    # the bundled trainer's config.json: {"model": <H-Net config>, "training": {...}}
    for name, cfg in _configs_by_depth(run):
        if isinstance(cfg.get("model"), dict) and "arch_layout" in cfg["model"] and isinstance(cfg.get("training"), dict):
            yield "hnet-diag", name, "an H-Net `model` config beside a `training` section (the bundled trainer's config.json)"
    if "trainer_log.jsonl" in names:
        yield "llamafactory", names["trainer_log.jsonl"], "`trainer_log.jsonl` is written by LLaMA-Factory's log callback"
    for own in ("trainer_state.json", "training_args.json", "training_args.bin"):
        if own in names:
            yield "hf", names[own], f"`{own}` is written by the Hugging Face Trainer"
    by_dir: dict[PurePath, set[str]] = {}
    for f in files:
        by_dir.setdefault(PurePath(f).parent, set()).add(PurePath(f).name)
    for folder, members in sorted(by_dir.items(), key=lambda kv: (len(kv[0].parts), str(kv[0]))):
        if {"hparams.yaml", "metrics.csv"} <= members:
            yield "lightning", str(folder / "metrics.csv"), "`hparams.yaml` beside `metrics.csv` (Lightning's CSVLogger)"
        if "metrics.csv" in members and _lightning_header(root / folder / "metrics.csv"):
            yield "lightning", str(folder / "metrics.csv"), "`metrics.csv` with Lightning CSVLogger's sorted columns, `epoch` and `step` among them"
    for name, cfg in _configs_by_depth(run):
        keys = set(_flat_keys(cfg))
        if len(keys & _HF_KEYS) >= 3:
            yield "hf", name, "TrainingArguments fields (" + ", ".join(sorted(keys & _HF_KEYS)[:3]) + ")"
        if len(keys & _NANOGPT_KEYS) >= 3:
            yield "nanogpt", name, "nanoGPT's config keys (" + ", ".join(sorted(keys & _NANOGPT_KEYS)[:3]) + ")"
    for c in run.checkpoints:
        if _LIGHTNING_CKPT.search(c.path.replace("\\", "/")):
            yield "lightning", c.path, "a checkpoint named `epoch=N-step=M.ckpt` (Lightning's ModelCheckpoint)"
        if isinstance(c.config, dict) and len(set(_flat_keys(c.config)) & _NANOGPT_KEYS) >= 3:
            yield "nanogpt", c.path, "the checkpoint's `config` holds nanoGPT's keys"
    for f in files:
        if PurePath(f).suffix.lower() not in _TEXT_SUFFIXES:
            continue
        head = _head(root / f)
        for trainer, pattern, what in _LINE_SIGNATURES:
            if pattern.search(head):
                yield trainer, f, what
                break


def _lightning_header(path: Path) -> bool:
    """Lightning's CSVLogger writes every metric key in sorted order, `epoch` and `step` included."""
    first = _head(path).split("\n", 1)[0].strip()
    cols = [c.strip() for c in first.split(",")]
    return {"epoch", "step"} <= set(cols) and cols == sorted(cols) and len(cols) >= 3


def _configs_by_depth(run: Run) -> list[tuple[str, dict[str, Any]]]:
    out = [(n, c) for n, c in run.configs.items() if isinstance(c, dict)]
    out += [(c.path, c.config) for c in run.checkpoints if isinstance(c.config, dict)]
    return sorted(out, key=lambda kv: (len(PurePath(kv[0]).parts), kv[0]))


def _flat_keys(cfg: Any, depth: int = 0) -> Iterable[str]:
    if not isinstance(cfg, dict) or depth > 2:
        return
    for k, v in cfg.items():
        yield str(k).lower().replace("-", "_")
        yield from _flat_keys(v, depth + 1)


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(HEAD_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").replace("\r", "\n")


def _loggers(files: Iterable[str]) -> tuple[str, ...]:
    """Logging libraries whose files are in the run: tensorboard, wandb, mlflow."""
    found = []
    for f in files:
        parts = [p.lower() for p in PurePath(f).parts]
        name = parts[-1]
        if name.startswith("events.out.tfevents"):
            found.append("tensorboard")
        if "wandb" in parts or name.startswith("wandb-") or any(p.startswith("run-") and "wandb" in f.lower() for p in parts):
            found.append("wandb")
        if "mlruns" in parts or name in ("meta.yaml", "mlflow.db"):
            found.append("mlflow")
    return tuple(dict.fromkeys(sorted(found)))


# ======================================================================================
# model kind
# ======================================================================================
def detect_model_kind(run: Run) -> ModelKind:
    """Whether the model is an H-Net, and from which evidence.

    An H-Net shows itself by an `arch_layout` with at least one chunking stage, by routing
    metrics (`compression/stage0`, `boundary_frac/...`), or by H-Net parameter names in a
    checkpoint (`routing_module`, nested `main_network`). Anything else is not an H-Net:
    a plain model config, a GPT trainer's log, or nothing that says either way.
    """
    m = run.model
    if m.arch_layout is not None and (m.num_stages or 0) >= 1:
        return ModelKind(True, _hnet_name(m.num_stages), m.source, f"`arch_layout` with {m.num_stages} chunking stage"
                         + ("s" if m.num_stages != 1 else ""))
    for name in run.metric_names():
        base = name.split("/", 1)[0]
        if base in _ROUTING_METRICS and "/stage" in name:
            src = _metric_source(run, name)
            return ModelKind(True, "H-Net", src, f"routing metric `{name}` logged")
    for c in run.checkpoints:
        routing = next((t.name for t in c.tensors if t.component in ("routing", "dechunk")), None)
        if routing is not None:
            return ModelKind(True, "H-Net", c.path, f"H-Net parameter `{routing}` in the checkpoint")
    name = _plain_model_name(run)
    if m.arch_layout is not None:
        return ModelKind(False, name or "", m.source,
                         "`arch_layout` without a chunking stage")
    if m.num_stages == 0:
        return ModelKind(False, name or "", m.source, "a model config without H-Net layout")
    return ModelKind(False, name or "", None, "no `arch_layout`, routing metric or H-Net parameter in the run")


def _hnet_name(stages: int | None) -> str:
    return f"H-Net ({stages}-stage)" if stages else "H-Net"


def _metric_source(run: Run, metric: str) -> str | None:
    sel = run.scalars[run.scalars["metric"] == metric]
    return str(sel["source"].iloc[0]) if not sel.empty else None


_NAME_KEYS: tuple[tuple[str, Callable[[Any], str | None]], ...] = (
    ("_name_or_path", lambda v: str(v).rstrip("/").split("/")[-1] if isinstance(v, str) and v else None),
    ("model_name_or_path", lambda v: str(v).rstrip("/").split("/")[-1] if isinstance(v, str) and v else None),
    ("architectures", lambda v: str(v[0]) if isinstance(v, list) and v and isinstance(v[0], str) else None),
    ("model_type", lambda v: str(v) if isinstance(v, str) and v else None),
)


def _plain_model_name(run: Run) -> str | None:
    """A model's name from an HF `config.json`/`training_args` (`_name_or_path`, `architectures`)."""
    for _, cfg in _configs_by_depth(run):
        for key, get in _NAME_KEYS:
            name = get(cfg.get(key))
            if name:
                return name
    return None
