"""Azure ML's early-termination policies as Optuna pruners, on hand-computed trial histories.

Every history uses values exact in binary (multiples of 1/32), so the boundaries (equal = not
stopped) are exact. Each test reports a new trial's values one at a time, as a run does, through
Optuna's own `report` / `should_prune`, and asserts the interval at which it was stopped; the
arithmetic that gives that interval is written next to it."""
from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from trainkit.hpo import make_pruner, pruner_problems
from trainkit.policies import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_of(pruner, history: list[list[float]], direction: str = "maximize", state=TrialState.COMPLETE):
    """An in-memory study holding finished trials with these per-interval values."""
    study = optuna.create_study(direction=direction, pruner=pruner)
    for values in history:
        study.add_trial(create_trial(state=state, value=values[-1] if state == TrialState.COMPLETE else None,
                                     intermediate_values={n: v for n, v in enumerate(values, 1)}))
    return study


def stopped_at(study, values: list[float]) -> int | None:
    """Reports `values` to a new trial one by one; the interval at which it was pruned (None: never)."""
    trial = study.ask()
    for n, value in enumerate(values, 1):
        trial.report(value, step=n)
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return n
    study.tell(trial, values[-1])
    return None


def bandit(**settings) -> BanditPolicy:
    return make_pruner("bandit", **settings)


# ------------------------------------------------------------------ bandit
HISTORY = [[0.5, 0.75, 0.875], [0.375, 0.625, 0.75]]      # best so far: A .5 .75 .875, B .375 .625 .75
C = [0.375, 0.625, 0.6875]                                 # its best so far: .375 .625 .6875


@pytest.mark.parametrize("settings, expected", [
    # slack_factor .25 (maximize: stop when best_own * 1.25 < best_all)
    ({"slack_factor": 0.25}, 1),                                      # 1: .375*1.25=.46875 < .5
    ({"slack_factor": 0.25, "delay_evaluation": 2}, 3),               # 2: .78125 >= .75; 3: .859375 < .875
    ({"slack_factor": 0.25, "evaluation_interval": 2}, None),         # only 2 applies: .78125 >= .75
    ({"slack_factor": 0.25, "evaluation_interval": 3}, 3),            # only 3 applies: .859375 < .875
    ({"slack_factor": 0.25, "evaluation_interval": 2, "delay_evaluation": 3}, None),   # first at 4: C has 3
    ({"slack_factor": 0.25, "evaluation_interval": 1, "delay_evaluation": 3}, 3),
    # slack_amount .125 (maximize: stop when best_own + .125 < best_all; equal is kept)
    ({"slack_amount": 0.125}, 3),                                     # 1: .5 = .5; 2: .75 = .75; 3: .8125 < .875
    ({"slack_amount": 0.25}, None),                                   # 3: .9375 >= .875
])
def test_bandit_maximize(settings, expected):
    assert stopped_at(study_of(bandit(**settings), HISTORY), C) == expected


def test_bandit_keeps_a_trial_exactly_at_the_slack():
    study = study_of(bandit(slack_factor=1.0), [[0.5]])
    assert stopped_at(study, [0.25]) is None         # .25 * 2 = .5, not < .5
    assert stopped_at(study, [0.21875]) == 1         # .4375 < .5


def test_bandit_compares_the_trials_best_so_far_not_its_last_value():
    # D's best so far: .75 .75 .75 -> 3: .75 * 1.25 = .9375 >= .875 (its last value .5 * 1.25 would be < .875)
    assert stopped_at(study_of(bandit(slack_factor=0.25), HISTORY), [0.75, 0.5, 0.5]) is None


def test_bandit_takes_the_best_trial_by_its_best_so_far():
    # E's best up to 2 is .875 (its value at 2 is .5); F at 2: .75 * 1.0625 = .796875 < .875
    # (against E's value at 2, .5, and F's own .75, F would be kept)
    study = study_of(bandit(slack_factor=0.0625, delay_evaluation=2), [[0.875, 0.5]])
    assert stopped_at(study, [0.25, 0.75]) == 2


@pytest.mark.parametrize("settings, values, expected", [
    # minimize, A best so far 1 .5 .25, B 1.5 .75 .5; stop when best_own > best_all * (1 + f) or > best_all + a
    ({"slack_factor": 0.5}, [1.25, 1.0, 0.5], 2),       # 1: 1.25 <= 1.5; 2: 1.0 > .5*1.5=.75
    ({"slack_factor": 0.5, "delay_evaluation": 3}, [1.25, 1.0, 0.5], 3),   # 3: .5 > .25*1.5=.375
    ({"slack_amount": 0.5}, [1.25, 1.0, 0.5], None),    # 1: 1.25 <= 1.5; 2: 1.0 <= 1.0; 3: .5 <= .75
    ({"slack_amount": 0.5}, [1.25, 1.0, 1.0], 3),       # 3: its best 1.0 > .75
])
def test_bandit_minimize(settings, values, expected):
    study = study_of(bandit(**settings), [[1.0, 0.5, 0.25], [1.5, 0.75, 0.5]], "minimize")
    assert stopped_at(study, values) == expected


def test_bandit_compares_running_and_pruned_trials_but_not_failed_ones():
    study = study_of(bandit(slack_factor=0.25), [[4.0]], state=TrialState.FAIL)
    assert stopped_at(study, [0.5]) is None                 # the failed trial's 4.0 does not count
    running = study.ask()
    running.report(1.0, step=1)                             # still running: 1.0 counts
    assert stopped_at(study, [0.75]) == 1                   # .75 * 1.25 = .9375 < 1.0
    assert stopped_at(study, [0.8125]) is None              # 1.015625 >= 1.0 (the pruned .75 is below it)


def test_a_nan_report_is_stopped_at_the_next_interval_where_the_policy_applies():
    study = study_of(bandit(slack_factor=0.25, delay_evaluation=2), HISTORY)
    assert stopped_at(study, [math.nan, 0.875, 0.875]) == 2     # NaN at 1, where the policy does not apply
    assert stopped_at(study, [0.875, 0.875, 0.875]) is None     # the same trial without the NaN: kept


# ------------------------------------------------------------------ median stopping
def test_median_stopping_compares_the_best_so_far_with_the_median_of_running_averages():
    policy = MedianStoppingPolicy()
    # at 1: running averages .5 .5 .25 -> median .5; .25 < .5
    assert stopped_at(study_of(policy, [[0.5, 0.75], [0.5, 0.625]]), [0.25, 0.375]) == 1
    # D at 2: averages .625 .5625 and its own .5 -> median .5625; its best .75 >= it (its last .25 would not be)
    assert stopped_at(study_of(MedianStoppingPolicy(delay_evaluation=2), [[0.5, 0.75], [0.5, 0.625]]),
                      [0.75, 0.25]) is None


def test_median_stopping_uses_running_averages_not_the_values_at_the_interval():
    # at 2: averages .75 .75 and E's (.5+.625)/2 = .5625 -> median .75; .625 < .75 (values at 2 would give .5)
    study = study_of(MedianStoppingPolicy(delay_evaluation=2), [[1.0, 0.5], [1.0, 0.5]])
    assert stopped_at(study, [0.5, 0.625]) == 2


def test_median_stopping_takes_the_median_not_the_mean():
    # at 1: .25 .5 1.0 and F's .5625 -> median (.5 + .5625) / 2 = .53125 <= .5625: kept (the mean .578125 would stop it)
    assert stopped_at(study_of(MedianStoppingPolicy(), [[0.25], [0.5], [1.0]]), [0.5625]) is None


@pytest.mark.parametrize("settings, values, expected", [
    ({}, [0.875, 0.875], None),                  # 1: median(1, 1, .875)=1, .875 <= 1; 2: median(.75,.875,.875)=.875
    ({}, [1.25, 1.0], 1),                        # 1: 1.25 > median(1, 1, 1.25) = 1
    ({"delay_evaluation": 2}, [1.25, 1.0], 2),   # 2: its best 1.0 > median(.75, .875, 1.125) = .875
    ({"evaluation_interval": 2, "delay_evaluation": 1}, [1.25, 1.0], 2),   # applies at 2 only
])
def test_median_stopping_minimize(settings, values, expected):
    study = study_of(MedianStoppingPolicy(**settings), [[1.0, 0.5], [1.0, 0.75]], "minimize")
    assert stopped_at(study, values) == expected


# ------------------------------------------------------------------ truncation selection
THREE = [[0.5, 0.75], [0.25, 0.5], [0.375, 0.625]]


@pytest.mark.parametrize("settings, values, expected", [
    # 4 trials at each interval; 50% -> the lowest 2; the trial is cut when at most 2 are as bad as it or worse
    ({"truncation_percentage": 50}, [0.3125, 0.75], 1),                           # 1: .25 and itself
    ({"truncation_percentage": 50, "delay_evaluation": 2}, [0.3125, 0.75], None),  # 2: all 4 are <= .75
    ({"truncation_percentage": 50, "delay_evaluation": 2}, [0.75, 0.375], 2),      # 2: only itself (value, not best)
    ({"truncation_percentage": 20}, [0.125, 0.125], None),                         # 4 * 20 // 100 = 0: nobody
    ({"truncation_percentage": 25}, [0.3125, 0.75], None),                         # 1: 2 > 4 * 25 // 100 = 1
    ({"truncation_percentage": 25}, [0.125, 0.75], 1),                             # 1: only itself
    ({"truncation_percentage": 25, "evaluation_interval": 2}, [0.125, 0.4375], 2),  # 2: only itself, < .5
])
def test_truncation_selection_maximize(settings, values, expected):
    assert stopped_at(study_of(TruncationSelectionPolicy(**settings), THREE), values) == expected


@pytest.mark.parametrize("values, expected", [
    ([2.5], 1),        # as bad or worse: 3.0 and itself = 2 <= 4 * 50 // 100
    ([1.5], None),     # 2.0, 3.0 and itself = 3
])
def test_truncation_selection_minimize(values, expected):
    study = study_of(TruncationSelectionPolicy(truncation_percentage=50), [[1.0], [2.0], [3.0]], "minimize")
    assert stopped_at(study, values) == expected


def test_truncation_selection_ties_protect():
    study = study_of(TruncationSelectionPolicy(truncation_percentage=50), [[0.5], [0.5], [0.5]])
    assert stopped_at(study, [0.5]) is None      # 4 as bad or worse > 2


# ------------------------------------------------------------------ settings
DEFAULTS = {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0, "evaluation_interval": None,
            "delay_evaluation": None, "slack_factor": None, "slack_amount": None, "truncation_percentage": None}


def problems(**settings) -> list[str]:
    return pruner_problems({**DEFAULTS, **settings}, DEFAULTS)


def test_bad_pruner_settings_are_named_by_key():
    assert problems(name="bandit", slack_factor=0.1, slack_amount=0.2) == [
        "hydra.sweeper.pruner.slack_factor, slack_amount: expected exactly one of them (a ratio or an absolute "
        "amount), got both (slack_factor=0.1, slack_amount=0.2)"]
    assert problems(name="bandit") == [
        "hydra.sweeper.pruner.slack_factor, slack_amount: expected exactly one of them (a ratio or an absolute "
        "amount), got neither"]
    assert problems(name="bandit", slack_amount=-0.5, evaluation_interval=0, delay_evaluation=-1) == [
        "hydra.sweeper.pruner.evaluation_interval: expected an integer >= 1, got 0",
        "hydra.sweeper.pruner.delay_evaluation: expected an integer >= 0, got -1",
        "hydra.sweeper.pruner.slack_amount: expected a number >= 0, got -0.5"]
    assert problems(name="truncation_selection", truncation_percentage=100) == [
        "hydra.sweeper.pruner.truncation_percentage: expected an integer from 1 to 99, got 100"]
    assert problems(name="truncation_selection") == [
        "hydra.sweeper.pruner.truncation_percentage: expected an integer from 1 to 99, got None"]
    assert problems(name="median_stopping", slack_factor=0.1) == [
        "hydra.sweeper.pruner.slack_factor: not a setting of the median_stopping pruner (it takes "
        "evaluation_interval, delay_evaluation), got 0.1"]
    assert problems(name="bogus")[0].startswith("hydra.sweeper.pruner.name: expected one of median, "
                                                "successive_halving, none, bandit, median_stopping, ")


def test_good_settings_have_no_problems_and_build_their_pruner():
    assert problems(name="bandit", slack_factor=0.1, delay_evaluation=5) == []
    assert problems(name="median_stopping") == [] and problems(name="median", n_warmup_steps=3) == []
    assert problems(name="truncation_selection", truncation_percentage=1, evaluation_interval=2) == []
    p = make_pruner(**{**DEFAULTS, "name": "truncation_selection", "truncation_percentage": 30, "delay_evaluation": 4})
    assert (type(p), p.truncation_percentage, p.evaluation_interval, p.delay_evaluation) == \
        (TruncationSelectionPolicy, 30, 1, 4)
    assert type(make_pruner(**DEFAULTS)) is optuna.pruners.MedianPruner
    with pytest.raises(ValueError, match="slack_factor, slack_amount: expected exactly one"):
        BanditPolicy(slack_factor=0.1, slack_amount=0.1)
