"""Azure's early-termination policies as the sweeper's pruners of the same names and semantics
(trainkit/hpo.py): Bandit, MedianStopping and TruncationSelection keep every parameter."""
from __future__ import annotations

from ..values import Sdk

POLICIES = {   # Azure policy -> (pruner name, {Azure argument: (pruner key, position)})
    "BanditPolicy": ("bandit", {"evaluation_interval": ("evaluation_interval", 0), "slack_factor": ("slack_factor", 1),
                                "slack_amount": ("slack_amount", 2), "delay_evaluation": ("delay_evaluation", 3)}),
    "MedianStoppingPolicy": ("median_stopping", {"evaluation_interval": ("evaluation_interval", 0),
                                                 "delay_evaluation": ("delay_evaluation", 1)}),
    "TruncationSelectionPolicy": ("truncation_selection", {
        "truncation_percentage": ("truncation_percentage", 0), "evaluation_interval": ("evaluation_interval", 1),
        "delay_evaluation": ("delay_evaluation", 2)}),
    "NoTerminationPolicy": ("none", {}),
}


def pruner_of(pol: Sdk) -> tuple[dict, str | None]:
    """(the sweeper's pruner config, a note when something could not be carried over)."""
    known = POLICIES.get(pol.name)
    if known is None:
        return {"name": "none"}, f"{pol.name}: not an Azure early-termination policy known to trainkit: no pruning"
    name, keys = known
    pruner, missing = {"name": name}, []
    for arg, (key, pos) in keys.items():
        value = pol.arg(arg, pos)
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            pruner[key] = value
        else:
            missing.append(arg)
    if pol.arg("exclude_finished_jobs", 3) is True:
        missing.append("exclude_finished_jobs=True (trainkit compares with finished trials too)")
    return pruner, (f"{pol.name}: {', '.join(missing)}: not carried over" if missing else None)
