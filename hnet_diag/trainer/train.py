"""The reference H-Net trainer: one config dataclass and one loop you can read in one sitting.

It exists so hnet-diag is tested on real runs: it writes what a real H-Net run writes
(TensorBoard events, metrics.jsonl, train.log, config.json, torch checkpoints) under the
canonical metric names, and each failure the analyzers detect can be produced with ordinary
settings alone (LR multipliers, warmup, ratio-loss weight, a run cut short).

The loop, per optimizer step s (1-based):
  set each param group's LR = base LR * schedule(s) * group's lr_multiplier
  -> forward the batch of (seed, s) -> loss = CE + ratio_loss_weight * sum_s ratio_loss_s
  -> backward -> measure the PRE-clip gradient norm (total and per stage) -> clip -> step
  -> log every metric -> evaluate every --eval-every -> checkpoint every --save-every.

The same file runs under `torchrun --nproc_per_node N` with DDP (gloo on CPU, NCCL on GPU):
every rank draws the same global batch and keeps its own rows, only rank 0 logs and saves.
Run it as `hnet-diag train ...` or `python -m hnet_diag.trainer.train ...` (same flags).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .. import paper
from ..errors import InputError

#: the keys of config.json["training"]; hnet_diag.sources.config parses exactly these
TRAINING_KEYS = (
    "learning_rate", "lr_multipliers", "warmup_steps", "max_steps", "schedule", "decay_fraction",
    "max_grad_norm", "batch_size", "seq_len", "weight_decay", "ratio_loss_weight",
    "target_compression", "stop_at_step", "seed", "eval_every", "save_every", "data",
)

#: the paper's defaults where it states them (multipliers [2.0, 1.5, 1.0] for 2 stages,
#: N = 6 for 1 stage and (3, 3) for 2 stages, alpha = 0.03, 10% warmup, 20% decay)
DEFAULT_LR_MULTIPLIERS = paper.MULTIPLIERS_BY_STAGES
DEFAULT_TARGET_COMPRESSION = {0: (), **paper.TARGETS_BY_STAGES}


@dataclass
class TrainConfig:
    """Training settings. None means "derive it": from the model's stage count or max_steps."""

    learning_rate: float = 2e-3
    lr_multipliers: tuple[float, ...] | None = None  # one per hierarchy level, outermost first
    warmup_steps: int | None = None  # None -> 10% of max_steps (the paper)
    max_steps: int = 300  # the plan: the schedule is laid out over these steps
    schedule: str = "wsd"
    decay_fraction: float = paper.DECAY_FRACTION
    max_grad_norm: float = 1.0  # <= 0 disables clipping (the norm is still logged)
    batch_size: int = 4  # global batch, all ranks together
    seq_len: int = 256
    weight_decay: float = 0.1
    ratio_loss_weight: float = paper.RATIO_LOSS_WEIGHT
    target_compression: tuple[float, ...] | None = None  # N per chunking stage, outermost first
    stop_at_step: int | None = None  # cut the run here on purpose; max_steps stays the plan
    seed: int = 0
    eval_every: int = 50
    save_every: int | None = None  # None -> only the last step
    data: tuple[str, ...] = field(default_factory=tuple)  # text files; empty -> "bundled:tinyshakespeare.txt"
    save_optimizer: bool = True  # False drops optimizer state from checkpoints (small fixtures)

    def resolved(self, num_stages: int) -> "TrainConfig":
        """Fill the derived settings and check them against the model; raises ValueError."""
        from .data import DEFAULT_CORPUS
        from .schedule import SCHEDULES

        c = replace(self)
        if c.lr_multipliers is None:
            c.lr_multipliers = DEFAULT_LR_MULTIPLIERS.get(num_stages, (1.0,) * (num_stages + 1))
        if c.target_compression is None:
            c.target_compression = DEFAULT_TARGET_COMPRESSION.get(num_stages, (3.0,) * num_stages)
        if c.warmup_steps is None:
            c.warmup_steps = int(round(paper.WARMUP_FRACTION * c.max_steps))
        if not c.data:
            c.data = (DEFAULT_CORPUS,)
        c.lr_multipliers = tuple(float(x) for x in c.lr_multipliers)
        c.target_compression = tuple(float(x) for x in c.target_compression)
        c.data = tuple(str(d) for d in c.data)
        if len(c.lr_multipliers) != num_stages + 1:
            raise ValueError(f"--lr-multipliers needs {num_stages + 1} values (one per hierarchy level), got {len(c.lr_multipliers)}")
        if len(c.target_compression) != num_stages:
            raise ValueError(f"--target-compression needs {num_stages} values (one per chunking stage), got {len(c.target_compression)}")
        if any(n <= 1 for n in c.target_compression):
            raise ValueError("--target-compression values must be > 1")
        if c.schedule not in SCHEDULES:
            raise ValueError(f"--schedule must be one of {', '.join(SCHEDULES)}")
        if c.max_steps < 1 or c.batch_size < 1 or c.seq_len < 2:
            raise ValueError("--max-steps, --batch-size must be >= 1 and --seq-len >= 2")
        return c

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in TRAINING_KEYS}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)


# -- model, config and parameter groups ------------------------------------------------------

def model_api():
    """(HNetConfig, HNetLM): the model lives in hnet_diag.trainer.config / .model."""
    from .config import HNetConfig
    from .model import HNetLM

    return HNetConfig, HNetLM


def resolve_model_config_path(name_or_path: str) -> Path:
    """A config file path, or the name of a bundled config (`hnet_2stage_tiny`)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    bundled = Path(__file__).resolve().parent / "configs" / (p.name if p.suffix == ".json" else p.name + ".json")
    if bundled.is_file():
        return bundled
    known = sorted(q.stem for q in bundled.parent.glob("*.json"))
    raise InputError(name_or_path, f"no such model config file or bundled config (bundled: {', '.join(known)})")


def param_groups(model, lr_multipliers: tuple[float, ...], weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups per hierarchy level: `stage` and `lr_multiplier` keys, as the official code.

    Embeddings and lm_head map to stage 0 through `model.stage_of`, so they take the outermost
    multiplier. 1-D parameters (biases, norm scales, A_log, D, dt_bias, pad vectors) get no
    weight decay. Each group also records `names` so a checkpoint tells which is which.
    """
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        stage = int(model.stage_of(name))
        decay = p.ndim >= 2 and not name.endswith(".bias") and "norm" not in name.split(".")[-2:][0]
        g = groups.setdefault((stage, decay), {
            "params": [], "names": [], "stage": stage, "lr_multiplier": float(lr_multipliers[stage]),
            "weight_decay": weight_decay if decay else 0.0,
        })
        g["params"].append(p)
        g["names"].append(name)
    return [groups[k] for k in sorted(groups)]


# -- checkpoints ----------------------------------------------------------------------------

def checkpoint_path(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"step_{step:06d}.pt"


def newest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted((out_dir / "checkpoints").glob("step_*.pt"))
    return found[-1] if found else None


def rng_states() -> dict[str, Any]:
    """Torch RNG states as tensors (no numpy objects), so weights_only loading works."""
    import torch

    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def optimizer_state(optimizer, with_moments: bool = True) -> dict:
    """The optimizer's state_dict; without moments it still carries the param groups.

    The groups (lr, lr_multiplier, stage, weight_decay, parameter names) are small and are
    what a diagnosis reads; the Adam moments are twice the model's size.
    """
    state = optimizer.state_dict()
    if not with_moments:
        state = {"state": {}, "param_groups": state["param_groups"]}
    return state


def save_checkpoint(path: Path, model, optimizer, schedule, step: int, config: dict, save_optimizer: bool) -> None:
    """torch.save to a temporary name, then rename: a killed save never leaves half a file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer_state(optimizer, save_optimizer),
        "scheduler": schedule.state_dict(),
        "step": step,
        "config": config,
        "rng": rng_states(),
    }
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
        raise InputError(path, f"cannot load checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from err


# -- distributed ----------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None) -> Dist:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); else a single process."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if world <= 1:
        return Dist(0, 1, want)
    import torch.distributed as dist

    on_gpu = want.startswith("cuda")
    if on_gpu:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        want = f"cuda:{local}"
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group("nccl" if on_gpu else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), want)


def mean_over_ranks(values: list[float], d: Dist) -> list[float]:
    """Average per-step scalars over ranks, so rank 0 logs the global batch's numbers."""
    if d.world_size == 1 or not values:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return (t / d.world_size).tolist()


# -- the loop -------------------------------------------------------------------------------

def evaluate(model, batches, device: str, max_windows: int = 64) -> float:
    """Mean cross-entropy (nats per byte) over the fixed validation windows."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in batches.val_batches(max_windows):
            logits = model(x.to(device)).logits
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.to(device).reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train(was_training)
    return total / max(1, count)


def train(cfg: TrainConfig, model_config: str | Path | dict, out_dir: str | Path, *, resume: bool | str | Path = False,
          device: str | None = None, overrides: dict[str, Any] | None = None, quiet: bool = False,
          stop_on: str | None = None) -> dict[str, Any]:
    """Train and return {"step", "loss", "val_loss", "checkpoint", "stopped"} of the last step.

    `stop_on="critical"` (or "high", ...) judges the run while it trains with
    `hnet_diag.Monitor` (the rules of `analyze`) and stops at the first step where a finding
    at or above that severity stands: it saves a checkpoint of that step and says why in
    train.log and as the last line of metrics.jsonl (`"event": "stopped", "reason": ...`);
    `result["stopped"]` holds the reason. A run that reaches its last step ends
    metrics.jsonl with `"event": "finished"` either way. This is the one place the trainer
    imports analysis code, and only when asked.

    `resume=True` continues from the newest checkpoint in out_dir (a path: that checkpoint);
    the run's settings then come from the checkpoint, with `overrides` (the flags the user
    typed) applied on top, so `--resume --stop-at-step 200` extends a run that was cut.
    """
    import torch
    import torch.nn.functional as F

    from .data import ByteBatches
    from .logging import ConsoleLogger, FanOut, JsonlLogger, NullLogger, TensorBoardLogger
    from .model.routing import compression
    from .schedule import Schedule

    out = Path(out_dir)
    HNetConfig, HNetLM = model_api()
    d = setup_distributed(device)

    ckpt = None
    if resume:
        ck_path = newest_checkpoint(out) if resume is True else Path(resume)
        if ck_path is None or not ck_path.is_file():
            raise InputError(ck_path or out / "checkpoints", "nothing to resume: no checkpoint found")
        ckpt = load_checkpoint(ck_path)
        mcfg = HNetConfig.from_dict(ckpt["config"]["model"])
        saved = TrainConfig.from_json(ckpt["config"]["training"])
        cfg = replace(saved, **(overrides or {}))
        if "save_optimizer" not in (overrides or {}):
            cfg.save_optimizer = bool((ckpt.get("optimizer") or {}).get("state"))
    elif isinstance(model_config, dict):
        mcfg = HNetConfig.from_dict(model_config)
    else:
        mcfg = HNetConfig.from_json(resolve_model_config_path(str(model_config)))
    try:
        cfg = cfg.resolved(mcfg.num_stages)
    except ValueError as err:
        raise InputError(out, str(err)) from err
    if cfg.batch_size % d.world_size:
        raise InputError(out, f"--batch-size {cfg.batch_size} is not divisible by the {d.world_size} processes")
    config = {"model": mcfg.to_dict(), "training": cfg.to_json()}

    torch.manual_seed(cfg.seed)
    model = HNetLM(mcfg).to(d.device)
    raw_model = model
    groups = param_groups(raw_model, cfg.lr_multipliers, cfg.weight_decay)
    use_fused = d.device.startswith("cuda")
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.95), eps=1e-8, fused=use_fused or None)
    schedule = Schedule(cfg.schedule, cfg.warmup_steps, cfg.max_steps, cfg.decay_fraction)
    start = 0
    if ckpt is not None:
        raw_model.load_state_dict(ckpt["model"])
        if ckpt.get("optimizer") is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["step"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if torch.cuda.is_available() and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    if d.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[int(d.device.split(":")[1])] if d.device.startswith("cuda") else None)

    batches = ByteBatches.from_files(list(cfg.data), cfg.seq_len, cfg.batch_size, cfg.seed)
    last = min(cfg.max_steps, cfg.stop_at_step or cfg.max_steps)
    stage_params = {}
    for g in groups:
        stage_params.setdefault(g["stage"], []).extend(g["params"])
    all_params = [p for g in groups for p in g["params"]]

    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        sinks = [TensorBoardLogger(out), JsonlLogger(out / "metrics.jsonl"),
                 ConsoleLogger(open(os.devnull, "w") if quiet else sys.stdout, out / "train.log", cfg.max_steps)]
        logger = FanOut(sinks)
    else:
        logger = NullLogger()

    result: dict[str, Any] = {"step": start, "loss": None, "val_loss": None, "checkpoint": None, "stopped": None}
    monitor = None
    if stop_on and d.is_main:
        from ..live.monitor import Monitor

        monitor = Monitor(config=config, name=str(out))
    model.train()
    try:
        for step in range(start + 1, last + 1):
            t0 = time.perf_counter()
            lr = cfg.learning_rate * schedule.factor(step)
            for g in optimizer.param_groups:
                g["lr"] = lr * g["lr_multiplier"]

            x, y = batches.train_batch(step, d.rank, d.world_size)
            x, y = x.to(d.device), y.to(d.device)
            out_ = model(x)
            ce = F.cross_entropy(out_.logits.reshape(-1, out_.logits.shape[-1]).float(), y.reshape(-1))
            ratio = [s.ratio_loss(n) for s, n in zip(out_.stages, cfg.target_compression)]
            ratio_total = cfg.ratio_loss_weight * torch.stack(ratio).sum() if ratio else ce.new_zeros(())
            loss = ce + ratio_total

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # pre-clip norms: per stage, and the total that clipping compares with max_grad_norm
            stage_sq = {s: sum(float(p.grad.detach().float().pow(2).sum()) for p in ps if p.grad is not None)
                        for s, ps in sorted(stage_params.items())}
            grad_norm = math.sqrt(sum(stage_sq.values()))
            clipped = cfg.max_grad_norm > 0 and grad_norm > cfg.max_grad_norm
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(all_params, cfg.max_grad_norm)
            optimizer.step()

            local = [ce.item()] + [r.item() for r in ratio]
            for st in out_.stages:  # RoutingStats: F, G and the undecided share of real positions
                local += [st.boundary_fraction(), st.mean_boundary_prob(), st.undecided_fraction()]
            synced = mean_over_ranks(local, d)
            if d.device.startswith("cuda"):
                torch.cuda.synchronize()
            step_time = time.perf_counter() - t0

            m: dict[str, float] = {"loss": synced[0], "bpb": synced[0] / math.log(2), "lr": lr}
            for g_stage in sorted(stage_params):
                m[f"lr/stage{g_stage}"] = lr * cfg.lr_multipliers[g_stage]
            m["grad_norm"] = grad_norm
            for s, sq in stage_sq.items():
                m[f"grad_norm/stage{s}"] = math.sqrt(sq)
            m["clipped"] = float(clipped)
            m["ratio_loss"] = cfg.ratio_loss_weight * sum(synced[1 : 1 + len(ratio)])
            for i in range(len(out_.stages)):
                frac, prob, undecided = synced[1 + len(ratio) + 3 * i : 4 + len(ratio) + 3 * i]
                m[f"ratio_loss/stage{i}"] = synced[1 + i]
                m[f"boundary_frac/stage{i}"] = frac
                m[f"boundary_prob/stage{i}"] = prob
                m[f"compression/stage{i}"] = compression(frac)
                m[f"boundary_undecided/stage{i}"] = undecided
            m["tokens_per_s"] = cfg.batch_size * cfg.seq_len / step_time
            m["step_time"] = step_time

            if d.is_main and (step % max(1, cfg.eval_every) == 0 or step == last):
                val = evaluate(raw_model, batches, d.device)
                m["val_loss"], m["val_bpb"] = val, val / math.log(2)
                result["val_loss"] = val
            logger.log(m, step)
            result.update(step=step, loss=m["loss"])

            stop = False
            if stop_on:
                if monitor is not None:
                    monitor.log(step, m)
                    stop = monitor.should_stop(stop_on)
                stop = mean_over_ranks([float(stop)], d)[0] > 0 if d.world_size > 1 else stop
            if d.is_main and (stop or (cfg.save_every and step % cfg.save_every == 0) or step == last):
                path = checkpoint_path(out, step)
                save_checkpoint(path, raw_model, optimizer, schedule, step, config, cfg.save_optimizer)
                result["checkpoint"] = str(path)
            if stop:
                why = monitor.reason(stop_on) if monitor is not None else "a finding on rank 0"
                result["stopped"] = f"--stop-on {stop_on}: {why}"
                break
        if d.is_main:
            logger.mark(result["step"], "stopped" if result["stopped"] else "finished", result["stopped"] or "")
    finally:
        logger.close()
        if d.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
    return result


def run_from_args(args: Any) -> int:
    """Train from parsed command-line flags (`hnet_diag.trainer.flags`); prints the outcome."""
    from .flags import overrides_from_args

    overrides = overrides_from_args(args)
    result = train(TrainConfig(**overrides), args.config, args.out, resume=args.resume, device=args.device,
                   overrides=overrides, quiet=args.quiet, stop_on=getattr(args, "stop_on", None))
    if result.get("stopped"):
        print(f"stopped at step {result['step']}: {result['stopped']}; checkpoint {result['checkpoint']}")
        return 1
    if result.get("checkpoint"):
        print(f"done: step {result['step']}, loss {result['loss']:.4f}, checkpoint {result['checkpoint']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m hnet_diag.trainer.train` (and torchrun): the same flags as `hnet-diag train`."""
    import argparse

    from ..errors import HnetDiagError
    from . import flags

    parser = argparse.ArgumentParser(prog="python -m hnet_diag.trainer.train", description=flags.__doc__)
    flags.add_arguments(parser)
    try:
        return run_from_args(parser.parse_args(argv))
    except HnetDiagError as err:
        print(f"hnet-diag: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
