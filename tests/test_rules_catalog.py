"""The rule catalog: codes are pinned, every rule is documented and quotes its thresholds."""
from __future__ import annotations

import argparse
import re

import pytest

from conftest import BAD, FIXTURE_RUNS, HEALTHY, fixture_results
from hnet_diag.cli import build_parser

from hnet_diag.rules.registry import POSITIVE_CODES, PROBLEM_CODES, RULES
from hnet_diag.rules.rule import Severity

# Never remove or renumber a code; add new ones at the end of their family.
PINNED_PROBLEM_CODES = (
    "HND101", "HND102", "HND103", "HND104", "HND105",
    "HND201", "HND202", "HND203",
    "HND301", "HND302", "HND303", "HND304",
    "HND401", "HND402", "HND403", "HND404", "HND405", "HND406", "HND407",
    "HND501", "HND502", "HND503", "HND504", "HND505",
    "HND601",
    "HND701", "HND702", "HND703", "HND704",
)
PINNED_POSITIVE_CODES = ("HND901", "HND902", "HND903", "HND904", "HND905", "HND906", "HND907", "HND908", "HND909")
PINNED_NAMES = {
    "HND101": "gradient-spikes-after-warmup", "HND102": "clipping-saturated", "HND103": "vanishing-gradients",
    "HND104": "gradient-collapse", "HND105": "stage-without-gradient", "HND406": "loss-rebound", "HND407": "no-learning",
    "HND201": "warmup-too-short", "HND202": "lr-ratio-out-of-range", "HND203": "lr-not-annealed",
    "HND301": "ratio-loss-away-from-minimum", "HND302": "compression-off-target", "HND303": "undecided-routing",
    "HND304": "boundaries-not-at-word-starts",
    "HND401": "stopped-early", "HND402": "loss-still-improving", "HND403": "overfitting",
    "HND404": "divergence-or-nonfinite", "HND405": "loss-spikes", "HND501": "sampling-too-random",
    "HND502": "no-repetition-penalty", "HND503": "generation-longer-than-context", "HND504": "decoding-mismatch",
    "HND505": "degenerate-samples",
    "HND701": "nonfinite-weights", "HND702": "parameters-never-moved", "HND703": "stage-departs",
    "HND704": "weights-drift",
}


def test_problem_codes_are_pinned_and_never_renumbered():
    assert PROBLEM_CODES == PINNED_PROBLEM_CODES


def test_positive_codes_are_pinned_in_their_own_range():
    assert POSITIVE_CODES == PINNED_POSITIVE_CODES
    assert all(r.severity is Severity.POSITIVE for r in RULES if r.code in POSITIVE_CODES)
    assert all(r.severity is not Severity.POSITIVE for r in RULES if r.code in PROBLEM_CODES)


def test_rule_names_are_pinned_unique_slugs():
    assert {r.code: r.name for r in RULES if r.code in PINNED_NAMES} == PINNED_NAMES
    names = [r.name for r in RULES]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_has_a_full_doc_page_and_documented_thresholds(rule):
    for part in (rule.doc.what, rule.doc.why, rule.doc.example, rule.doc.fix, rule.title):
        assert len(part) > 10
    assert rule.doc.example.startswith(rule.code)
    for t in rule.thresholds:
        assert t.doc and isinstance(t.default, (int, float))
    assert rule.reads, "a rule must say which analyzer result it reads"


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


#: the commands whose flags recommendations name, with the arguments they require
COMMANDS = {"train": ["--out", "run"], "generate": ["--checkpoint", "run/ckpt.pt"]}
PARSERS = {name: _subparser(name) for name in COMMANDS}


def parses(flag: str) -> bool:
    """Whether `flag` ("--learning-rate 1.5e-4") is accepted, value included, by train or generate.

    A value written as a placeholder ("<half the current value>") only needs the option.
    """
    option, *value = flag.split(maxsplit=1)
    for name, parser in PARSERS.items():
        if option not in parser._option_string_actions:
            continue
        if value and value[0].startswith("<") and value[0].endswith(">"):
            return True
        try:
            parser.parse_args(COMMANDS[name] + flag.split())
        except SystemExit:
            return False
        return True
    return False


def test_the_flag_check_rejects_unknown_flags_and_bad_values(capsys):
    assert parses("--learning-rate 1.5e-4") and parses("--lr-multipliers 2.0,1.5,1.0") and parses("--top-p 0.9")
    assert not parses("--learning-rate fast") and not parses("--lr 3e-4") and not parses("--max-new-tokens 1.5")
    capsys.readouterr()


def _recommendations():
    """Every recommendation the problem rules make on the predicate cases (with and without the
    run's settings, which switches templated flags) and on the committed fixture runs."""
    from hnet_diag.rules.engine import evaluate

    from dataclasses import replace

    from hnet_diag.run import TrainingSettings

    unclipped = {"training": TrainingSettings(learning_rate=3e-4, max_grad_norm=0.0)}  # clipping off: advise some
    cases = [{**HEALTHY, **bad} for bad, _ in BAD.values()] + [dict(bad) for bad, _ in BAD.values()]
    cases += [{**bad, **unclipped, **{k: replace(v, max_grad_norm=None) for k, v in bad.items() if k == "gradients"}}
              for bad, _ in BAD.values()]
    cases += [fixture_results(name) for name in FIXTURE_RUNS]
    for rule in RULES:
        if rule.code in PROBLEM_CODES:
            for results in cases:
                f = evaluate(rule, results)
                if f.recommendation:
                    yield rule.code, f.recommendation


@pytest.mark.parametrize("rule", [r for r in RULES if r.code in PROBLEM_CODES], ids=lambda r: r.code)
def test_problem_rules_recommend_something(rule):
    assert rule.recommendation


def test_every_flag_a_recommendation_renders_is_a_real_train_or_generate_flag(capsys):
    """Reads the argparse parsers of `hnet-diag train` and `generate`, templated flags filled."""
    seen: dict[str, set[str]] = {}
    for code, rec in _recommendations():
        for flag in rec.flags:
            assert flag.startswith("--") and parses(flag), f"{code} recommends {flag!r}"
            seen.setdefault(code, set()).add(flag.split()[0])
    capsys.readouterr()
    flagged = {r.code for r in RULES if r.flags}
    assert flagged <= set(seen), f"rules whose flags were never rendered: {flagged - set(seen)}"
    # the templated alternatives were exercised too (the LR unknown, no clipping set, ...)
    assert "--learning-rate" in seen["HND101"] and "--max-grad-norm" in seen["HND101"]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_predicate_reads_the_typed_results_and_names_real_fields(rule):
    from dataclasses import fields

    from hnet_diag.results import Results

    assert rule.check.__annotations__.get("r") == "Results", rule.check.__annotations__
    assert rule.check.__annotations__.get("t") == "Thresholds"
    assert set(rule.reads) <= {f.name for f in fields(Results)}
