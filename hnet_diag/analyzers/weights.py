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

- each group against its peers: the RMS of its matrices (2-D+ tensors: the weights Linear
  init and weight decay act on, not the norm scales and SSM constants beside them) over the
  median of the same component in the other stages, and its update proxy over the median
  proxy of every other group (groups of at least MIN_PEER_NUMEL elements). A stage trained at a far higher LR grows its matrices; a
  group whose gradients stopped has a proxy near 0.
- embedding rows: which rows of a byte-level embedding moved. With Adam moments a row
  whose exp_avg_sq is exactly 0 never received a gradient (no input held that byte); with
  the run's training data known (`hnet_diag.sources.training_bytes`), the rows of byte
  values absent from it. Rows no input selects keep their initialisation (shrunk only by
  weight decay). A byte-level model trained on English text never sees most of the 128
  non-ASCII byte values, which is normal: this is evidence, not a finding.
- drift between the oldest and the newest checkpoint of the run: per (stage, component)
  the matrix norm at both steps, its growth factor and relative change.

Results measure; the thresholds of judgement (how many steps before "still zero" means
"never moved", how far a group may depart from its peers) live in `hnet_diag.rules.weights`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes

#: moment suffixes written by the checkpoint source
MOMENT_KINDS = ("exp_avg", "exp_avg_sq")
#: groups with fewer elements get no update-proxy comparison and are no peer of others: the
#: moments of a 16-entry pad vector are too few for a stable RMS (0.02-0.3 on healthy runs)
MIN_PEER_NUMEL = 256
#: rows listed by value in a message before they are summarised as ranges
ROW_RANGES_SHOWN = 8
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
    matrix_norm: float = 0.0  # norm over the 2-D+ tensors only (0 when the group has none)
    matrix_rms: float | None = None  # matrix_norm / sqrt(their numel); None without matrices
    rms_vs_peers: float | None = None  # matrix_rms / median of the same component in the other stages
    proxy_vs_peers: float | None = None  # update_proxy / median proxy of every other group


@dataclass(frozen=True)
class EmbeddingRows:
    """Which rows of the (byte-level) embedding matrix received training."""

    name: str  # the embedding tensor
    n_rows: int
    basis: str  # "optimizer" (exp_avg_sq rows), "data" (bytes in the training files) or "none"
    basis_note: str  # where the seen/unseen split comes from, in words
    unseen: tuple[int, ...] = ()  # row indices judged never trained
    unseen_text: str = ""  # the same as compact ranges: "0-9, 11-31, 127-253"
    n_unseen_ascii: int = 0  # unseen rows below 128
    seen_norm_median: float | None = None
    unseen_norm_median: float | None = None
    unseen_norm_spread: float | None = None  # (max - min) / median of the unseen rows' norms


@dataclass(frozen=True)
class Drift:
    """One (stage, component) group's matrix norm at the oldest and the newest checkpoint."""

    stage: int | None
    component: str
    norm_first: float
    norm_last: float
    growth: float | None  # norm_last / norm_first (None when norm_first is 0)
    relative_change: float | None  # growth - 1


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
    update_proxy_note: str = ""  # why there is no update proxy (no Adam moments in the checkpoint), else ""
    embedding_rows: EmbeddingRows | None = None
    drift: tuple[Drift, ...] = ()  # per (stage, component), oldest -> newest checkpoint
    drift_stages: tuple[Drift, ...] = ()  # the same per stage (component "all")
    drift_steps: tuple[int | None, int | None] | None = None  # (oldest step, newest step); None with one checkpoint
    drift_note: str = ""  # why there is no drift, else ""

    def plot(self, ax: Any = None) -> Any:
        """Bars: matrix RMS per (stage, component) at the newest checkpoint, the oldest
        checkpoint's as outlined bars when the run has two; the update proxy on a twin axis
        where the checkpoint holds Adam moments (else the title says there is none)."""
        title = "Weights per stage and component"
        if not self.ok or not self.components:
            return no_data_axes(ax, self.reason or "no tensors", title)
        shown = [c for c in self.components if c.matrix_rms is not None]
        if not shown:
            return no_data_axes(ax, "no weight matrices", title)
        head = f"{title} (step {self.step})" if self.step is not None else title
        if self.update_proxy_note:
            head += "; no update proxy: no Adam moments"
        ax = new_axes(ax, head)
        labels = [f"s{c.stage}:{c.component}" if c.stage is not None else c.component for c in shown]
        xs = list(range(len(labels)))
        ax.bar(xs, [c.matrix_rms for c in shown], color="tab:blue", label=f"matrix RMS, step {self.step}")
        if self.drift and self.drift_steps:
            first = {(d.stage, d.component): d for d in self.drift}
            old = [(x, first[(c.stage, c.component)]) for x, c in zip(xs, shown) if (c.stage, c.component) in first]
            ax.bar([x for x, _ in old],
                   [d.norm_first / d.norm_last * c.matrix_rms if d.norm_last else 0.0
                    for (x, d), c in zip(old, [shown[x] for x, _ in old])],
                   fill=False, edgecolor="black", linewidth=0.8, label=f"step {self.drift_steps[0]}")
        ax.set_ylabel("RMS per element (matrices)")
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.legend(loc="upper left", fontsize=7)
        proxies = [(x, c.update_proxy) for x, c in zip(xs, shown) if c.update_proxy is not None]
        if proxies:
            ax2 = ax.twinx()
            ax2.plot([p[0] for p in proxies], [p[1] for p in proxies], "o", color="tab:orange", label="update proxy")
            ax2.set_ylabel("update proxy RMS(m)/sqrt(mean v)", color="tab:orange")
            ax2.set_ylim(bottom=0)
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


def analyze_weights(run: Any, data_bytes: Any = None) -> WeightsResult:
    """Statistics of the newest checkpoint's weights and Adam moments (see the module docstring).

    data_bytes: how often each byte value occurs in the run's training data
    (`hnet_diag.sources.training_bytes.DataBytes`), which splits the embedding rows into
    seen and unseen when the checkpoint holds no Adam moments. A `WeightsInput` (the run
    with its data bytes, as `hnet_diag.sources.training_bytes.weights_input` prepares it)
    may stand for both arguments.
    """
    data_reason = ""
    if hasattr(run, "run") and hasattr(run, "data_bytes") and data_bytes is None:
        run, data_bytes, data_reason = run.run, run.data_bytes, getattr(run, "reason", "")
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
    drift, drift_stages, drift_steps, drift_note = _drift(ckpts, newest)
    return WeightsResult(
        checkpoint=newest.path, step=newest.step, n_checkpoints=len(ckpts), n_tensors=len(tensors),
        n_moments=len(moments), non_finite=non_finite, components=components, still_zero=still_zero,
        candidates="optimizer-trained" if trained else "all floating-point",
        update_proxy_note="" if any(c.update_proxy is not None for c in components) else (
            "the checkpoint holds no Adam moments (saved without optimizer state), so there is no update proxy"
            if not moments else "no Adam moment could be matched to a weight by name, so there is no update proxy"),
        embedding_rows=_embedding_rows(tensors, by_param, data_bytes, data_reason),
        drift=drift, drift_stages=drift_stages, drift_steps=drift_steps, drift_note=drift_note,
    )


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def _ratio(x: float | None, ref: float | None) -> float | None:
    return x / ref if x is not None and ref else None


def _with_peers(groups: list[ComponentStats]) -> list[ComponentStats]:
    """Each group's matrix RMS against the same component in the other stages, and its update
    proxy against every other group's (see the module docstring)."""
    from dataclasses import replace

    out = []
    for c in groups:
        same = [o.matrix_rms for o in groups if o is not c and o.component == c.component
                and o.stage != c.stage and o.matrix_rms is not None]
        others = [o.update_proxy for o in groups
                  if o is not c and o.update_proxy is not None and o.numel >= MIN_PEER_NUMEL]
        out.append(replace(c, rms_vs_peers=_ratio(c.matrix_rms, _median(same)),
                           proxy_vs_peers=_ratio(c.update_proxy, _median(others)) if c.numel >= MIN_PEER_NUMEL else None))
    return out


def _matrix_norms(tensors: Any) -> dict[tuple[int | None, str], tuple[float, int]]:
    """(stage, component) -> (norm over the 2-D+ floating-point tensors, their element count)."""
    acc: dict[tuple[int | None, str], list[float]] = {}
    for t in tensors:
        if _is_float(t.dtype) and t.numel > 0 and len(t.shape) >= 2:
            a = acc.setdefault((t.stage, t.component), [0.0, 0])
            a[0] += _finite(t.l2_norm) ** 2
            a[1] += t.numel
    return {k: (math.sqrt(v[0]), int(v[1])) for k, v in acc.items()}


def _drift(ckpts: list[Any], newest: Any) -> tuple[tuple[Drift, ...], tuple[Drift, ...], Any, str]:
    """Matrix-norm growth per group and per stage from the oldest checkpoint to the newest."""
    dated = [c for c in ckpts if c.step is not None and c.tensors]
    if len(dated) < 2 or newest.step is None:
        return (), (), None, ("one checkpoint with weights: no drift between checkpoints" if len(ckpts) < 2
                              else "fewer than two checkpoints with a step and weights: no drift")
    oldest = min(dated, key=lambda c: c.step)
    if oldest.step == newest.step:
        return (), (), None, "every checkpoint is at the same step: no drift"
    first, last = _matrix_norms(oldest.tensors), _matrix_norms(newest.tensors)
    order = {c: i for i, c in enumerate(COMPONENT_ORDER)}
    keys = sorted(set(first) & set(last), key=lambda k: (k[0] is None, k[0] or 0, order.get(k[1], len(order))))

    def one(stage: int | None, comp: str, a: float, b: float) -> Drift:
        growth = b / a if a > 0 else None
        return Drift(stage, comp, a, b, growth, growth - 1 if growth is not None else None)

    per_group = tuple(one(s, c, first[(s, c)][0], last[(s, c)][0]) for s, c in keys)
    stages = sorted({s for s, _ in keys}, key=lambda s: (s is None, s or 0))
    per_stage = tuple(
        one(s, "all", math.sqrt(sum(first[k][0] ** 2 for k in keys if k[0] == s)),
            math.sqrt(sum(last[k][0] ** 2 for k in keys if k[0] == s)))
        for s in stages
    )
    return per_group, per_stage, (oldest.step, newest.step), ""


def row_ranges(rows: tuple[int, ...] | list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    out: list[str] = []
    rows = sorted(rows)
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1] == rows[j] + 1:
            j += 1
        out.append(str(rows[i]) if i == j else f"{rows[i]}-{rows[j]}")
        i = j + 1
    return ", ".join(out)


def _embedding_rows(tensors: Any, by_param: dict[str, dict[str, Any]], data_bytes: Any,
                    data_reason: str = "") -> EmbeddingRows | None:
    """Seen and unseen rows of the input embedding (see the module docstring)."""
    emb = next((t for t in tensors if t.component == "embeddings" and t.row_norms is not None), None)
    if emb is None:
        return None
    n = len(emb.row_norms)
    v = by_param.get(emb.name, {}).get("exp_avg_sq")
    if v is not None and v.row_norms is not None and len(v.row_norms) == n:
        unseen = tuple(i for i, x in enumerate(v.row_norms) if x == 0.0)
        basis, note = "optimizer", ("rows whose Adam second moment is exactly 0: no input selected them at any "
                                    "step since the optimizer was created")
    elif data_bytes is not None and n == len(data_bytes.counts):
        unseen = tuple(i for i, c in enumerate(data_bytes.counts) if c == 0)
        basis, note = "data", f"byte values absent from the training data ({data_bytes.source})"
    else:
        why = (f"the checkpoint holds no Adam moments and {data_reason or 'the training data is not known'}"
               if data_bytes is None else f"the training data has {len(data_bytes.counts)} symbols, the embedding "
                                          f"{n} rows")
        return EmbeddingRows(emb.name, n, "none", f"cannot tell which rows trained: {why}",
                             seen_norm_median=_median([x for x in emb.row_norms if x == x]))
    seen_norms = [x for i, x in enumerate(emb.row_norms) if i not in set(unseen) and x == x]
    unseen_norms = [x for i, x in enumerate(emb.row_norms) if i in set(unseen) and x == x]
    med = _median(unseen_norms)
    return EmbeddingRows(
        emb.name, n, basis, note, unseen=unseen, unseen_text=row_ranges(unseen),
        n_unseen_ascii=sum(1 for i in unseen if i < 128), seen_norm_median=_median(seen_norms),
        unseen_norm_median=med,
        unseen_norm_spread=(max(unseen_norms) - min(unseen_norms)) / med if unseen_norms and med else None,
    )


def _components(tensors: Any, by_param: dict[str, dict[str, Any]]) -> tuple[ComponentStats, ...]:
    groups: dict[tuple[int | None, str], list[Any]] = {}
    for t in tensors:
        if _is_float(t.dtype) and t.numel > 0:
            groups.setdefault((t.stage, t.component), []).append(t)
    out = []
    matrices = _matrix_norms(tensors)
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
        m_norm, m_numel = matrices.get((stage, comp), (0.0, 0))
        out.append(ComponentStats(stage, comp, len(ts), numel, math.sqrt(sq), math.sqrt(sq / numel), proxy,
                                  matrix_norm=m_norm, matrix_rms=m_norm / math.sqrt(m_numel) if m_numel else None))
    order = {c: i for i, c in enumerate(COMPONENT_ORDER)}
    out.sort(key=lambda c: (c.stage is None, c.stage or 0, order.get(c.component, len(order))))
    return tuple(_with_peers(out))
