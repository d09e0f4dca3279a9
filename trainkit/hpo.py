"""Optuna pieces shared by the sweeper (in the Hydra process) and the runs (in worker processes).

The pruner is not stored with an Optuna study, so a run rebuilds the sweeper's pruner from its
`run.trial` settings before asking whether to stop."""
from __future__ import annotations

PRUNERS = ("median", "successive_halving", "none")


PRUNED_EXIT = 75          # a script whose trial was pruned exits with this (the run ends `pruned`)


class Pruned(SystemExit):
    """The Optuna pruner stopped this trial's run early: a normal outcome, not a failure. Raised by
    `trainkit.run.Run.report` (in a script it exits the script at once, cleanly, with PRUNED_EXIT; in
    trainkit's loop the worker ends the run as `pruned`)."""

    def __init__(self, message: str):
        super().__init__(PRUNED_EXIT)
        self.message = message

    def __str__(self) -> str:
        return self.message


def make_pruner(name: str, n_startup_trials: int = 2, n_warmup_steps: int = 0):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def storage(url: str):
    """SQLite-friendly RDB storage: writers wait for the lock instead of failing at once."""
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def live_trial(trial: dict):
    """The running Optuna trial a run belongs to, with the sweeper's pruner."""
    import optuna

    study = optuna.load_study(study_name=trial["study"], storage=storage(trial["storage"]),
                              pruner=make_pruner(trial["pruner"], trial["n_startup_trials"], trial["n_warmup_steps"]))
    return optuna.trial.Trial(study, trial["trial_id"])
