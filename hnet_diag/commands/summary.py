"""`hnet-diag summary RUN`: what load_run found, as a quick sanity check of a run folder."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analyze import add_link_option

    p.add_argument("run", help="run folder (or a single log/checkpoint file)")
    add_link_option(p)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape as esc
    from rich.table import Table

    from ..sources.discover import load_run

    r = load_run(args.run, follow_external_links=args.follow_external_links)
    console = Console()
    # everything below comes from the run's files: escaped, so `[/]` in a name is text, not markup
    console.print(f"[bold]{esc(str(r.path))}[/bold]: {len(r.files)} file(s), {len(r.scalars)} points, last step {r.last_step}")
    t, m = r.trainer, r.model_kind
    console.print(esc(f"trainer: {t.name}" + (f" ({t.source}: {t.reason})" if t.source else "")
                      + (f"; loggers: {', '.join(t.loggers)}" if t.loggers else "")), highlight=False)
    console.print(esc(f"model: {'H-Net' if m.hnet else 'not an H-Net'}" + (f" {m.name}" if m.name and not m.hnet else "")
                      + f" ({m.reason})"), highlight=False)
    table = Table("metric", "points", "first step", "last step", "last value")
    for name in r.metric_names():
        s = r.metric(name)
        table.add_row(esc(name), str(len(s)), str(s.index[0]), str(s.index[-1]), f"{s.iloc[-1]:.6g}")
    console.print(table)
    for label, value in (("training", r.training), ("model", r.model), ("generation", r.generation)):
        if value is not None:
            set_fields = {k: v for k, v in vars(value).items() if v is not None}
            if set_fields:
                console.print(f"{label}: {esc(str(set_fields))}", highlight=False)
    for c in r.checkpoints:
        console.print(f"checkpoint {esc(c.path)}: step {c.step}, {len(c.tensors)} tensors", highlight=False)
    for e in r.events:
        console.print(esc(f"event: {e.kind} at step {e.step} in {e.source} {e.detail}"), highlight=False)
    for w in r.warnings:
        console.print(f"[yellow]warning[/yellow]: {esc(str(w))}", highlight=False)
    return 0
