"""`hnet-diag explain HND101`: a rule's page (what, why, example, fix, thresholds)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rule", help="rule code (HND101) or name (gradient-spikes-after-warmup)")


def rule_page(rule) -> str:
    """The page as Markdown-ish plain text, readable in a terminal and pasteable in docs."""
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        f"{rule.title} (severity: {rule.severity.value}, area: {rule.area}, reads: {', '.join(rule.reads)})",
        "",
        "## What it does", "", rule.doc.what, "",
        "## Why it matters", "", rule.doc.why, "",
        "## Example", "", rule.doc.example, "",
        "## How to fix", "", rule.doc.fix,
    ]
    if rule.flags:  # templates: show the filled-in parts as placeholders
        import re

        # flags filled entirely from evidence (e.g. "{lr_flag}") have no fixed text to show
        flags = " ".join(re.sub(r"\{(\w+)\}", r"<\1>", f) for f in rule.flags if f.startswith("--"))
        if flags:
            lines += ["", "Flags it recommends: " + flags]
    from ..rules.track_record import track_record

    record = track_record(rule.code)
    if record is not None:
        sentence = record.sentence()
        lines += ["", "## Track record", "", sentence[0].upper() + sentence[1:]
                  + " (fixtures/real_runs/, `python fixtures/score_real_runs.py`)."]
    competing = _competing(rule)
    if competing:
        lines += ["", "## When a competing finding fires too", "", *competing]
    if rule.all_thresholds():
        own = {t.name for t in rule.thresholds}
        owner = {t.name: m.code for m in rule.mirrors for t in m.all_thresholds()}
        lines += ["", "## Thresholds", ""]
        for t in rule.all_thresholds():
            mirrored = "" if t.name in own else f" ({owner[t.name]}'s: set it there)"
            lines.append(f"- `{t.name}` = {t.default:g}: {t.doc}{mirrored}")
        code, first = (rule.code, rule.thresholds[0].name) if rule.thresholds else (
            owner[rule.all_thresholds()[0].name], rule.all_thresholds()[0].name)
        lines += ["", f"Override: `--threshold {code}.{first}=VALUE` or, in pyproject.toml,",
                  f"`[tool.hnet-diag.thresholds.{code}]` `{first} = VALUE`."]
    return "\n".join(lines) + "\n"


def _competing(rule) -> list[str]:
    """Which competing diagnosis this rule's evidence settles, or which rule settles this one (`Cause.decides`)."""
    from ..rules.registry import BY_CODE, DECIDES

    out = []
    for (code, other), _ in sorted(DECIDES.items()):
        if code == rule.code:
            out.append(f"- {other} ({BY_CODE[other].name}): when both fire, this rule's evidence decides between them; "
                       f"{other} joins this rule's root cause, says so in its message, and its recommendation is "
                       "withdrawn, whatever the severities.")
        elif other == rule.code:
            out.append(f"- {code} ({BY_CODE[code].name}): when both fire, its evidence decides between them; this "
                       f"finding joins {code}'s root cause, says what it still means, and recommends nothing.")
    return out


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..rules.registry import RULES

    key = args.rule.strip()
    rule = next((r for r in RULES if r.code == key.upper() or r.name == key.lower()), None)
    if rule is None:
        raise InputError(key, "unknown rule (see `hnet-diag rules` for the list)")
    print(rule_page(rule), end="")
    return 0
