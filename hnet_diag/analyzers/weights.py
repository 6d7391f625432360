"""Weights and optimizer state of the run's newest checkpoint: the evidence in the model itself.

The checkpoint source (`hnet_diag.sources.checkpoint`) already reduced every tensor to a
`TensorStats` (norm, max, zero fraction, NaN/Inf counts; Adam's `exp_avg`/`exp_avg_sq` as
`<param>.exp_avg`...). This analyzer only reads those summaries, so it is a pure function
of the Run and costs nothing beyond loading. It measures, on the newest checkpoint (the
state a user would resume from or ship):

- non-finite tensors: weights or moments holding NaN or Inf, by name. One NaN in a weight
  makes every forward pass through it NaN; one in `exp_avg_sq` poisons the next update.
- per (stage, component) group (embeddings, encoder, routing, residual, main, decoder,
  head): the weight norm, its RMS per element (comparable across stages of different
  widths), and an update-size proxy from Adam's moments,
  `RMS(exp_avg) / sqrt(mean(exp_avg_sq))` over the group. Adam moves each parameter by
  lr * m / (sqrt(v) + eps), so the proxy is the typical step in units of the LR (bias
  correction aside): near 1 when gradients keep their sign, about 0.2-0.3 for pure noise
  (beta1 0.9), near 0 when no gradient arrives. Only the stored aggregate statistics are
  needed: sum(m^2) = l2(m)^2 and sum(v) = mean(v) * numel, since v >= 0.
- still-zero tensors: trained floating-point tensors whose every entry is exactly 0.0.
  H-Net zero-initialises each stage's `residual_proj`; after optimizer steps a tensor
  that is still exactly zero never received a non-zero update (Adam's step is 0 only when
  its gradient was 0 at every step). When the checkpoint holds optimizer moments, only
  the tensors the optimizer trains (those with a named moment) are candidates, so a zero
  buffer is never counted; without moments every floating-point tensor is.

Results measure; the thresholds of judgement (how many steps before "still zero" means
"never moved") live in `hnet_diag.rules.weights`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes

#: moment suffixes written by the checkpoint source
MOMENT_KINDS = ("exp_avg", "exp_avg_sq")
#: report order of components within a stage
COMPONENT_ORDER = ("embeddings", "encoder", "routing", "residual", "pad", "main", "dechunk", "decoder", "head", "other")


@dataclass(frozen=True)
class NonFiniteTensor:
    """A weight or optimizer moment holding NaN or Inf."""

    name: str  # the tensor's name ("<param>.exp_avg_sq" for a moment)
    kind: str  # "weight", "exp_avg" or "exp_avg_sq"
    nan_count: int
    inf_count: int
    numel: int


@dataclass(frozen=True)
class ComponentStats:
    """One (stage, component) group of the checkpoint."""

    stage: int | None
    component: str
    n_tensors: int
    numel: int
    weight_norm: float  # sqrt of the sum of the squared tensor norms (finite entries)
    weight_rms: float  # weight_norm / sqrt(numel): comparable across widths
    update_proxy: float | None  # RMS(exp_avg) / sqrt(mean(exp_avg_sq)); None without moments


@dataclass(frozen=True)
class ZeroTensor:
    """A trained tensor whose every entry is exactly zero."""

    name: str
    stage: int | None
    component: str
    numel: int
    exp_avg_sq_norm: float | None  # the second moment's norm when stored (0: no gradient ever arrived)


@dataclass(frozen=True)
class WeightsResult(AnalyzerResult):
    checkpoint: str = ""  # path of the newest checkpoint
    step: int | None = None
    n_checkpoints: int = 0
    n_tensors: int = 0
    n_moments: int = 0
    non_finite: tuple[NonFiniteTensor, ...] = ()
    components: tuple[ComponentStats, ...] = ()
    still_zero: tuple[ZeroTensor, ...] = ()
    candidates: str = ""  # which tensors were candidates for still_zero: "optimizer-trained" or "all floating-point"

    def plot(self, ax: Any = None) -> Any:
        """Bars: weight RMS per (stage, component), update proxy on a twin axis where known."""
        title = "Weights per stage and component"
        if not self.ok or not self.components:
            return no_data_axes(ax, self.reason or "no tensors", title)
        ax = new_axes(ax, f"{title} (step {self.step})" if self.step is not None else title)
        labels = [f"s{c.stage}:{c.component}" if c.stage is not None else c.component for c in self.components]
        xs = list(range(len(labels)))
        ax.bar(xs, [c.weight_rms for c in self.components], color="tab:blue", label="weight RMS")
        ax.set_ylabel("weight RMS per element")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        proxies = [(x, c.update_proxy) for x, c in zip(xs, self.components) if c.update_proxy is not None]
        if proxies:
            ax2 = ax.twinx()
            ax2.plot([p[0] for p in proxies], [p[1] for p in proxies], "o", color="tab:orange", label="update proxy")
            ax2.set_ylabel("RMS(m)/sqrt(mean v)")
        return ax


def _kind(name: str) -> tuple[str, str]:
    """("<param>", "exp_avg") for a moment's name, else (name, "weight")."""
    for kind in ("exp_avg_sq", "exp_avg"):  # exp_avg_sq first: exp_avg is its prefix
        if name.endswith("." + kind):
            return name[: -len(kind) - 1], kind
    return name, "weight"


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat", "half", "double"))


def _finite(x: float) -> float:
    return x if x == x and not math.isinf(x) else 0.0


def analyze_weights(run: Any) -> WeightsResult:
    """Statistics of the newest checkpoint's weights and Adam moments (see the module docstring)."""
    ckpts = [c for c in getattr(run, "checkpoints", None) or () if c.tensors or c.optimizer_moments]
    if not ckpts:
        return WeightsResult.no_data("no checkpoint with weights in the run")
    newest = max(ckpts, key=lambda c: (c.step is not None, c.step or 0))
    tensors, moments = newest.tensors, newest.optimizer_moments
    non_finite = tuple(
        NonFiniteTensor(t.name, _kind(t.name)[1], int(t.nan_count), int(t.inf_count), t.numel)
        for t in (*tensors, *moments) if t.nan_count or t.inf_count
    )
    by_param: dict[str, dict[str, Any]] = {}
    for m in moments:
        param, kind = _kind(m.name)
        by_param.setdefault(param, {})[kind] = m
    named = [p for p in by_param if p in {t.name for t in tensors}]
    components = _components(tensors, by_param)
    trained = set(named)
    still_zero = tuple(
        ZeroTensor(t.name, t.stage, t.component, t.numel,
                   _finite(by_param[t.name]["exp_avg_sq"].l2_norm) if "exp_avg_sq" in by_param.get(t.name, {}) else None)
        for t in tensors
        if t.numel > 0 and _is_float(t.dtype) and t.zero_frac == 1.0 and (not trained or t.name in trained)
    )
    return WeightsResult(
        checkpoint=newest.path, step=newest.step, n_checkpoints=len(ckpts), n_tensors=len(tensors),
        n_moments=len(moments), non_finite=non_finite, components=components, still_zero=still_zero,
        candidates="optimizer-trained" if trained else "all floating-point",
    )


def _components(tensors: Any, by_param: dict[str, dict[str, Any]]) -> tuple[ComponentStats, ...]:
    groups: dict[tuple[int | None, str], list[Any]] = {}
    for t in tensors:
        if _is_float(t.dtype) and t.numel > 0:
            groups.setdefault((t.stage, t.component), []).append(t)
    out = []
    for (stage, comp), ts in groups.items():
        numel = sum(t.numel for t in ts)
        sq = sum(_finite(t.l2_norm) ** 2 for t in ts)
        m_sq = v_sum = 0.0
        have = False
        for t in ts:
            mom = by_param.get(t.name, {})
            if "exp_avg" in mom and "exp_avg_sq" in mom:
                have = True
                m_sq += _finite(mom["exp_avg"].l2_norm) ** 2
                v_sum += _finite(mom["exp_avg_sq"].mean) * mom["exp_avg_sq"].numel
        proxy = math.sqrt(m_sq / v_sum) if have and v_sum > 0 else (0.0 if have else None)
        out.append(ComponentStats(stage, comp, len(ts), numel, math.sqrt(sq), math.sqrt(sq / numel), proxy))
    order = {c: i for i, c in enumerate(COMPONENT_ORDER)}
    out.sort(key=lambda c: (c.stage is None, c.stage or 0, order.get(c.component, len(order))))
    return tuple(out)
