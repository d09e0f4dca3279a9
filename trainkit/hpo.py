"""Optuna pieces shared by the sweeper (in the Hydra process) and the runs (in worker processes).

The pruner is not stored with an Optuna study, so a run rebuilds the sweeper's pruner from its
`run.trial` settings before asking whether to stop."""
from __future__ import annotations

from importlib import import_module

PRUNERS = {   # hydra.sweeper.pruner.name -> (the class, lazily imported; the hydra.sweeper.pruner keys it takes)
    "median": ("optuna.pruners:MedianPruner", ("n_startup_trials", "n_warmup_steps")),
    "successive_halving": ("optuna.pruners:SuccessiveHalvingPruner", ()),
    "none": ("optuna.pruners:NopPruner", ()),
    "bandit": ("trainkit.policies:BanditPolicy", ("slack_factor", "slack_amount", "evaluation_interval",
                                                  "delay_evaluation")),
    "median_stopping": ("trainkit.policies:MedianStoppingPolicy", ("evaluation_interval", "delay_evaluation")),
    "truncation_selection": ("trainkit.policies:TruncationSelectionPolicy", ("truncation_percentage",
                                                                            "evaluation_interval", "delay_evaluation")),
}

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


def pruner_class(name: str) -> type:
    module, _, cls = PRUNERS[name][0].partition(":")
    return getattr(import_module(module), cls)


def pruner_args(name: str, settings: dict) -> dict:
    """The settings the `name` pruner takes (unset ones left to its own defaults)."""
    return {k: settings[k] for k in PRUNERS[name][1] if settings.get(k) is not None}


def pruner_problems(settings: dict, defaults: dict) -> list[str]:
    """Every problem in `hydra.sweeper.pruner`. `defaults`: the schema's values; a key that is null
    there belongs to the pruners that take it (setting it for another is an error)."""
    where, name = "hydra.sweeper.pruner", settings.get("name")
    if name not in PRUNERS:
        return [f"{where}.name: expected one of {', '.join(PRUNERS)}, got {name!r}"]
    foreign = [f"{where}.{k}: not a setting of the {name} pruner (it takes {', '.join(PRUNERS[name][1]) or 'none'}), "
               f"got {v!r}" for k, v in settings.items() if k not in PRUNERS[name][1] and k in defaults
               and defaults[k] is None and v is not None]
    own = getattr(pruner_class(name), "problems", None)
    return foreign + [f"{where}.{p}" for p in (own(pruner_args(name, settings)) if own else [])]


def make_pruner(name: str, **settings):
    """The named pruner, built from the `hydra.sweeper.pruner` settings it takes (others are ignored)."""
    return pruner_class(name)(**pruner_args(name, settings))


def storage(url: str):
    """SQLite-friendly RDB storage: writers wait for the lock instead of failing at once."""
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def live_trial(trial: dict):
    """The running Optuna trial a run belongs to, with the sweeper's pruner."""
    import optuna

    settings = {"n_startup_trials": trial.get("n_startup_trials"), "n_warmup_steps": trial.get("n_warmup_steps"),
                **(trial.get("pruner_args") or {})}
    study = optuna.load_study(study_name=trial["study"], storage=storage(trial["storage"]),
                              pruner=make_pruner(trial["pruner"], **settings))
    return optuna.trial.Trial(study, trial["trial_id"])
