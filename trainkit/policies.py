"""Azure ML HyperDrive's early-termination policies as Optuna pruners, with HyperDrive's rules.

- An *interval* is one report of the primary metric: a trial's N-th reported value (in step
  order) is its value at interval N.
- A policy applies at interval N when N is a multiple of `evaluation_interval` and
  N >= `delay_evaluation`; at other intervals it never stops a trial.
- At interval N a trial is compared with every trial of the study that is running, complete or
  pruned and has reported at least N values (the trial itself included; warm-started trials
  too); only their first N values count. A failed trial is not compared with.
- `bandit`: the trial's best value up to N against the best of all those trials' best values up
  to N. Maximize: stop when best_own * (1 + slack_factor) < best_all, or best_own + slack_amount
  < best_all. Minimize: stop when best_own > best_all * (1 + slack_factor), or best_own >
  best_all + slack_amount.
- `median_stopping`: the trial's best value up to N against the median of the running averages
  (the mean of the first N values) of all those trials; stop when it is worse.
- `truncation_selection`: the values at interval N of all those trials, n of them; stop the trial
  when at most floor(n * truncation_percentage / 100) of them (itself included) are as bad as or
  worse than its own, i.e. it is in the lowest truncation_percentage of the n (ties protect).
- A trial that reported NaN is stopped at the first interval from then on where the policy applies
  (as Optuna's pruners stop NaN); trials with a NaN among their first N values are not compared with.

Imported only by `trainkit.hpo.make_pruner`, since it imports Optuna.
"""
from __future__ import annotations

import math
import statistics

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

COMPARED = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


def curve(trial: FrozenTrial) -> list[float]:
    """A trial's reported values in step order: curve[N-1] is its value at interval N."""
    return [v for _, v in sorted(trial.intermediate_values.items())]


def _whole_number(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value, low: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low


class IntervalPolicy(optuna.pruners.BasePruner):
    """What the three policies share: when they apply, and which trials they compare with."""

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0):
        self.evaluation_interval, self.delay_evaluation = evaluation_interval, delay_evaluation
        problems = self.problems(vars(self))
        if problems:
            raise ValueError(f"{type(self).__name__}: " + "; ".join(problems))

    @classmethod
    def problems(cls, settings: dict) -> list[str]:
        """Every problem in these settings, as 'key: expected X, got Y'."""
        out = []
        if not _whole_number(settings.get("evaluation_interval", 1), 1):
            out.append(f"evaluation_interval: expected an integer >= 1, got {settings['evaluation_interval']!r}")
        if not _whole_number(settings.get("delay_evaluation", 0), 0):
            out.append(f"delay_evaluation: expected an integer >= 0, got {settings['delay_evaluation']!r}")
        return out

    def applies(self, interval: int) -> bool:
        """Whether the policy looks at a trial that has just reported its `interval`-th value."""
        return interval >= 1 and interval % self.evaluation_interval == 0 and interval >= self.delay_evaluation

    def prune(self, study: "optuna.Study", trial: FrozenTrial) -> bool:
        own = curve(trial)
        n = len(own)
        if not self.applies(n):
            return False
        if any(math.isnan(v) for v in own):
            return True
        others = (curve(t)[:n] for t in study.get_trials(deepcopy=False, states=COMPARED) if t.number != trial.number)
        peers = [own] + [c for c in others if len(c) == n and not any(math.isnan(v) for v in c)]
        return self.stops(own, peers, study.direction == StudyDirection.MAXIMIZE)

    def stops(self, own: list[float], peers: list[list[float]], maximize: bool) -> bool:
        """Whether to stop the trial whose first N values are `own`, given every compared trial's
        first N values (`own` among them)."""
        raise NotImplementedError


def best(values: list[float], maximize: bool) -> float:
    return max(values) if maximize else min(values)


def worse(a: float, b: float, maximize: bool) -> bool:
    """a is strictly worse than b."""
    return a < b if maximize else a > b


class BanditPolicy(IntervalPolicy):
    """Stop a trial whose best value so far is outside the slack of the best trial's at the same interval."""

    def __init__(self, slack_factor: float | None = None, slack_amount: float | None = None,
                 evaluation_interval: int = 1, delay_evaluation: int = 0):
        self.slack_factor, self.slack_amount = slack_factor, slack_amount
        super().__init__(evaluation_interval, delay_evaluation)

    @classmethod
    def problems(cls, settings: dict) -> list[str]:
        factor, amount = settings.get("slack_factor"), settings.get("slack_amount")
        out = super().problems(settings)
        if (factor is None) == (amount is None):
            got = "neither" if factor is None else f"both (slack_factor={factor!r}, slack_amount={amount!r})"
            out.append(f"slack_factor, slack_amount: expected exactly one of them (a ratio or an absolute "
                       f"amount), got {got}")
        for key, value in (("slack_factor", factor), ("slack_amount", amount)):
            if value is not None and not _number(value, 0):
                out.append(f"{key}: expected a number >= 0, got {value!r}")
        return out

    def stops(self, own, peers, maximize) -> bool:
        mine = best(own, maximize)
        top = best([best(c, maximize) for c in peers], maximize)
        if self.slack_factor is not None:
            return mine * (1 + self.slack_factor) < top if maximize else mine > top * (1 + self.slack_factor)
        return mine + self.slack_amount < top if maximize else mine - self.slack_amount > top


class MedianStoppingPolicy(IntervalPolicy):
    """Stop a trial whose best value so far is worse than the median of all trials' running averages."""

    def stops(self, own, peers, maximize) -> bool:
        return worse(best(own, maximize), statistics.median(statistics.fmean(c) for c in peers), maximize)


class TruncationSelectionPolicy(IntervalPolicy):
    """Stop a trial whose value at this interval is in the lowest `truncation_percentage` of all trials'."""

    def __init__(self, truncation_percentage: int | None = None, evaluation_interval: int = 1,
                 delay_evaluation: int = 0):
        self.truncation_percentage = truncation_percentage
        super().__init__(evaluation_interval, delay_evaluation)

    @classmethod
    def problems(cls, settings: dict) -> list[str]:
        out = super().problems(settings)
        pct = settings.get("truncation_percentage")
        if not _whole_number(pct, 1) or pct > 99:
            out.append(f"truncation_percentage: expected an integer from 1 to 99, got {pct!r}")
        return out

    def stops(self, own, peers, maximize) -> bool:
        mine = own[-1]
        as_bad = sum(not worse(mine, c[-1], maximize) for c in peers)   # at most as good as mine, mine included
        return as_bad <= len(peers) * self.truncation_percentage // 100
