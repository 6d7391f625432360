"""The rules: one module per family, each rule standing with its predicate.

    gradients.py     HND1xx  spikes, clipping, vanishing norms
    schedule.py      HND2xx  warmup, per-stage LR multipliers, annealing
    load_balance.py  HND3xx  ratio loss, compression, routing
    convergence.py   HND4xx  stopped early, undertrained, overfitting, divergence, loss spikes
    generation.py    HND5xx  sampling settings, length, step-wise decoding
    distributed.py   HND6xx  multi-rank runs (a rank departing from the others)
    weights.py       HND7xx  the checkpoint's weights and Adam moments (NaN/Inf, never moved)
    healthy.py       HND9xx  healthy signs, each mirroring the problem rules it is the absence of
    registry.py      collects every family's RULES and derives the root-cause tables
    rule.py          the types: Rule, Threshold, RuleDoc, Cause, Outcome, Evidence, Finding
    shared.py        helpers several families use (flag suggestions from the run's settings)
    actions.py       the knobs a recommendation moves, and why some contradict a finding
    engine.py        selection, thresholds in effect, Outcome -> Finding
    causes.py        root causes, conflicting recommendations, merged recommendations
    claims.py        common claims about H-Net runs, judged from the findings

A predicate reads a typed `hnet_diag.results.Results` (one field per analyzer result, plus
the run's training, model and generation settings) and its thresholds, and returns an
`Outcome` whose facts fill the rule's message templates.

How to add a rule (say HND406 in the convergence family):

1. In `convergence.py`, write `check_xxx(r: Results, t: Thresholds) -> Outcome` reading
   only the fields of `r` it names in `reads`, and comparing against `t["name"]` (never a
   number written in the predicate); return `Outcome(None, {"reason": ...})` when there is
   nothing to measure, else `Outcome(fired, facts, Evidence(...))`.
2. Right below it, `HND406 = Rule(code=..., name=..., title=..., severity=..., area=...,
   reads=(...), check=check_xxx, thresholds=(T(...),), message=..., pass_message=...,
   recommendation=..., flags=(...), actions=(...), expect=..., risk=..., doc=RuleDoc(...),
   cause=Cause(order=..., title=..., explains=(...), contradicted_by=(...)))`. Every
   `{placeholder}` of the texts must be a fact the predicate returns, or `t_<threshold>` /
   `tp_<threshold>`; flags must be real `hnet-diag train`/`generate` flags.
3. Append `HND406` to the module's `RULES` tuple. `registry.py` picks it up; `hnet-diag
   rules`, `explain`, every report and the root-cause tables follow. (A new family module,
   HND7xx say, is also added to `registry.FAMILIES`, in code order.)
4. Pin the code and name in tests/test_rules_catalog.py, and give it a firing case in `BAD`
   of tests/conftest.py (the predicate, message and flag tests then cover it); document it
   in the README's rule table.

`needs=` names what the rule measures (keys of `hnet_diag.advice.enable.NEEDS`: "loss",
"val_loss", "grad_norm"...), so a report of another trainer says in its terms what would give
the check data; `offers=` adds an optional `advice.Action` shown only where a trainer has
that remedy natively (HND403 offers early stopping). The flags stay the bundled trainer's:
every other trainer's words are rendered from the actions parsed off them
(`hnet_diag.advice`).

A new action in `actions=` that must never sit beside some finding gets its reason in
`actions.py` and is listed in that finding's `Cause.contradicted_by`. A rule whose evidence
settles a competing diagnosis when both fire lists it in `Cause.decides` (`Decides(code,
evidence, note)`: HND403's rising validation loss decides HND402's "still improving"). A healthy sign goes
into `healthy.py` with `mirrors=(the problem rule,)` and no copy of its thresholds.
"""
