"""The Markdown report: a Diagnosis turned into plain context, rendered by Jinja2 templates.

All wording that depends on the data is decided here, in Python, where it can be tested;
the templates in reports/templates only lay it out. The output is reproducible: no
timestamps, no absolute paths (files are relative to the run folder, plots relative to the
report), findings in a fixed order, so the same run gives a byte-identical file.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..formatting import fmt, listing

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis
    from ..rules.rule import Finding

AREAS: tuple[tuple[str, str], ...] = (
    ("gradients", "Gradients"),
    ("schedule", "Learning-Rate Schedule and Per-Stage Multipliers"),
    ("load balance", "Load Balance and Dynamic Chunking"),
    ("convergence", "Convergence and Early Stopping"),
    ("loss", "Loss Health"),
    ("generation", "Generation Settings"),
    ("samples", "Samples from the Checkpoint"),
    ("decoding", "Decoding Consistency"),
    ("weights", "Weights and Optimizer State"),
)

STATUS_LABELS = {"fail": "❌ fail", "warn": "⚠️ warn", "pass": "✅ pass", "no-data": "— no data"}
GROUPS = (
    ((1, 2), "🚨 Immediate Fixes (High Priority)"),
    ((3,), "🔧 Secondary Improvements (Medium Priority)"),
    ((4,), "📊 Minor Improvements (Low Priority)"),
)


def cell(text: Any) -> str:
    """Make a value safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def steps_text(steps: tuple[int, ...] | list[int], limit: int = 6) -> str:
    steps = list(steps)
    if not steps:
        return "—"
    shown = ", ".join(str(s) for s in steps[:limit])
    return shown + (f" … ({len(steps)} steps)" if len(steps) > limit else "")


def _status_label(f: "Finding") -> str:
    if f.severity.value == "positive":
        return "✅ healthy" if f.is_positive else "— not observed"
    return STATUS_LABELS[f.status.value]


def _evidence_line(f: "Finding") -> str:
    e = f.evidence
    parts = []
    if e.metric:
        parts.append(f"`{e.metric}`")
    if e.stage is not None:
        parts.append(f"stage {e.stage}")
    if e.measured is not None:
        parts.append(f"measured {fmt(e.measured)}")
    if e.threshold is not None:
        parts.append(f"threshold {fmt(e.threshold)}")
    if e.steps:
        parts.append(f"steps {steps_text(e.steps)}")
    elif e.window:
        parts.append(f"steps {e.window[0]}-{e.window[1]}")
    return ", ".join(parts)


def build_context(d: "Diagnosis", plots: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything the templates show, as plain strings, lists and dicts."""
    from .. import __version__
    from ..followup import expected_outcomes
    from ..rules.track_record import track_record
    from .plots import PLOTS

    plots = dict(plots or {})
    alarms = d.alarms
    numbered = {f.code: i + 1 for i, f in enumerate(alarms)}

    def alarm(f: "Finding") -> dict[str, Any]:
        rec = f.recommendation
        return {
            "number": numbered[f.code], "code": f.code, "name": f.name, "title": f.title,
            "severity": f.severity.value, "message": f.message, "evidence_line": _evidence_line(f),
            "fix_line": fix_line(d, rec) if rec else "",
            "record_line": record.sentence() if (record := track_record(f.code)) is not None else "",
        }

    critical = [alarm(f) for f in alarms if f.severity.rank >= 3]
    other = [alarm(f) for f in alarms if f.severity.rank < 3]

    areas = []
    for key, title in AREAS:
        rows = []
        for f in d.area(key):
            if f.code in d.not_applicable:
                continue
            rows.append({
                "code": f.code, "title": cell(f.title), "status": _status_label(f),
                "measured": cell(fmt(f.evidence.measured)), "threshold": cell(fmt(f.evidence.threshold)),
                "steps": cell(steps_text(f.evidence.steps) if f.evidence.steps else
                              (f"{f.evidence.window[0]}-{f.evidence.window[1]}" if f.evidence.window else "—")),
                "detail": cell(f.message) if f.status.value != "no-data" else "",
            })
        area_plots = [{"file": fname, "caption": caption} for fname, _k, caption, a in PLOTS if a == key and fname in plots]
        extra = {"boundaries": boundary_context(d) if key == "load balance" else None,
                 "weights": weights_context(d.results.weights) if key == "weights" else None,
                 # samples of an H-Net run (a run whose samples check is not applicable shows no note)
                 "samples": samples_context(d) if key == "samples" and (rows or getattr(d.results.samples, "ok", False))
                 else None}
        if rows or area_plots or extra["samples"]:
            areas.append({"title": title, "rows": rows, "plots": area_plots, **extra})

    claims = [
        {"claim": cell(c.claim), "verdict_label": c.label, "evidence": cell(c.evidence)}
        for c in d.claims if c.verdict != "no-data"
    ] if d.is_hnet else []  # the claims are those of H-Net reports
    if claims:  # show the no-data ones too, once at least one claim could be checked
        claims = [{"claim": cell(c.claim), "verdict_label": c.label, "evidence": cell(c.evidence)} for c in d.claims]

    by_code = {f.code: f for f in d.findings}
    causes = []
    for c in d.causes:
        root = by_code[c.root]
        causes.append({
            "title": c.title, "codes": list(c.codes), "window": c.window, "stage": c.stage, "links": list(c.links),
            "single": f"{root.message}",
        })

    groups, n = [], 0
    for prios, gtitle in GROUPS:
        items = []
        for r in d.recommendations:
            if r.priority in prios:
                n += 1
                items.append({"number": n, "text": r.text, "codes": list(r.codes), **advice_block(d, r.flags, r.changes)})
        if items:
            groups.append({"title": gtitle, "entries": items})

    conflicts = [
        f"{c.dropped}'s recommendation ({c.action.replace(':', ' ')}) withdrawn: {c.reason} ({c.kept})." for c in d.conflicts
    ]

    return {
        "run_name": d.run_name,
        "title": report_title(d),
        "not_applicable": not_applicable_line(d),
        "summary": executive_summary(d),
        "header": header_rows(d),
        "critical": critical,
        "other": other,
        "positives": [{"code": f.code, "title": f.title, "message": f.message} for f in d.positives],
        "areas": areas,
        "claims": claims,
        "causes": causes,
        "recommendation_groups": groups,
        "conflicts": conflicts,
        "plan": implementation_plan(d),
        "outcomes": [text for _code, text in expected_outcomes(d)],
        "risks": list(dict.fromkeys(f.recommendation.risk for f in alarms if f.recommendation and f.recommendation.risk)),
        "conclusion": conclusion(d),
        "next_steps": next_steps(d),
        "no_data": [{"code": f.code, "title": cell(f.title), "message": cell(f.message),
                     "enable": cell(enable_hint(d, f.code))} for f in d.no_data],
        "enable_column": d.trainer_id != "hnet-diag",
        "warnings": list(d.warnings),
        "events": list(d.events),
        "files": list(d.files),
        "settings_origin": _origin(d.settings_origin),
        "version": __version__,
    }


def boundary_context(d: "Diagnosis") -> dict[str, Any] | None:
    """The boundary map of the load-balance section (analyzers.boundaries): a table per stage and the
    passage with separators; None when there was no checkpoint to map (the finding says why)."""
    b = d.results.boundaries
    if b is None or not b.ok or not b.stages:
        return None

    def share(s: Any) -> str:
        return "—" if s.word_start_share is None else f"{s.word_start_share:.1%} ({s.at_word_starts}/{s.judged})"

    def pct1(v: Any) -> str:
        return "—" if v is None else f"{v:.1%}"

    rows = [{
        "stage": s.stage, "compression": fmt(s.compression) + (f" (target {fmt(s.target)})" if s.target else ""),
        "share": share(s), "chance": pct1(s.chance), "within": pct1(s.chance_within_outer),
        "interval": "—" if s.share_low is None else f"{s.share_low:.1%}–{s.share_high:.1%}",
        "p_value": "—" if s.p_value is None else f"{s.p_value:.2g}",
    } for s in b.stages]
    from ..analyzers.boundaries import REPORT_MAP_BYTES

    return {"source": b.source, "n_bytes": b.n_bytes, "window": b.window, "step": b.checkpoint_step,
            "rows": rows, "shown": min(REPORT_MAP_BYTES, b.n_bytes),
            "maps": [{"stage": s.stage, "text": b.marked(s.stage, REPORT_MAP_BYTES)} for s in b.stages]}


def weights_context(w: Any) -> dict[str, Any] | None:
    """The weights area's table and notes (analyzers/weights.py), or None without a checkpoint."""
    if w is None or not w.ok or not w.components:
        return None
    drift = {(x.stage, x.component): x.growth for x in w.drift}
    rows = [{
        "stage": "—" if c.stage is None else c.stage, "component": c.component, "matrix_rms": fmt(c.matrix_rms),
        "rms_vs_peers": fmt(c.rms_vs_peers) + ("x" if c.rms_vs_peers is not None else ""),
        "update_proxy": fmt(c.update_proxy),
        "proxy_vs_peers": fmt(c.proxy_vs_peers) + ("x" if c.proxy_vs_peers is not None else ""),
        "drift": (fmt(drift[(c.stage, c.component)]) + "x") if drift.get((c.stage, c.component)) is not None else "—",
    } for c in w.components if c.matrix_rms is not None or c.update_proxy is not None]
    notes = []
    if w.update_proxy_note:
        notes.append(f"No update proxy: {w.update_proxy_note.split(', so')[0]}.")
    e = w.embedding_rows
    if e is not None:
        if e.basis == "none":
            notes.append(f"Embedding rows ({e.n_rows}): {e.basis_note}.")
        else:
            notes.append(
                f"Embedding rows never trained: {len(e.unseen)} of {e.n_rows} ({e.basis_note}): "
                f"{cell(e.unseen_text) or 'none'}; {e.n_unseen_ascii} of them below 128 (ASCII). Row norm median "
                f"{fmt(e.unseen_norm_median)} unseen vs {fmt(e.seen_norm_median)} trained. A byte-level model never "
                "shown a byte keeps that row at its initialisation (shrunk only by weight decay); for text without "
                "non-ASCII bytes that is normal, and such a byte in a prompt reaches the model as noise.")
    if w.drift_stages:
        notes.append(f"Matrix norm growth per stage, step {w.drift_steps[0]} -> {w.drift_steps[1]}: "
                     + ", ".join(f"stage {x.stage} {fmt(x.growth)}x" for x in w.drift_stages) + ".")
    elif w.drift_note:
        notes.append(f"No drift: {w.drift_note.split(': no drift')[0]}.")
    return {"step": w.step, "n_tensors": w.n_tensors, "n_moments": w.n_moments, "rows": rows,
            "drift_steps": w.drift_steps, "notes": notes}


#: characters of a sample shown in the report (the JSON keeps the analyzer's own cut)
SAMPLE_CHARS = 100


def sample_text(text: str, limit: int = SAMPLE_CHARS) -> str:
    """A prompt or sample as one safe Markdown table cell: code span-free, escaped, line breaks shown as ⏎."""
    import re

    cut = text if len(text) <= limit else text[:limit] + "…"
    cut = "".join(c if c.isprintable() or c == "\n" else "\ufffd" for c in cut).replace("\n", "⏎")
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", cut) or "(nothing)"


def samples_context(d: "Diagnosis") -> dict[str, Any] | None:
    """The samples side by side (one row per prompt, one column per setting) and their measurements."""
    sa = d.results.samples
    if sa is None:
        return None
    if not sa.ok or not sa.sets:
        return {"note": sa.reason or "no sample", "columns": [], "rows": [], "measures": []}
    sets = sa.sets
    rows = []
    for i, sample in enumerate(sets[0].samples):
        cells = [sample_text(s.samples[i].text) + ("" if not s.samples[i].ended else " ⟂") if i < len(s.samples) else "—"
                 for s in sets]
        rows.append({"prompt": sample_text(sample.prompt, 60), "cells": cells})

    def num(v: Any, kind: str = "") -> str:
        if v is None:
            return "—"
        return f"{100 * v:.1f}%" if kind == "%" else fmt(v)

    measures = [
        ("bytes written", [str(s.n_bytes) for s in sets]),
        ("repeated 4-grams (bytes)", [num(s.repeated_4gram_share, "%") for s in sets]),
        ("longest repeated span", [f"{s.longest_repeated_span} bytes" for s in sets]),
        ("distinct-1 / distinct-2 (words)", [f"{num(s.distinct_1)} / {num(s.distinct_2)}" for s in sets]),
        ("log-likelihood per byte (model's own, nats)", [num(s.loglik_per_byte) for s in sets]),
        ("valid UTF-8", [num(s.valid_utf8_share, "%") for s in sets]),
    ]
    columns = [f"{'run' if s.setting == 'run' else 'recommended'}: {s.label}" for s in sets]
    ckpt = Path(sa.checkpoint).name if sa.checkpoint else "?"
    note = (f"Samples written by the checkpoint `{ckpt}` (step {sa.checkpoint_step}) with seed {sa.seed} "
            f"(seed + i for prompt i), up to {sets[0].max_new_bytes} bytes each; run settings: {sa.settings_note}; "
            f"prompts: {sa.prompt_source}. ⟂ marks a sample that ended its document; ⏎ a line break.")
    return {"note": note, "columns": [cell(c) for c in columns], "rows": rows,
            "measures": [{"name": n, "cells": v} for n, v in measures]}


def report_title(d: "Diagnosis") -> str:
    """"H-Net Diagnostic Report: run" for an H-Net; else what the run is and which trainer wrote it."""
    if d.is_hnet:
        return f"H-Net Diagnostic Report: {d.run_name}"
    model = getattr(d.model_kind, "name", "") or d.run_name
    trainer = f" ({d.trainer.name})" if d.trainer_id != "unknown" else ""
    return f"Training diagnostic report: {model}{trainer}"


def not_applicable_line(d: "Diagnosis") -> str:
    """The H-Net-only checks of a run that is not an H-Net, in one line instead of a "no data" each."""
    if not d.not_applicable:
        return ""
    from ..rules.registry import RULES

    problems = [r for r in RULES if r.code in d.not_applicable and r.severity.value != "positive"]
    why = getattr(d.model_kind, "reason", "") or "nothing in the run shows an H-Net"
    return (f"Not applicable, as this is not an H-Net ({why}): "
            + "; ".join(f"{r.code} {r.title}" for r in problems) + ".")


def _advice(d: "Diagnosis", changes: tuple) -> Any:
    from ..advice import advise

    return advise(changes, d.trainer_id)


def uses_flags(d: "Diagnosis", changes: tuple) -> bool:
    """The bundled trainer's runs (and fixes that name no setting) are advised in its flags, as written."""
    return d.trainer_id == "hnet-diag" or not changes


def fix_line(d: "Diagnosis", rec: Any) -> str:
    """The one-line fix under a finding: the trainer's own code, else the recommendation's text."""
    if uses_flags(d, rec.changes):
        return f"`{' '.join(rec.flags)}`" if rec.flags else rec.text
    a = _advice(d, rec.changes)
    parts = [f"`{c}`" for c in a.code] or list(a.notes)  # the notes are under the recommendation
    return " ".join(parts) if parts else rec.text


def advice_block(d: "Diagnosis", flags: tuple[str, ...], changes: tuple) -> dict[str, Any]:
    """A recommendation's code block in the trainer's words: language, lines, command line, notes."""
    if uses_flags(d, changes):
        return {"lang": "bash", "code": [" ".join(flags)] if flags else [], "cli": "", "notes": []}
    a = _advice(d, changes)
    return {"lang": a.language, "code": list(a.code), "cli": a.cli, "notes": list(a.notes)}


def enable_hint(d: "Diagnosis", code: str) -> str:
    """What would give check `code` its data, in the trainer's terms."""
    from ..advice.enable import hint
    from ..rules.registry import BY_CODE

    rule = BY_CODE.get(code)
    needs = rule.needs if rule is not None else ()
    return "; ".join(hint(d.trainer_id, n) for n in needs)


def _origin(origin: str) -> str:
    """Name the settings file without its absolute folder (reports must not depend on it)."""
    if origin in ("defaults",) or not origin:
        return "defaults"
    first, _, rest = origin.partition(" ")
    return (Path(first).name + (" " + rest if rest else "")) if "/" in first or "\\" in first else origin


def header_rows(d: "Diagnosis") -> list[tuple[str, str]]:
    c = d.counts()
    rows = [("run", f"`{d.run_name}`")]
    if d.last_step is not None:
        rows.append(("steps", f"{d.last_step} of {d.planned_steps} planned" if d.planned_steps else str(d.last_step)))
    for key, label in (("num_stages", "stages"), ("learning_rate", "learning rate"), ("lr_multipliers", "LR multipliers"),
                       ("warmup_steps", "warmup steps"), ("schedule", "schedule"), ("max_grad_norm", "max grad norm"),
                       ("ratio_loss_weight", "ratio loss weight"), ("target_compression", "target compression")):
        if key in d.facts:
            value = d.facts[key]
            if isinstance(value, list):
                value = f"[{listing(value)}]"
            rows.append((label, fmt(value)))
    rows.append(("findings", f"{c['critical']} critical, {c['high']} high, {c['medium']} medium, {c['low']} low; "
                             f"healthy signs: {c['positive']}; checks without data: {c['no_data']}"))
    return rows


def executive_summary(d: "Diagnosis") -> str:
    c = d.counts()
    steps = ""
    if d.last_step is not None:
        steps = f" after {d.last_step} steps" + (f" (of {d.planned_steps} planned)" if d.planned_steps else "")
    checked = len([f for f in d.findings if f.status.value != "no-data"])
    lead = f"hnet-diag checked `{d.run_name}`{_what_run(d)}{steps} with {checked} checks that had data."
    serious = c["critical"] + c["high"]
    if not d.alarms:
        return lead + " No check raised an alarm" + (
            f"; {c['positive']} healthy signs were confirmed." if c["positive"] else ".")
    parts = [lead]
    if serious:
        parts.append(f"It found {serious} critical or high-severity problem{'s' if serious != 1 else ''}"
                     f" and {len(d.alarms) - serious} lesser one{'s' if len(d.alarms) - serious != 1 else ''}.")
    else:
        parts.append(f"It found no critical or high-severity problem, and {len(d.alarms)} lesser one{'s' if len(d.alarms) != 1 else ''}.")
    if d.causes:
        top = d.causes[0]
        parts.append(f"The most important root cause is **{top.title.lower()}** ({', '.join(top.codes)}).")
    if d.positives:
        parts.append(f"{len(d.positives)} healthy sign{'s' if len(d.positives) != 1 else ''} confirmed.")
    return " ".join(parts)


def _what_run(d: "Diagnosis") -> str:
    """", written by PyTorch Lightning (not an H-Net)," for other models; nothing for H-Nets."""
    if d.is_hnet:
        return ""
    model = getattr(d.model_kind, "name", "")
    parts = [f"a {model} model" if model else "", f"written by {d.trainer.name}" if d.trainer_id != "unknown" else ""]
    return ", " + " ".join(p for p in parts if p) + " (not an H-Net)," if any(parts) else " (not an H-Net)"


def implementation_plan(d: "Diagnosis") -> list[dict[str, Any]]:
    """Phases: change training, change generation, verify. Only phases with something to do.

    A new run or a resume, and which flags, come from `followup.plan`: the same plan
    `hnet-diag verify-fix` carries out. Runs of other trainers get the plan in their terms.
    """
    if d.trainer_id != "hnet-diag" and any(r.changes for r in d.recommendations):
        return _plan_in_trainer_terms(d)
    from ..followup import plan

    p = plan(d)
    train_texts, gen_texts = [], []
    for r in d.recommendations:
        if not r.flags:
            is_gen = all(code.startswith("HND5") for code in r.codes)
            (gen_texts if is_gen else train_texts).append(r.text)
    phases = []
    steps = []
    flags = " ".join(f"{c.flag} {c.to}" for c in p.train)
    if p.restart:  # schedule changes do not apply cleanly to a resumed run: start over
        steps.append(f"Start a new run (not a resume: warmup and LR settings act from step 0) with `{flags}`.")
        steps.append("Keep everything else unchanged, so the new run isolates the effect of these settings.")
    elif p.resume:
        steps.append(f"Resume from the last checkpoint with `{' '.join(['--resume'] + ([flags] if flags else []))}`.")
    steps += [t if t.endswith(".") else t + "." for t in train_texts]
    if steps:
        phases.append({"title": "Training settings", "steps": steps})
    steps = []
    if p.generate:
        steps.append(f"Generate with `{' '.join(f'{c.flag} {c.to}' for c in p.generate)}`.")
    steps += [t if t.endswith(".") else t + "." for t in gen_texts]
    if steps:
        phases.append({"title": "Generation settings", "steps": steps})
    if phases:
        phases.append({"title": "Verify", "steps": [
            "Run `hnet-diag verify-fix RUN` to train this follow-up with the bundled trainer and compare it with this run "
            "(`--dry-run` prints the commands), or run `hnet-diag compare RUN NEW_RUN` on a follow-up you made yourself.",
            "Run `hnet-diag check NEW_RUN --fail-on high` on the new run; it exits 0 once the fixes worked.",
        ]})
    return phases


def _plan_in_trainer_terms(d: "Diagnosis") -> list[dict[str, Any]]:
    """The plan for a run of another trainer: its own settings, then the same verification."""
    from ..advice import advise
    from ..advice.actions import GENERATION
    from ..followup import RESTART_SETTINGS

    train = [a for r in d.recommendations for a in r.changes if a.setting not in GENERATION]
    gen = [a for r in d.recommendations for a in r.changes if a.setting in GENERATION]
    texts = [r.text for r in d.recommendations if not r.changes]
    phases = []
    restart = any(a.setting in RESTART_SETTINGS for a in train)
    for title, actions, lead in (("Training settings", train, "Start a new run (warmup and LR settings act from step 0) with"
                                  if restart else "Continue the run with"), ("Generation settings", gen, "Generate with")):
        if not actions:
            continue
        a = advise(tuple(dict.fromkeys(actions)), d.trainer_id)
        steps = []
        if a.code:
            steps.append(f"{lead} " + "; ".join(f"`{c}`" for c in a.code) + ".")
        steps += list(a.notes)
        if restart and title == "Training settings":
            steps.append("Keep everything else unchanged, so the new run isolates the effect of these settings.")
        phases.append({"title": title, "steps": steps})
    if texts:
        phases.append({"title": "Other changes", "steps": [t if t.endswith(".") else t + "." for t in texts]})
    if phases:
        phases.append({"title": "Verify", "steps": [
            "Run `hnet-diag check NEW_RUN --fail-on high` on the new run; it exits 0 once the fixes worked.",
            "Run `hnet-diag compare RUN NEW_RUN`: findings resolved, new and persisting, and these outcomes checked.",
        ]})
    return phases


def conclusion(d: "Diagnosis") -> str:
    serious = [f for f in d.alarms if f.severity.rank >= 3]
    if not d.alarms:
        return ("The run is healthy by every check that had data. The checks without data (appendix) are the "
                "only places where a problem could still hide.")
    if not serious:
        return (f"The run has no critical or high-severity problem. {len(d.alarms)} lesser finding"
                f"{'s' if len(d.alarms) != 1 else ''} can be addressed in the next run.")
    titles = "; ".join(c.title.lower() for c in d.causes[:3])
    n = len(d.causes)
    lead = f"the most important: {titles}" if n > 3 else titles
    return (f"The evidence points to {n} root cause{'s' if n != 1 else ''}: {lead}. "
            "Each finding above quotes the measured value and the threshold it crossed, so each can be re-checked "
            "on the next run.")


def next_steps(d: "Diagnosis") -> list[str]:
    out = []
    if d.recommendations:
        high = [r for r in d.recommendations if r.priority in GROUPS[0][0]]
        if high:
            out.append("Apply the high-priority recommendations first; they address the root causes.")
        else:
            out.append("Apply the recommendations above in their order; none is urgent.")
        out.append("Run the changed configuration and check it with `hnet-diag check RUN --fail-on high`.")
    if d.no_data and d.trainer_id == "hnet-diag":
        missing = ", ".join(f.code for f in d.no_data[:6])
        out.append(f"Give the checks without data what they need (appendix: {missing}{', …' if len(d.no_data) > 6 else ''}), "
                   "e.g. per-stage metrics, a config with the planned steps, generation settings or a checkpoint.")
    elif d.no_data:
        missing = ", ".join(f.code for f in d.no_data[:6])
        out.append(f"Give the checks without data what they need (appendix: {missing}{', …' if len(d.no_data) > 6 else ''}); "
                   "the appendix says how, in this trainer's terms.")
    if not out:
        out.append("Nothing to fix: use this run as the baseline for the next ones.")
    return out


def _environment() -> Any:
    """Jinja2 environment reading templates from the hnet_diag.report_templates package."""
    from importlib.resources import files

    import jinja2

    root = files("hnet_diag.report_templates")

    def load(name: str) -> str | None:
        node = root.joinpath(name)
        return node.read_text(encoding="utf-8") if node.is_file() else None

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def render_markdown(d: "Diagnosis", plots: Mapping[str, str] | None = None) -> str:
    """The report text. `plots` maps the plot files written next to it to their captions."""
    return render_template("report.md.j2", build_context(d, plots))


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """A Markdown template rendered, with the runs of blank lines its conditional blocks leave
    behind collapsed to one (the diagnosis report and the compare report alike)."""
    text = _environment().get_template(name).render(**context)
    lines, out, blank = text.splitlines(), [], 0
    for line in lines:
        blank = blank + 1 if not line.strip() else 0
        if blank <= 1:
            out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"


def write_report(d: "Diagnosis", out: Path, with_plots: bool = True) -> Path:
    """Write report.md (and plots/ beside it when asked); return the report's path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    if with_plots:
        from .plots import save_plots

        plots = save_plots(d.results, out.parent / "plots")
    out.write_text(render_markdown(d, plots), encoding="utf-8")
    return out
