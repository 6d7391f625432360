"""The rich summary printed by `hnet-diag analyze` and `check`: short, worst first.

Every string that comes from the run (folder and file names, messages quoting config
values, load warnings) is escaped before rich sees it: a file named `[/]` or an
`arch_layout` holding `[bold]` is text, not markup (unescaped, rich raises a MarkupError
after the report was written).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis

STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "positive": "green"}


def print_summary(d: "Diagnosis", console: Any = None, report_path: str | None = None, show_positive: bool = True) -> None:
    from rich.console import Console
    from rich.markup import escape as esc
    from rich.table import Table

    console = console or Console()
    c = d.counts()
    head = ", ".join(f"[{STYLES[k]}]{c[k]} {k}[/]" for k in ("critical", "high", "medium", "low") if c[k])
    console.print(f"[bold]{esc(str(d.run_name))}[/bold]: last step {d.last_step}" + (f" of {d.planned_steps} planned" if d.planned_steps else ""))
    console.print(head or "[green]no problems found[/green]", f"(healthy signs: {c['positive']}, checks without data: {c['no_data']})")
    if d.alarms:
        table = Table("severity", "code", "finding", "evidence", show_lines=False, highlight=False)
        for f in d.alarms:
            table.add_row(f"[{STYLES[f.severity.value]}]{f.severity.value}[/]", esc(f.code), esc(f.title), esc(f.message))
        console.print(table)
    if d.recommendations:
        console.print("[bold]Recommended[/bold]:")
        from .markdown import advice_block

        for i, r in enumerate(d.recommendations, 1):
            block = advice_block(d, r.flags, r.changes)
            shown = "; ".join(block["code"]) or " ".join(block["notes"])
            flags = f"  [bold]{esc(shown)}[/bold]" if shown else ""
            console.print(f"  {i}. [{STYLES[r.severity]}]{r.severity}[/] {esc(r.text)}{flags} [dim]({esc(', '.join(r.codes))})[/dim]",
                          highlight=False)
    if show_positive and d.positives:
        for f in d.positives:
            console.print(f"[green]ok[/green] {esc(f.code)} {esc(f.message)}", highlight=False)
    for w in d.warnings:
        console.print(f"[yellow]load warning[/yellow]: {esc(str(w))}", highlight=False)
    if report_path:
        console.print(f"report: {esc(str(report_path))}", highlight=False)
