"""trainkit's Hydra sweeper on current Optuna (4/5): `hydra/sweeper=trainkit_optuna`, usually via
`+hparams_search=<preset>`. The stock hydra-optuna-sweeper pins optuna<3.

Each trial is one trainkit run launched by the configured Hydra launcher (joblib: its own process,
`n_jobs` at once). The study lives in SQLite under the sweep directory, so rerunning the same
command resumes the search: trials left RUNNING by an interrupted search are marked FAIL and the
search goes on until `n_trials` trials have finished (COMPLETE or PRUNED). Runs report their
per-epoch validation metric to the study from inside training and stop early when pruned (the
pruners: trainkit.hpo.PRUNERS, Azure ML's early-termination policies among them). `warm_start`
first adds earlier searches' finished trials (trainkit.warm_start), which count for the sampler
and the pruners but not toward `n_trials`.

(No `from __future__ import annotations` here: Hydra's plugin scan executes this module outside
sys.modules, where dataclasses cannot resolve string annotations.)
"""

import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper

from trainkit.hpo import make_pruner, pruner_args, pruner_problems, storage

KINDS = ("interval", "log_interval", "int", "choice")


@dataclass
class PrunerConf:
    # median | successive_halving | none, or Azure ML's policies: bandit | median_stopping | truncation_selection
    name: str = "median"
    n_startup_trials: int = 2         # median: finished trials before pruning starts (other pruners ignore it)
    n_warmup_steps: int = 0           # median: epochs reported before a trial may be pruned (others ignore it)
    # Azure ML's policies (trainkit.policies); null keys belong to the pruners that take them:
    evaluation_interval: Optional[int] = None    # the three Azure policies: apply at every N-th report (null: 1)
    delay_evaluation: Optional[int] = None       # the same three: not before the N-th report (null: 0)
    slack_factor: Optional[float] = None         # bandit: allowed ratio to the best trial (this or slack_amount)
    slack_amount: Optional[float] = None         # bandit: allowed absolute distance to the best trial
    truncation_percentage: Optional[int] = None  # truncation_selection: stop the lowest N% (1..99)


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.trainkit_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    study_name: str = "search"        # the study (and sweep directory) name
    storage: Optional[str] = None     # null = sqlite:///<hydra.sweep.dir>/study.db
    direction: str = "maximize"       # maximize | minimize
    metric: str = "val_accuracy"      # final-epoch metric to optimise; also what runs report per epoch
    n_trials: int = 10                # finished (COMPLETE or PRUNED) trials the search aims for, resumes included
    n_jobs: int = 2                   # trials launched at once
    sampler: str = "tpe"              # tpe | random | grid (every combination of choices, Azure's GridParameterSampling)
    seed: int = 0                     # sampler seed
    pruner: PrunerConf = field(default_factory=PrunerConf)
    # key -> {type: interval|log_interval|int|choice, low, high, choices}
    params: Dict[str, Any] = field(default_factory=dict)
    # earlier searches' sweep ids (all their finished trials) or their trials' run ids (that trial):
    # added before sampling; they inform sampler and pruners but do not count toward n_trials
    warm_start: List[str] = field(default_factory=list)


def register() -> None:
    ConfigStore.instance().store(group="hydra/sweeper", name="trainkit_optuna", node=OptunaSweeperConf,
                                 provider="trainkit")


def check_params(params: dict) -> list[str]:
    """Every problem in a search space, with the key and what was expected."""
    problems = []
    for key, spec in params.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        where = f"hydra.sweeper.params.{key}"
        if kind not in KINDS:
            problems.append(f"{where}.type: expected one of {list(KINDS)}, got {kind!r}")
        elif kind == "choice" and not spec.get("choices"):
            problems.append(f"{where}.choices: expected a non-empty list, got {spec.get('choices')!r}")
        elif kind != "choice":
            low, high = spec.get("low"), spec.get("high")
            if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low >= high:
                problems.append(f"{where}: expected numbers low < high, got low={low!r} high={high!r}")
            elif kind == "log_interval" and low <= 0:
                problems.append(f"{where}.low: expected > 0 for log_interval, got {low!r}")
            elif spec.get("step") is not None and (kind == "log_interval" or not isinstance(spec["step"], (int, float))
                                                   or spec["step"] <= 0 or kind == "int" and spec["step"] != int(spec["step"])):
                problems.append(f"{where}.step: expected a number > 0 (a whole number for int; no step on a "
                                f"log_interval), got {spec['step']!r}")
    return problems


def grid_sampler(space: dict, seed: int):
    """Optuna's GridSampler, without its `study.stop()` once the grid is done (that only works inside
    `study.optimize`; the sweeper's ask/tell loop stops at the grid's size itself)."""
    import optuna

    class Grid(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return Grid(space, seed=seed)


def grid_space(params: dict) -> tuple[dict, list[str]]:
    """Azure's GridParameterSampling: every combination of choice values (Optuna's GridSampler)."""
    space, problems = {}, []
    for key, spec in params.items():
        if spec.get("type") != "choice":
            problems.append(f"hydra.sweeper.params.{key}.type: expected 'choice' with sampler=grid (a grid "
                            f"enumerates choices), got {spec.get('type')!r}")
        else:
            space[key] = [str(c) for c in spec["choices"]]
    return space, problems


def distribution(spec: dict):
    """The Optuna distribution of one `params` entry (a choice's values as strings)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind, step = spec["type"], spec.get("step")
    if kind == "choice":
        return CategoricalDistribution([str(c) for c in spec["choices"]])
    if kind == "int":
        return IntDistribution(int(spec["low"]), int(spec["high"]), step=int(step or 1))
    return FloatDistribution(float(spec["low"]), float(spec["high"]), log=kind == "log_interval",
                             step=float(step) if step and kind == "interval" else None)


def suggest(trial, params: dict) -> list[str]:
    """Hydra overrides for one trial's sampled values."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    out = []
    for key, spec in params.items():
        d = distribution(spec)
        if isinstance(d, CategoricalDistribution):
            value = trial.suggest_categorical(key, list(d.choices))
        elif isinstance(d, IntDistribution):
            value = trial.suggest_int(key, d.low, d.high, step=d.step)
        else:
            value = trial.suggest_float(key, d.low, d.high, log=d.log, step=d.step)
        out.append(f"{key}={value}")
    return out


def trial_settings(metric: str, pruner: dict) -> str:
    """What a run needs to report to its trial and rebuild the pruner: the inside of `run.trial={...}`
    after its study and trial (Hydra override syntax)."""
    args = ",".join(f"{k}:{v!r}" for k, v in pruner_args(pruner["name"], pruner).items())
    return (f"metric:{metric},pruner:{pruner['name']},n_startup_trials:{pruner['n_startup_trials']},"
            f"n_warmup_steps:{pruner['n_warmup_steps']},pruner_args:{{{args}}}")


class OptunaSweeper(Sweeper):
    def __init__(self, **cfg: Any):
        from omegaconf import OmegaConf

        self.cfg = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
                    for k, v in cfg.items()}

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def _problems(self) -> list[str]:
        c = self.cfg
        problems = check_params(dict(c["params"]))
        if c["sampler"] not in ("tpe", "random", "grid"):
            problems.append(f"hydra.sweeper.sampler: expected 'tpe', 'random' or 'grid', got {c['sampler']!r}")
        elif c["sampler"] == "grid":
            problems += grid_space(dict(c["params"]))[1]
        if c["direction"] not in ("maximize", "minimize"):
            problems.append(f"hydra.sweeper.direction: expected 'maximize' or 'minimize', got {c['direction']!r}")
        return problems + pruner_problems(dict(c["pruner"]), asdict(PrunerConf()))

    def _prepare(self) -> list:
        """Every setting checked and every warm-start source read, nothing written: ConfigError
        listing every problem, else the warm-start sources."""
        from omegaconf import OmegaConf

        from trainkit.errors import ConfigError
        from trainkit.records.workspace import WorkspacePaths
        from trainkit.warm_start import prepare

        c = self.cfg
        self.storage_url = c["storage"] or f"sqlite:///{self.sweep_dir / 'study.db'}"
        problems = self._problems()
        sources, more = [], []
        if c["warm_start"]:   # earlier searches are found in this workspace (a local one)
            ws = WorkspacePaths.at(OmegaConf.select(self.config, "workspace.root"))
            sources, more = prepare(c["warm_start"], ws, self.storage_url, c["study_name"], c["direction"], c["metric"])
        if problems + more:
            raise ConfigError(problems + more)
        return sources

    def _study(self):
        import optuna

        c = self.cfg
        sampler = (optuna.samplers.TPESampler(seed=c["seed"], n_startup_trials=2) if c["sampler"] == "tpe"
                   else grid_sampler(grid_space(dict(c["params"]))[0], c["seed"])
                   if c["sampler"] == "grid" else optuna.samplers.RandomSampler(seed=c["seed"]))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.trial_settings = trial_settings(c["metric"], c["pruner"])
        study = optuna.create_study(study_name=c["study_name"], storage=storage(self.storage_url), sampler=sampler,
                                    pruner=make_pruner(**c["pruner"]), direction=c["direction"], load_if_exists=True)
        if "metric" not in study.user_attrs:    # what warm starts from this study check against
            study.set_user_attr("metric", c["metric"])
        return study

    def _start(self):
        """The study, created (or resumed) and warm-started; a bad setting exits 2 having created nothing."""
        from optuna.trial import TrialState

        from trainkit.errors import ConfigError
        from trainkit.warm_start import seed

        try:
            sources = self._prepare()
        except ConfigError as e:   # say so plainly, exit 2, create nothing
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(e.exit_code)
        study = self._study()
        space = {k: distribution(spec) for k, spec in dict(self.cfg["params"]).items()}
        for line in seed(study, sources, space):
            print(line, flush=True)
        for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            study.tell(stale.number, state=TrialState.FAIL)   # left behind by an interrupted search
        return study

    def sweep(self, arguments: List[str]) -> Any:
        import optuna
        from optuna.trial import TrialState

        from trainkit.warm_start import is_warm

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = self._start()
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        done = lambda: sum(not is_warm(t) for t in study.get_trials(deepcopy=False, states=finished))  # noqa: E731
        metric, params = self.cfg["metric"], dict(self.cfg["params"])
        target = self.cfg["n_trials"]
        if self.cfg["sampler"] == "grid":   # a grid ends when every combination ran (Azure's too)
            target = min(target, math.prod(len(v) for v in grid_space(params)[0].values()))
        print(f"optuna study {study.study_name!r} in {self.storage_url}: {done()} finished trial(s) so far, "
              f"target {target}", flush=True)
        while done() < target:
            batch = [study.ask() for _ in range(min(self.cfg["n_jobs"], target - done()))]
            jobs = [list(arguments) + suggest(t, params)
                    + [f"run.trial={{study:{study.study_name},storage:'{self.storage_url}',"
                       f"trial_id:{t._trial_id},number:{t.number},{self.trial_settings}}}"] for t in batch]
            returns = self.launcher.launch(jobs, initial_job_idx=batch[0].number)
            for trial, ret in zip(batch, returns):
                self._tell(study, trial, ret, metric)
        best = study.best_trial if any(t.state == TrialState.COMPLETE for t in study.trials) else None
        if best is not None:
            warm = f" (warm-started from {best.user_attrs['warm_start']['sweep']})" if is_warm(best) else ""
            print(f"best trial {best.number}{warm}: {metric}={best.value:.4f} {best.params}", flush=True)
        return best

    @staticmethod
    def _tell(study, trial, ret, metric: str) -> None:
        from optuna.trial import TrialState

        from trainkit.session import job_value

        result = job_value(ret) or {}
        value = (result.get("metrics") or {}).get(metric)
        if result.get("state") == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif result.get("state") == "completed" and value is not None:
            study.tell(trial, value)
        else:
            study.tell(trial, state=TrialState.FAIL)
