"""Typed run settings from every config of a run, and which file wins when several say.

`sources.config` reads one file into a plain mapping (kept raw in `Run.configs`); here
`settings_from_configs(configs, checkpoints)` turns every mapping of the run, plus what
the checkpoints carry, into TrainingSettings, ModelSettings and GenerationSettings.

Where keys are looked for: `training:`, `optimizer:`, `scheduler:`, `data:` sections (and
the top level) for training keys under the aliases below, `model:` sections for the
architecture (an official H-Net config with `arch_layout`, or a plain model's width and
depth), `generation:` sections and `generation*` files for sampling settings.

Precedence, when several files state the same setting (no warning is raised):
1. the run's own config files, shallowest folder first; at equal depth files named like a
   config (`config.*`, `args.*`, `hparams.*`, `training_args.*`...) before others;
2. then the configs embedded in checkpoints, newest checkpoint first;
3. then what checkpointed scheduler states say (kind, warmup and planned steps);
4. then what the optimizer param groups say (per-stage `lr_multiplier`, weight decay).
Each field takes the first value found in that order; `source` lists the files that gave
at least one field, in that order, joined by " + ".
Generation settings come only from `generation*.json|yaml` files and `generation:`
sections, never from a model config (old Hugging Face model configs carry default
`temperature`/`top_k` values that were never used).
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, Callable, Iterator

from ..arch_layout import LayerGroup, parse_arch_layout
from ..run import CheckpointSummary, GenerationSettings, ModelSettings, TrainingSettings
from .base import to_float, to_int

# -- key aliases (documented in the README): field -> accepted keys, most specific first ----
TRAINING_ALIASES: dict[str, tuple[str, ...]] = {
    "learning_rate": ("learning_rate", "lr", "max_lr", "peak_lr", "base_lr", "max_learning_rate"),
    "lr_multipliers": ("lr_multipliers", "lr_multiplier", "lr_mult", "lr_mults", "stage_lr_multipliers"),
    "warmup_steps": ("warmup_steps", "warmup", "warmup_iters", "num_warmup_steps", "warmup_updates", "lr_warmup_steps", "lr_warmup_iters"),
    "warmup_ratio": ("warmup_ratio", "warmup_fraction", "warmup_frac", "warmup_pct", "pct_start"),
    "max_steps": ("max_steps", "total_steps", "max_iters", "train_steps", "num_training_steps", "num_steps",
                  "training_steps", "train_iters", "total_iters", "max_iterations"),
    "schedule": ("schedule", "lr_schedule", "lr_scheduler_type", "lr_scheduler", "scheduler", "lr_decay_style",
                 "decay_style", "scheduler_type", "sched"),
    "max_grad_norm": ("max_grad_norm", "grad_clip", "clip_grad", "gradient_clipping", "clip_grad_norm",
                      "grad_clip_norm", "gradient_clip_val", "clip_norm"),
    "batch_size": ("global_batch_size", "batch_size", "train_batch_size", "total_batch_size",
                   "per_device_train_batch_size", "micro_batch_size"),
    "seq_len": ("seq_len", "seq_length", "sequence_length", "block_size", "max_seq_length", "max_seq_len",
                "context_length", "ctx_len"),
    "weight_decay": ("weight_decay", "wd", "weight_decay_rate"),
    "ratio_loss_weight": ("ratio_loss_weight", "ratio_loss_alpha", "load_balancing_weight", "lb_loss_weight"),
    "target_compression": ("target_compression", "target_compressions", "target_ratio", "target_ratios",
                           "compression_target", "compression_targets", "downsample_ratios"),
    "decay_fraction": ("decay_fraction", "decay_frac", "decay_ratio", "cooldown_fraction", "cooldown_ratio", "lr_decay_fraction"),
    "stop_at_step": ("stop_at_step", "stop_step"),
}
GENERATION_ALIASES: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature", "temp"),
    "top_p": ("top_p", "nucleus_p"),
    "top_k": ("top_k",),
    "repetition_penalty": ("repetition_penalty", "rep_penalty", "repeat_penalty"),
    # max_length counts the prompt too; it is only used when nothing better is stated
    "max_new_tokens": ("max_new_tokens", "max_tokens", "num_new_tokens", "max_length"),
}
MODEL_SECTIONS = ("model", "model_config", "model_args", "arch", "architecture", "network", "hnet")
GENERATION_SECTIONS = ("generation", "generation_config", "sampling", "generate", "decoding")
PRIMARY_STEMS = {"config", "train_config", "training_config", "args", "hparams", "hyperparams", "params",
                  "training_args", "cfg", "settings", "hyper_parameters"}


# ======================================================================================
# H-Net architecture
# ======================================================================================
def find_hnet_config(obj: Any, depth: int = 0) -> dict | None:
    """The mapping that holds `arch_layout` (top level, `model:` or deeper), if any."""
    if not isinstance(obj, dict) or depth > 3:
        return None
    if "arch_layout" in obj:
        return obj
    for key in (*MODEL_SECTIONS, *obj.keys()):
        found = find_hnet_config(obj.get(key), depth + 1) if key in obj else None
        if found is not None:
            return found
    return None


def describe_layout(layout: Any, d_intermediate: Any = None) -> tuple[int, tuple[dict[str, Any], ...]]:
    """(number of chunking stages, per-level layer description) of an `arch_layout`.

    The grammar is `hnet_diag.arch_layout`'s (the trainer's too). Upper-case layers count
    as MLP layers unless that level's d_intermediate is 0. Raises ValueError with the reason
    when the layout is malformed.
    """
    widths = _tuple(d_intermediate, int)
    levels = []
    for lv in parse_arch_layout(layout):
        mlp_width = _at(widths, lv.level)
        levels.append({
            "stage": lv.level,
            "encoder": None if lv.is_innermost else _stack(lv.encoder_text, lv.encoder, mlp_width),
            "main": _stack(lv.main_text, lv.main, mlp_width) if lv.is_innermost else None,
            "decoder": None if lv.is_innermost else _stack(lv.decoder_text, lv.decoder, mlp_width),
        })
    return len(levels) - 1, tuple(levels)


def _stack(text: str | None, groups: tuple[LayerGroup, ...], mlp_width: int | None) -> dict[str, Any]:
    mamba = sum(g.count for g in groups if g.is_mamba)
    attention = sum(g.count for g in groups if not g.is_mamba)
    mlp = sum(g.count for g in groups if g.has_mlp) if mlp_width != 0 else 0
    return {"layout": text, "mamba": mamba, "attention": attention, "layers": mamba + attention, "mlp_layers": mlp}


def _model_from_hnet(cfg: dict, source: str) -> ModelSettings:
    layout = cfg["arch_layout"]
    try:
        num_stages, levels = describe_layout(layout, cfg.get("d_intermediate"))
    except ValueError:
        num_stages, levels = None, None
    d_model = _tuple(cfg.get("d_model"), int)
    d_inter = _tuple(cfg.get("d_intermediate"), int)
    if num_stages is None and d_model:
        num_stages = len(d_model) - 1
    if levels:
        levels = tuple({**lv, "d_model": _at(d_model, lv["stage"]), "d_intermediate": _at(d_inter, lv["stage"])} for lv in levels)
    attn = cfg.get("attn_cfg") if isinstance(cfg.get("attn_cfg"), dict) else {}
    window = attn.get("window_size")
    n_levels = len(levels) if levels else (len(d_model) if d_model else 1)
    windows = _tuple(window, int) if isinstance(window, (list, tuple)) else (
        (int(window),) * n_levels if _int(window) is not None else None)
    return ModelSettings(
        arch_layout=layout, d_model=d_model, d_intermediate=d_inter, num_stages=num_stages,
        stage_layers=levels, vocab_size=_int(cfg.get("vocab_size")), attn_window_size=windows, source=source,
    )


def _model_from_plain(cfg: dict, source: str) -> ModelSettings | None:
    """A plain (0-stage) model: Hugging Face config.json, nanoGPT model_args."""
    keys = {norm_key(k): v for k, v in cfg.items()}
    n_layers = next((_int(keys[k]) for k in ("n_layer", "num_hidden_layers", "n_layers", "num_layers") if k in keys), None)
    if n_layers is None:
        return None
    width = next((_int(keys[k]) for k in ("d_model", "hidden_size", "n_embd", "dim") if k in keys), None)
    return ModelSettings(d_model=(width,) if width else None, num_stages=0, vocab_size=_int(keys.get("vocab_size")), source=source)


# ======================================================================================
# settings
# ======================================================================================
def settings_from_configs(
    configs: dict[str, dict[str, Any]], checkpoints: list[CheckpointSummary]
) -> tuple[TrainingSettings, ModelSettings, GenerationSettings | None]:
    """Typed settings from every config of the run (see the module docstring for precedence)."""
    gen_files = sorted((n for n in configs if _is_generation_file(n)), key=_rank)
    run_files = sorted((n for n in configs if not _is_generation_file(n)), key=_rank)
    ckpts = sorted(checkpoints, key=lambda c: (c.step is None, -(c.step or 0), c.path))
    ranked: list[tuple[str, Any]] = [(n, configs[n]) for n in run_files]
    ranked += [(c.path, c.config) for c in ckpts if isinstance(c.config, dict)]

    # training
    found: list[tuple[str, dict[str, Any]]] = [(name, _training_fields(cfg)) for name, cfg in ranked]
    found += [(c.path, _fields_from_scheduler(c.scheduler)) for c in ckpts]
    found += [(c.path, _fields_from_param_groups(c.param_groups)) for c in ckpts]
    values, used = _merge(found)
    ratio = values.pop("warmup_ratio", None)
    if ratio and values.get("warmup_steps") is None and values.get("max_steps"):
        warmup = _count(ratio * values["max_steps"])  # None when the product is inf, NaN or beyond int64
        if warmup is not None:
            values["warmup_steps"] = warmup
    train = TrainingSettings(**values, source=" + ".join(used) or None)

    # model
    model = ModelSettings()
    for name, cfg in ranked:
        hnet = find_hnet_config(cfg)
        if hnet is not None:
            model = _model_from_hnet(hnet, name)
            break
    else:
        for name, cfg in ranked:
            plain = next((p for p in (_model_from_plain(s, name) for s in _model_sections(cfg)) if p), None)
            if plain is not None:
                model = plain
                break

    # generation
    gen_found = [(n, _generation_fields(configs[n])) for n in gen_files]
    for name, cfg in ranked:
        for key in GENERATION_SECTIONS:
            section = _get(cfg, key)
            if isinstance(section, dict):
                gen_found.append((name, _generation_fields(section)))
    gen_values, gen_used = _merge(gen_found)
    generation = GenerationSettings(**gen_values, source=" + ".join(gen_used)) if gen_used else None
    return train, model, generation


def _merge(found: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], list[str]]:
    """First value of each field in ranked order, and the files that contributed one."""
    values: dict[str, Any] = {}
    used: list[str] = []
    for name, fields in found:
        contributed = False
        for key, value in fields.items():
            if key not in values:
                values[key] = value
                contributed = True
        if contributed and name not in used:
            used.append(name)
    return values, used


def _rank(name: str) -> tuple[int, int, str]:
    p = PurePath(name)
    stem = p.stem.lower()
    return len(p.parts), 0 if stem in PRIMARY_STEMS or stem == "generation" else 1, name


def _is_generation_file(name: str) -> bool:
    return PurePath(name).stem.lower().startswith("generation")


def _model_sections(cfg: dict) -> Iterator[dict]:
    for key in MODEL_SECTIONS:
        if isinstance(_get(cfg, key), dict):
            yield _get(cfg, key)
    yield cfg


def _training_leaves(cfg: Any, depth: int = 0) -> Iterator[tuple[int, str, Any]]:
    """(depth, normalised key, value) of every entry outside model and generation sections."""
    if not isinstance(cfg, dict) or depth > 3:
        return
    for key, value in cfg.items():
        k = norm_key(key)
        if k in MODEL_SECTIONS or k in GENERATION_SECTIONS:
            continue
        yield depth, k, value
        if isinstance(value, dict):
            yield from _training_leaves(value, depth + 1)


def _training_fields(cfg: Any) -> dict[str, Any]:
    """Training fields of one mapping: the shallowest key wins, then the alias listed first."""
    leaves = list(_training_leaves(cfg))
    best: dict[str, tuple[tuple[int, int], Any]] = {}
    for field, aliases in TRAINING_ALIASES.items():
        for depth, key, value in leaves:
            if key not in aliases:
                continue
            target = field
            if field == "warmup_steps" and isinstance(value, float) and 0 < value < 1:
                target, converted = "warmup_ratio", value  # `warmup: 0.1` is a fraction
            else:
                converted = _CONVERT[field](value)
            if converted is None:
                continue
            rank = (depth, aliases.index(key) + (100 if target != field else 0))
            if target not in best or rank < best[target][0]:
                best[target] = (rank, converted)
    out = {k: v for k, (_, v) in best.items()}
    if out.get("warmup_ratio") and not out.get("warmup_steps"):
        out.pop("warmup_steps", None)  # Hugging Face: warmup_steps 0 means "use warmup_ratio"
    elif "warmup_ratio" in out:
        del out["warmup_ratio"]
    if "schedule" not in out:
        decay = next((v for _, k, v in leaves if k == "decay_lr" and isinstance(v, bool)), None)
        if decay is not None:  # nanoGPT: decay_lr=True is its cosine schedule
            out["schedule"] = "cosine" if decay else "constant"
    return out


def _generation_fields(cfg: Any) -> dict[str, Any]:
    if not isinstance(cfg, dict):
        return {}
    keys = {norm_key(k): v for k, v in cfg.items()}
    out: dict[str, Any] = {}
    for field, aliases in GENERATION_ALIASES.items():
        conv = _int if field in ("top_k", "max_new_tokens") else _float
        for alias in aliases:
            if alias in keys and conv(keys[alias]) is not None:
                out[field] = conv(keys[alias])
                break
    if keys.get("do_sample") is False:  # Hugging Face: greedy decoding ignores temperature
        out["temperature"] = 0.0
    return out


def _fields_from_scheduler(state: dict[str, Any] | None) -> dict[str, Any]:
    """A scheduler's saved state may name its kind and plan (our trainer: kind, warmup_steps, max_steps)."""
    if not isinstance(state, dict):
        return {}
    out = _training_fields(state)
    kind = next((state[k] for k in ("kind", "name", "type") if isinstance(state.get(k), str)), None)
    if "schedule" not in out and kind is not None:
        out["schedule"] = _schedule(kind)
    return out


def _fields_from_param_groups(groups: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """Fallback settings from a checkpoint's optimizer param groups.

    Multipliers are only ordered when each group names its stage: without it the order of
    groups says nothing about which stage a multiplier belongs to.
    """
    out: dict[str, Any] = {}
    by_stage: dict[int, float] = {}
    for g in groups:
        stage = g.get("stage")
        stage = int(re.search(r"\d{1,9}", stage).group()) if isinstance(stage, str) and re.search(r"\d", stage) else stage
        mult = _float(g.get("lr_multiplier"))
        if isinstance(stage, int) and not isinstance(stage, bool) and mult is not None:
            by_stage.setdefault(stage, mult)
    if by_stage and sorted(by_stage) == list(range(len(by_stage))):
        out["lr_multipliers"] = tuple(by_stage[s] for s in sorted(by_stage))
    decays = [d for d in (_float(g.get("weight_decay")) for g in groups) if d is not None]
    if decays:
        out["weight_decay"] = max(decays)  # no-decay groups (biases, norms) hold 0
    if len(groups) == 1 and _float(groups[0].get("initial_lr")) is not None:
        out["learning_rate"] = _float(groups[0]["initial_lr"])
    return out


# -- value conversion -----------------------------------------------------------------------
def norm_key(key: Any) -> str:
    """A config key as the alias tables spell it: stripped, lower case, `-` -> `_`."""
    return str(key).strip().lower().replace("-", "_")


def _get(cfg: Any, key: str) -> Any:
    if not isinstance(cfg, dict):
        return None
    for k, v in cfg.items():
        if norm_key(k) == key:
            return v
    return None


def _float(v: Any) -> float | None:
    """`sources.base.to_float`, except that a boolean in a config is a switch, not a number."""
    return to_float(v, bools=False)


_int = to_int


def _count(v: Any) -> int | None:
    """A step or size count; negative values (HF `max_steps: -1`) mean "not set"."""
    n = _int(v)
    return n if n is not None and n >= 0 else None


def _tuple(v: Any, kind: Callable[[Any], Any] = float) -> tuple | None:
    """[2.0, 1.5], (2, 1.5), "2.0,1.5,1.0", "[2.0, 1.5]" or a single number -> tuple."""
    conv = _int if kind is int else _float
    if isinstance(v, str):
        parts = [p for p in re.split(r"[,\s]+", v.strip().strip("[]()")) if p]
        items = [conv(p) for p in parts]
    elif isinstance(v, (list, tuple)):
        items = [conv(x) for x in v]
    else:
        items = [conv(v)] if conv(v) is not None else []
    if not items or any(x is None for x in items):
        return None
    return tuple(items)


def _schedule(v: Any) -> str | None:
    if isinstance(v, dict):
        v = v.get("name", v.get("type", v.get("schedule")))
    if not isinstance(v, str) or not v.strip():
        return None
    s = v.strip().lower().replace("-", "_")
    s = s.rsplit(".", 1)[-1]  # "torch.optim.lr_scheduler.CosineAnnealingLR"
    if s in ("wsd", "warmup_stable_decay", "trapezoidal", "trapezoid") or "stable" in s:
        return "wsd"
    if "cosine" in s:
        return "cosine"
    if s.startswith("constant") or s in ("const", "none", "fixed"):
        return "constant"
    if s.startswith("linear"):
        return "linear"
    return s


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "learning_rate": _float, "lr_multipliers": _tuple, "warmup_steps": _count, "warmup_ratio": _float,
    "max_steps": _count, "schedule": _schedule, "max_grad_norm": _float, "batch_size": _count,
    "seq_len": _count, "weight_decay": _float, "ratio_loss_weight": _float, "target_compression": _tuple,
    "decay_fraction": _float, "stop_at_step": _count,
}


def _at(values: tuple | None, i: int) -> Any:
    return values[i] if values and i < len(values) else None


