"""Shared test set-up: the repository on sys.path, and the builders test files share.

- `fixture_analyses(name)` / `fixture_results(name)`: a committed run of fixtures/runs/,
  analysed once per session (real trainer output; about a second each).
- `records_run(folder, records, training)`: a Run from metrics records written as the
  reference trainer writes metrics.jsonl (`healthy_records()` gives a realistic curve set);
  for the analyzer tests.
- `run_folder(folder, ...)`: a whole run folder (metrics.jsonl + config.json [+
  generation.json]) with one knob per pathology; for the rule, report and CLI tests.
- `HEALTHY`, `BAD` and the result constants: analyzer results built directly from the
  analyzers' dataclasses, so rule tests pin predicates, not detectors.

Curves are synthetic but shaped like real ones (log-normal grad-norm noise, a decaying loss
with noise, warmup-stable-decay LR, a large norm in the first steps); every pathology comes
from an ordinary setting or an explicit spike list.
"""
from __future__ import annotations

import json
import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hnet_diag import load_run  # noqa: E402
from hnet_diag.analyzers.convergence import ConvergenceResult, ValCurve  # noqa: E402
from hnet_diag.analyzers.decoding import DecodingResult  # noqa: E402
from hnet_diag.analyzers.generation import GenerationResult  # noqa: E402
from hnet_diag.analyzers.gradients import GradientResult, StageGradients  # noqa: E402
from hnet_diag.analyzers.load_balance import LoadBalanceResult, StageBalance  # noqa: E402
from hnet_diag.analyzers.learning import LearningResult, PinnedSeries, StageShare  # noqa: E402
from hnet_diag.analyzers.loss import LossResult, NonFinite  # noqa: E402
from hnet_diag.analyzers.boundaries import BoundaryResult, measure_stages  # noqa: E402
from hnet_diag.analyzers.noise import TransientSpike  # noqa: E402
from hnet_diag.analyzers.ranks import RankDeparture, RankResult  # noqa: E402
from hnet_diag.analyzers.lr_ratio import LRRatioResult  # noqa: E402
from hnet_diag.analyzers.warmup import WarmupResult  # noqa: E402
from hnet_diag.analyzers.weights import ComponentStats, Drift, NonFiniteTensor, WeightsResult, ZeroTensor  # noqa: E402
from hnet_diag.analyzers.sample_quality import Sample, SampleSet, SamplesResult  # noqa: E402
from hnet_diag.analyzers.spikes import Spike  # noqa: E402
from hnet_diag.run import Run, TrainingSettings  # noqa: E402

RUNS = ROOT / "fixtures" / "runs"
#: the committed fixture runs (every folder of fixtures/runs/ with a metrics.jsonl)
FIXTURE_RUNS = tuple(sorted(p.name for p in RUNS.iterdir() if (p / "metrics.jsonl").is_file()))


@lru_cache(maxsize=None)
def _load(name: str):
    from hnet_diag import load_run

    return load_run(RUNS / name)


@lru_cache(maxsize=None)
def fixture_analyses(name: str, decoding: bool = False) -> dict:
    """`analyze_all` of fixtures/runs/<name> (decoding skipped unless asked: it rebuilds the model)."""
    from hnet_diag.analyzers import analyze_all

    if not (RUNS / name / "metrics.jsonl").is_file():
        pytest.skip(f"fixture run {name} not generated (python fixtures/make_runs.py {name})")
    return analyze_all(_load(name), skip=() if decoding else ("decoding",))


def fixture_results(name: str):
    """The typed `Results` of a fixture run (analyses plus the run's settings), decoding skipped."""
    from hnet_diag.results import Results

    return Results.of(fixture_analyses(name), _load(name))


# -- analyzer runs: metrics records read back through load_run ----------------------------

def wsd_lr(step: int, peak: float, warmup: int, max_steps: int, decay_fraction: float = 0.2) -> float:
    """Warmup-stable-decay LR, as in the H-Net paper (linear up, flat, then down)."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    decay_start = int(max_steps * (1 - decay_fraction))
    if step < decay_start:
        return peak
    return peak * max(0.0, (max_steps - step) / (max_steps - decay_start))


def healthy_records(
    steps: int = 600,
    warmup: int = 60,
    max_steps: int | None = None,
    peak_lr: float = 1e-3,
    multipliers: tuple[float, ...] = (2.0, 1.0),
    seed: int = 0,
    grad_spikes: dict[int, float] | None = None,
    loss_spikes: dict[int, float] | None = None,
    routing: bool = True,
    targets: tuple[float, ...] = (6.0,),
    val_every: int = 50,
) -> list[dict]:
    """One dict per step: loss, lr, lr/stage{i}, grad_norm (+ per stage), clipped, routing."""
    rng = np.random.default_rng(seed)
    max_steps = max_steps or steps
    grad_spikes = grad_spikes or {}
    loss_spikes = loss_spikes or {}
    recs = []
    for step in range(steps):
        lr = wsd_lr(step, peak_lr, warmup, max_steps)
        stage_g = [0.4 * math.exp(rng.normal(0, 0.15)) for _ in multipliers]
        for i in range(len(stage_g)):
            stage_g[i] *= grad_spikes.get(step, 1.0) if i == 0 else 1.0
        if step == 0:
            stage_g = [g * 30 for g in stage_g]  # the normal large norm at initialisation
        g = math.sqrt(sum(x * x for x in stage_g))
        loss = 2.0 + 3.0 * math.exp(-step / 150) + rng.normal(0, 0.02)
        loss *= loss_spikes.get(step, 1.0)
        rec = {"step": step, "loss": loss, "lr": lr, "grad_norm": g, "clipped": float(g > 1.0)}
        for i, m in enumerate(multipliers):
            rec[f"lr/stage{i}"] = lr * m
            rec[f"grad_norm/stage{i}"] = stage_g[i]
        if routing:
            for i, n in enumerate(targets):
                f = (1.0 / n) * (1 + rng.normal(0, 0.02))
                gp = f + rng.normal(0, 0.005)
                rec[f"boundary_frac/stage{i}"] = f
                rec[f"boundary_prob/stage{i}"] = gp
                rec[f"compression/stage{i}"] = 1.0 / f
                rec[f"ratio_loss/stage{i}"] = n / (n - 1) * ((n - 1) * f * gp + (1 - f) * (1 - gp))
                rec[f"boundary_undecided/stage{i}"] = 0.02
        if val_every and step % val_every == 0 or step == steps - 1:
            rec["val_loss"] = loss + 0.05
        recs.append(rec)
    return recs


def records_run(folder: Path, records: list[dict], training: TrainingSettings | None = None, **run_fields) -> Run:
    """Write records as metrics.jsonl (NaN/Inf as the trainer writes them), load, set settings."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")  # json writes NaN / Infinity, which the source reads
    run = load_run(folder)
    if training is not None:
        run.training = training
    for k, v in run_fields.items():
        setattr(run, k, v)
    return run


def settings(**kw) -> TrainingSettings:
    base = dict(max_steps=600, warmup_steps=60, max_grad_norm=1.0, batch_size=8, seq_len=256, learning_rate=1e-3)
    base.update(kw)
    return TrainingSettings(**base)


def close_figures() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")


# -- run folders for the rule, report and CLI tests --------------------------------------

def lr_at(step: int, peak: float, warmup: int, max_steps: int, schedule: str) -> float:
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        progress = (step - warmup) / max(1, max_steps - warmup)
        return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    decay_start = int(0.8 * max_steps)  # wsd: the last 20% decays
    if step < decay_start:
        return peak
    return peak * max(0.0, 1 - (step - decay_start) / max(1, max_steps - decay_start))


def run_folder(
    folder: Path,
    *,
    max_steps: int = 600,
    stop: int | None = None,
    warmup: int = 60,
    lr: float = 3e-4,
    multipliers: tuple[float, ...] = (2.0, 1.5, 1.0),
    schedule: str = "wsd",
    max_grad_norm: float | None = 1.0,
    grad_level: float = 0.4,
    grad_spikes: dict[int, float] | None = None,
    spike_stage: int = 0,
    loss_spikes: dict[int, float] | None = None,
    nan_from: int | None = None,
    ratio_loss_weight: float = 0.03,
    compression: tuple[float, ...] = (3.0, 3.0),
    targets: tuple[float, ...] = (3.0, 3.0),
    undecided: float = 0.05,
    val_rise: float = 0.0,
    generation: dict | None = None,
    seq_len: int = 512,
    seed: int = 0,
) -> Path:
    """Write a run folder and return it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    last = stop if stop is not None else max_steps
    grad_spikes = grad_spikes or {}
    loss_spikes = loss_spikes or {}
    n_stages = len(compression)
    lines = []
    for step in range(last):
        base = lr_at(step, lr, warmup, max_steps, schedule)
        loss = 4.0 * math.exp(-step / 120) + 1.4 + rng.normal(0, 0.01)
        if step in loss_spikes:
            loss *= loss_spikes[step]
        if nan_from is not None and step >= nan_from:
            loss = float("nan")
        norm = grad_level * (1 + 0.5 * math.exp(-step / 150)) * math.exp(rng.normal(0, 0.05))
        if step < 3:
            norm = 12.0 / (step + 1)  # a large norm at initialisation: normal
        factor = grad_spikes.get(step, 1.0)
        rec: dict = {
            "step": step,
            "loss": loss,
            "grad_norm": norm * factor,
            "lr": base,
            "clipped": int(max_grad_norm is not None and norm * factor > max_grad_norm),
            "tokens_per_s": 1000.0,
        }
        for s, m in enumerate(multipliers):
            rec[f"lr/stage{s}"] = base * m
            stage_norm = norm / math.sqrt(len(multipliers))
            rec[f"grad_norm/stage{s}"] = stage_norm * (factor if s == spike_stage else 1.0)
        total_ratio = 0.0
        for s in range(n_stages):
            comp = compression[s] * math.exp(rng.normal(0, 0.01))
            f = 1.0 / comp
            n = targets[s]
            gp = f + rng.normal(0, 0.002)
            ratio = n / (n - 1) * ((n - 1) * f * gp + (1 - f) * (1 - gp))
            total_ratio += ratio
            rec[f"ratio_loss/stage{s}"] = ratio
            rec[f"compression/stage{s}"] = comp
            rec[f"boundary_frac/stage{s}"] = f
            rec[f"boundary_prob/stage{s}"] = gp
            rec[f"boundary_undecided/stage{s}"] = undecided
        rec["ratio_loss"] = ratio_loss_weight * total_ratio
        if step % 50 == 49:
            drift = val_rise * max(0, step - last // 2) / max(1, last)
            rec["val_loss"] = 4.0 * math.exp(-step / 120) + 1.5 + drift
        lines.append(json.dumps(rec))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    config = {
        "model": {"arch_layout": ["m4", ["T1m4", ["T2"], "m4T1"], "m4"], "d_model": [64, 96, 128],
                  "d_intermediate": [0, 192, 256], "vocab_size": 256},
        "training": {
            "learning_rate": lr, "lr_multipliers": list(multipliers), "warmup_steps": warmup, "max_steps": max_steps,
            "schedule": schedule, "max_grad_norm": max_grad_norm, "ratio_loss_weight": ratio_loss_weight,
            "target_compression": list(targets), "seq_len": seq_len, "batch_size": 8,
        },
    }
    if stop is not None:
        config["training"]["stop_at_step"] = stop
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if generation is not None:
        (folder / "generation.json").write_text(json.dumps(generation))
    return folder


def healthy(folder: Path, **kw) -> Path:
    return run_folder(folder, **kw)


def example_like(folder: Path) -> Path:
    """Shaped like the example report's run: 3.0/1.7/0.9, 2% warmup, stopped at a third,
    spikes at the end of warmup on stage 0, sampling at temperature 1.0 / top-p 1.0."""
    return run_folder(
        folder, max_steps=1500, stop=500, warmup=30, multipliers=(3.0, 1.7, 0.9),
        grad_spikes={31: 30.0, 34: 12.0, 38: 20.0, 45: 8.0}, spike_stage=0, loss_spikes={35: 1.6, 46: 1.5},
        generation={"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256},
    )


# -- analyzer results for the rule tests ---------------------------------------------------

def spike(step, ratio, phase="after_warmup", metric="grad_norm", loss_after=False):
    return Spike(metric=metric, step=step, value=ratio * 0.5, local_median=0.5, ratio=ratio, z=20.0,
                 end_step=step, phase=phase, lr=3e-4, loss_spike_after=loss_after)


TRAINING = TrainingSettings(learning_rate=3e-4, max_grad_norm=1.0, ratio_loss_weight=0.03)

GRAD_OK = GradientResult(n_points=500, first_step=0, last_step=499, spikes=(spike(1, 20.0, "first_steps"),),
                         max_grad_norm=1.0, clip_rate=0.01, clip_rate_after_warmup=0.01, norm_start=0.6, norm_end=0.4,
                         norm_decades_drop=0.18, loss_relative_change=-0.6, first_steps_note="a large norm at step 1 is normal")
GRAD_SPIKY = GradientResult(n_points=500, first_step=0, last_step=499,
                            spikes=(spike(1, 20.0, "first_steps"), spike(120, 7.0), spike(130, 4.0), spike(300, 2.0)),
                            stages=(StageGradients(0, "grad_norm/stage0", 500, 0.3, (spike(120, 9.0, metric="grad_norm/stage0"),
                                                                                      spike(130, 5.0, metric="grad_norm/stage0"))),
                                    StageGradients(1, "grad_norm/stage1", 500, 0.3, ())),
                            max_grad_norm=1.0, clip_rate=0.01, clip_rate_after_warmup=0.01)
GRAD_CLIPPED = GradientResult(n_points=500, first_step=0, last_step=499, max_grad_norm=0.1, clip_rate=0.95,
                              clip_rate_after_warmup=0.97, norm_start=0.5, norm_end=0.45, norm_decades_drop=0.05,
                              loss_relative_change=-0.5)
GRAD_VANISHED = GradientResult(n_points=500, first_step=0, last_step=499, norm_start=1.0, norm_end=0.001,
                               norm_decades_drop=3.0, loss_relative_change=-0.01)

WARM_OK = WarmupResult(warmup_steps=100, planned_steps=1000, warmup_fraction=0.1, fraction_of="planned_steps",
                       near_window=(80, 150), grad_spikes_near_end=0, spikes_total=0, concentration=0.0, lr_metric="lr")
WARM_SHORT = WarmupResult(warmup_steps=20, planned_steps=1000, warmup_fraction=0.02, fraction_of="planned_steps",
                          near_window=(15, 60), spikes_near_end=(spike(25, 6.0), spike(30, 5.0), spike(40, 4.0)),
                          grad_spikes_near_end=3, loss_spikes_near_end=1, spikes_total=5, fraction_near_end=0.8,
                          window_fraction=0.045, concentration=17.8, lr_metric="lr")

LR_OK = LRRatioResult(multipliers=(2.0, 1.5, 1.0), max_min_ratio=2.0, largest_stage=0, rule_multipliers=(2.63, 1.52, 0.72),
                      rule_max_min_ratio=3.65, stage_spike_counts=(0, 0, 0), largest_stage_is_most_spiky=False)
LR_STEEP = LRRatioResult(multipliers=(8.0, 1.5, 0.5), max_min_ratio=16.0, largest_stage=0,
                         rule_multipliers=(2.63, 1.52, 0.72), rule_max_min_ratio=3.65, stage_spike_counts=(0, 0, 0),
                         largest_stage_is_most_spiky=False)
LR_UNSTABLE_OUTER = LRRatioResult(multipliers=(3.0, 1.7, 0.9), max_min_ratio=3.33, largest_stage=0,
                                  rule_multipliers=(2.63, 1.52, 0.72), rule_max_min_ratio=3.65,
                                  stage_spike_counts=(5, 1, 0), most_spiky_stage=0, largest_stage_is_most_spiky=True)

CONV_OK = ConvergenceResult(loss_metric="loss", planned_steps=1000, last_step=999, fraction_completed=1.0,
                            tail_window=(800, 999), tail_points=200, loss_at_tail_start=1.5, slope_per_1k=-0.01, slope_relative_per_1k=-0.005, trend_z=-1.0,
                            lr_metric="lr", lr_peak=3e-4, lr_last=1e-6, lr_last_over_peak=0.003,
                            val_metric="val_loss", val_points=10, best_val=1.5, best_val_step=999, last_val=1.5,
                            last_val_step=999, val_increase_relative=0.0,
                            val_curves=(ValCurve("val_loss", 10, 1.5, 999, 1.5, 999, 0.0, 0.0, 0.01, 0.0, 0, -0.1),))
CONV_CUT = ConvergenceResult(loss_metric="loss", planned_steps=3000, last_step=999, fraction_completed=0.333,
                             tail_window=(800, 999), tail_points=200, loss_at_tail_start=2.0, slope_per_1k=-0.5, slope_relative_per_1k=-0.3, trend_z=-8.0,
                             lr_metric="lr", lr_peak=3e-4, lr_last=3e-4, lr_last_over_peak=1.0,
                             val_metric="val_loss", val_points=10, best_val=1.5, best_val_step=400, last_val=1.8,
                             last_val_step=999, val_increase_relative=0.2,
                             val_curves=(ValCurve("val_loss", 10, 1.5, 400, 1.8, 999, 0.2, 0.18, 0.02, 15.0, 6, 0.15),))

LOSS_OK = LossResult(loss_metric="loss", n_points=1000, final_loss=1.5, running_min=1.48, running_min_step=990,
                     final_over_min=1.01, end_trend_z=-1.0)
LOSS_NAN = LossResult(loss_metric="loss", n_points=1000, loss_nonfinite_count=40, nonfinite_count=40,
                      first_nonfinite_step=600, nonfinite=(NonFinite("loss", 600, 40, 40, 0),))
LOSS_DIVERGED = LossResult(loss_metric="loss", n_points=1000, final_loss=4.0, running_min=1.5, running_min_step=300,
                           final_over_min=2.67, end_trend_z=5.0)
LOSS_SPIKY = LossResult(loss_metric="loss", n_points=1000, final_loss=1.5, running_min=1.48, final_over_min=1.01,
                        spikes=(spike(200, 1.8, metric="loss"), spike(2, 3.0, "first_steps", "loss")),
                        transient=(TransientSpike(step=200, value=2.7, level=1.5, ratio=1.8, z=24.0, back_step=204,
                                                  back_value=1.52),), transient_scale=0.05)

LEARN_OK = LearningResult(loss_metric="loss", points=1000, head_median=3.0, tail_median=1.5, head_window=(0, 99),
                          tail_window=(800, 999), gain_relative=0.5, noise=0.02, gain_over_noise=75.0, trend_z=-20.0,
                          trend_min=1.45, trend_min_step=950, end_level=1.5, end_over_min=1.03, given_back=0.03,
                          end_share_above_2x=0.0, grad_metric="grad_norm", grad_points=1000, grad_zero_tail=0,
                          grad_zero_share=0.0, grad_head=1.0, grad_tail=0.4, grad_tail_over_head=0.4,
                          stage_shares=(StageShare(0, "grad_norm/stage0", 0.9), StageShare(1, "grad_norm/stage1", 0.005)))
LEARN_STUCK = LearningResult(loss_metric="loss", points=1000, head_median=1.3863, tail_median=1.3862, head_window=(0, 99),
                             tail_window=(800, 999), gain_relative=0.0001, noise=0.01, trend_z=-0.3, trend_min=1.3,
                             trend_min_step=500, end_level=1.386, end_over_min=1.07, given_back=1.0, end_share_above_2x=0.0,
                             pinned=(PinnedSeries("eval_loss", 20, 50, 1000, 1.3863, 0.001, 4, "eval_accuracy", 0.26, 0.25),),
                             grad_metric="grad_norm", grad_points=100, grad_zero_tail=40, grad_zero_share=0.4,
                             grad_first_zero_step=600, grad_head=1.0, grad_tail=0.0, grad_tail_over_head=0.0,
                             stage_shares=(StageShare(0, "grad_norm/stage0", 0.99), StageShare(1, "grad_norm/stage1", 0.0002)))
LEARN_REBOUND = LearningResult(loss_metric="loss", points=1000, head_median=12.9, tail_median=150.0, head_window=(0, 99),
                               tail_window=(800, 999), gain_relative=-10.0, trend_min=3.4, trend_min_step=120,
                               end_level=152.0, end_over_min=44.7, given_back=15.6, end_share_above_2x=1.0)


def stage(i, comp=3.0, target=3.0, rl=1.0, undecided=0.05):
    return StageBalance(stage=i, tail_window=(800, 999), target=target, ratio_loss=rl, ratio_loss_excess=rl - 1.0,
                        compression=comp, compression_relative_error=(comp - target) / target,
                        boundary_frac=1 / comp, f_times_target=target / comp, undecided_frac=undecided)


LB_OK = LoadBalanceResult(stages=(stage(0), stage(1)))
LB_BAD = LoadBalanceResult(stages=(stage(0, comp=12.0, rl=1.4, undecided=0.6), stage(1)))
LB_COLLAPSE = LoadBalanceResult(stages=(stage(0, comp=60.0, rl=1.0), stage(1)))

GEN_OK = GenerationResult(temperature=0.7, top_p=0.9, repetition_penalty=1.1, max_new_tokens=256, training_seq_len=512,
                          max_new_over_seq_len=0.5, pure_sampling=False, has_repetition_penalty=True)
GEN_BAD = GenerationResult(temperature=1.0, top_p=1.0, repetition_penalty=None, max_new_tokens=2048, training_seq_len=512,
                           max_new_over_seq_len=4.0, pure_sampling=True, has_repetition_penalty=False)

DEC_OK = DecodingResult(max_abs_diff=2e-6, relative_max_diff=1e-7, n_sequences=4, seq_len=256)
DEC_BAD = DecodingResult(max_abs_diff=3.2, relative_max_diff=0.2, n_sequences=4, seq_len=256, first_position_above=64,
                         attention_windows=(64, -1))

RANKS_OK = RankResult(ranks=(0, 1, 2, 3), metrics=("loss", "grad_norm"), noise=(("loss", 0.25), ("grad_norm", 0.001)))
RANKS_BAD = RankResult(ranks=(0, 1, 2, 3), metrics=("loss", "grad_norm"), noise=(("loss", 0.25), ("grad_norm", 0.001)),
                       departures=(RankDeparture("loss", 2, 60, 115, 54, 120, 6.79, 62.6, 7.9, 60, 3.23, 0.0494, 0),))

WEIGHTS_OK = WeightsResult(checkpoint="ckpt/step_000300.pt", step=300, n_checkpoints=2, n_tensors=65, n_moments=130,
                           candidates="optimizer-trained",
                           components=(
                               ComponentStats(0, "encoder", 8, 9000, 3.0, 0.03, 0.3, 2.9, 0.093, 1.44, 1.14),
                               ComponentStats(1, "encoder", 8, 9000, 2.0, 0.02, 0.2, 1.9, 0.064, 0.69, 0.77),
                               ComponentStats(2, "main", 12, 50000, 7.0, 0.03, 0.265, 7.0, 0.033, None, 1.0),
                           ),
                           drift_steps=(150, 300),
                           drift_stages=(Drift(0, "all", 10.0, 9.8, 0.98, -0.02), Drift(1, "all", 6.0, 6.2, 1.03, 0.03)))
WEIGHTS_BAD = WeightsResult(checkpoint="ckpt/step_000300.pt", step=300, n_checkpoints=1, n_tensors=65, n_moments=130,
                            candidates="optimizer-trained",
                            non_finite=(NonFiniteTensor("backbone.residual_proj.weight", "weight", 3, 0, 1024),),
                            still_zero=(ZeroTensor("backbone.residual_proj.bias", 0, "residual", 32, 0.0),))
# a run whose stage-1 routing stopped learning (the shape of --warmup-steps 0 --learning-rate 0.1)
WEIGHTS_DEPART = WeightsResult(checkpoint="ckpt/step_000150.pt", step=150, n_checkpoints=3, n_tensors=65, n_moments=130,
                            candidates="optimizer-trained",
                            components=(
                                ComponentStats(0, "encoder", 8, 9000, 3.0, 0.03, 0.3, 2.9, 0.031, 1.2, 1.1),
                                ComponentStats(1, "routing", 2, 4608, 9.0, 0.13, 0.032, 9.0, 0.133, 0.8, 0.148),
                                ComponentStats(2, "main", 12, 50000, 7.0, 0.03, 0.25, 7.0, 0.031, None, 0.95),
                            ),
                            drift_steps=(50, 150),
                            drift_stages=(Drift(0, "all", 10.0, 10.4, 1.04, 0.04), Drift(1, "all", 6.0, 3.0, 0.5, -0.5)))

#: a chunker that cuts only inside words: every boundary between two letters of a word
_MIDWORD_TEXT = b"the quick brown fox jumps over the lazy dog " * 10
BOUNDARIES_BAD = BoundaryResult(checkpoint="ckpt/step_000300.pt", checkpoint_step=300, source="given", window=len(_MIDWORD_TEXT),
                                n_bytes=len(_MIDWORD_TEXT), stages=measure_stages(_MIDWORD_TEXT, [[0] + [
                                    i for i in range(1, len(_MIDWORD_TEXT) - 1)
                                    if all(chr(_MIDWORD_TEXT[j]).isalpha() for j in (i - 1, i, i + 1))]], len(_MIDWORD_TEXT)))
SAMPLES_OK = SamplesResult(checkpoint="ckpt/step_000300.pt", checkpoint_step=300, settings_note="generation.json", sets=(
    SampleSet("run", 0.7, 0.9, 0, 1.1, 120, n_samples=1, n_bytes=60, repeated_4gram_share=0.05, longest_repeated_span=6,
              distinct_1=0.9, distinct_2=1.0, loglik_per_byte=-1.5, valid_utf8_share=1.0,
              samples=(Sample("ROMEO:\n", "What say you to my lord, and the king's good grace?", 60, True),)),))
SAMPLES_LOOP = SamplesResult(checkpoint="ckpt/step_000300.pt", checkpoint_step=300, settings_note="generation.json", sets=(
    SampleSet("run", 0.0, 1.0, 0, 1.0, 120, n_samples=1, n_bytes=120, repeated_4gram_share=0.967, longest_repeated_span=116,
              distinct_1=0.017, distinct_2=0.0172, loglik_per_byte=-1.02, valid_utf8_share=1.0,
              samples=(Sample("ROMEO:\n", "the the the the the the the the the the the the the the the ", 120, False),)),))


#: a chunker that starts a chunk at every word's first letter
BOUNDARIES_OK = BoundaryResult(checkpoint="ckpt/step_000300.pt", checkpoint_step=300, source="given", window=len(_MIDWORD_TEXT),
                               n_bytes=len(_MIDWORD_TEXT), stages=measure_stages(_MIDWORD_TEXT, [[0] + [
                                   i for i in range(1, len(_MIDWORD_TEXT)) if _MIDWORD_TEXT[i - 1] == 32]], len(_MIDWORD_TEXT)))
HEALTHY = {"boundaries": BOUNDARIES_OK, "samples": SAMPLES_OK, "weights": WEIGHTS_OK, "ranks": RANKS_OK, "gradients": GRAD_OK, "warmup": WARM_OK, "lr_ratio": LR_OK, "convergence": CONV_OK, "loss": LOSS_OK,
           "load_balance": LB_OK, "generation": GEN_OK, "decoding": DEC_OK, "learning": LEARN_OK, "training": TRAINING}
# code -> (results that must fire it, strings its message must quote: measured value, threshold)
BAD = {
    "HND101": ({"gradients": GRAD_SPIKY}, ["7", "120", "threshold 3x"]),
    "HND102": ({"gradients": GRAD_CLIPPED}, ["97.0%", "0.1", "threshold 50.0%"]),
    "HND103": ({"gradients": GRAD_VANISHED}, ["0.001", "3 decades", "threshold 2"]),
    "HND104": ({"learning": LEARN_STUCK}, ["exactly 0", "last 40 of 100", "step 600"]),
    "HND105": ({"learning": LEARN_STUCK}, ["stage 1 0.02%", "threshold 0.1%"]),
    "HND201": ({"warmup": WARM_SHORT}, ["15-60", "18x denser", "thresholds: 2 steps, 3x", "2.0%", "(25, 30, 40)"]),
    "HND202": ({"lr_ratio": LR_STEEP}, ["16x", "3.65x", "factor 2"]),
    "HND203": ({"convergence": CONV_CUT}, ["100.0%", "threshold 30.0%"]),
    "HND301": ({"load_balance": LB_BAD}, ["1.4000", "threshold 0.1"]),
    "HND302": ({"load_balance": LB_BAD}, ["12x", "target of 3x", "±50.0%"]),
    "HND303": ({"load_balance": LB_BAD}, ["60.0%", "threshold 50.0%"]),
    "HND304": ({"boundaries": BOUNDARIES_BAD}, ["stage 0 cuts inside words", "0.0% of 170 boundaries", "40.5% by chance",
                                                 "step 300"]),
    "HND401": ({"convergence": CONV_CUT}, ["999 of 3000", "33.3%", "threshold 90.0%"]),
    "HND402": ({"convergence": CONV_CUT}, ["800-999", "threshold 2.0%"]),
    "HND403": ({"convergence": CONV_CUT}, ["1.5", "step 400", "1.8", "5.0%", "15x its point scatter", "2x"]),
    "HND404": ({"loss": LOSS_NAN}, ["NaN", "step 600"]),
    "HND405": ({"loss": LOSS_SPIKY}, ["1.8x", "step 200", "1.5x", "10 noise scales (0.05)", "back to 1.52 at step 204"]),
    "HND406": ({"learning": LEARN_REBOUND}, ["44.7x", "3.4", "step 120", "threshold 2x"]),
    "HND407": ({"learning": LEARN_STUCK}, ["1.386", "ln(4)", "4 classes", "0.26", "chance 0.25", "threshold 2.0%"]),
    "HND501": ({"generation": GEN_BAD}, ["temperature 1", "top-p 1", "temperature 1, top-p 0.99"]),
    "HND502": ({"generation": GEN_BAD}, ["unset"]),
    "HND503": ({"generation": GEN_BAD}, ["2048", "512", "threshold 1x"]),
    "HND504": ({"decoding": DEC_BAD}, ["3.2", "threshold 0.001", "window 64"]),
    "HND505": ({"samples": SAMPLES_LOOP}, ["96.7%", "116 bytes", "thresholds 50.0%, 40 bytes", "temperature 0"]),
    "HND601": ({"ranks": RANKS_BAD}, ["rank 2", "step 60", "679.0%", "threshold 25.0%"]),
    "HND701": ({"weights": WEIGHTS_BAD}, ["step 300", "backbone.residual_proj.weight (3 NaN, 0 Inf of 1024)"]),
    "HND702": ({"weights": WEIGHTS_BAD}, ["step 300", "backbone.residual_proj.bias (32 entries)", "exactly 0"]),
    "HND703": ({"weights": WEIGHTS_DEPART}, ["stage 1 routing update proxy 0.032", "0.148x the median"]),
    "HND704": ({"weights": WEIGHTS_DEPART}, ["step 50", "step 150", "stage 1's weight matrices shrank to 0.5x"]),
}
