"""The knobs a recommendation may move, and why moving one can contradict a finding.

A recommendation carries `actions` ("max_grad_norm:up"); a problem rule lists in
`Cause.contradicted_by` the actions never to recommend while it stands. The sentence
that explains each contradiction lives here, once per action, so every rule that names
the action shares it.
"""
from __future__ import annotations

#: action -> why recommending it beside a finding that lists it is incoherent
CONFLICT_REASONS: dict[str, str] = {
    "max_grad_norm:up": "loosening gradient clipping while gradients or loss explode",
    "learning_rate:up": "raising the learning rate while training is unstable",
    "lr_multipliers:up": "raising per-stage multipliers while the outer stage is unstable",
    "warmup_steps:down": "shortening warmup while warmup is too short for the instability seen",
    "max_steps:up": "training longer while the run diverges or does not learn",
    # "train longer" against "stop earlier" (HND401/402 vs HND403) is a trade-off, settled by
    # priority in causes.find_conflicts' both-ways check, not a contradiction of a finding
    "temperature:up": "raising temperature while sampling is too random",
    "top_p:up": "raising top-p while sampling is too random",
    "ratio_loss_weight:down": "weakening the ratio loss while compression is off target",
}
