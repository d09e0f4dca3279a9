"""Warm start, as HyperDrive's `resume_from` / `resume_child_runs`: the finished trials of earlier
Optuna searches seed a new one (`hydra.sweeper.warm_start: [REF, ...]`).

A REF is an earlier search's sweep id (`trainkit sweeps list`: its study's COMPLETE and PRUNED
trials) or the run id of one of its trials (`trainkit runs list`: that trial alone). Each added
trial keeps its parameters, value and per-interval values, so it informs the sampler and the
pruners, and carries a `warm_start` user attribute saying where it came from; it does not count
toward the new search's `n_trials`. A trial whose parameters do not fit the new search space is
skipped, and named. Adding is idempotent: rerunning (resuming) the search adds nothing twice.

`prepare` reads and checks everything before the sweeper creates anything; `seed` adds the trials.
No Hydra, no TensorFlow; Optuna is imported where it is used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .hpo import storage
from .records.runs import list_runs
from .records.workspace import RunPaths, WorkspacePaths

MARK = "warm_start"            # the user attribute an added trial carries: {sweep, study, number, origin}
FINISHED = ("COMPLETE", "PRUNED")


@dataclass
class Source:
    """One `hydra.sweeper.warm_start` entry, resolved: an earlier study and the trials it gives."""

    ref: str                                   # as written in the config
    sweep: str                                 # the earlier search's sweep id (for messages and the mark)
    storage: str                               # its study's storage URL
    study: str                                 # its study's name
    numbers: tuple[int, ...] | None = None     # a trial's run: that trial's number; a sweep: None (all finished)
    trials: list = field(default_factory=list)   # the finished FrozenTrials it gives (set by `_load`)


def _one(ref: str, names: list[str], what: str) -> str | None:
    """The name equal to `ref`, else the only one starting with it; None when none does."""
    if ref in names:
        return ref
    matches = [n for n in names if n.startswith(ref)]
    if len(matches) > 1:
        raise LookupError(f"{len(matches)} {what}s start with {ref!r} ({', '.join(matches[:5])}): give more of the id")
    return matches[0] if matches else None


def _where(url: str) -> str:
    """A storage URL compared by what it points at (an SQLite file's resolved path)."""
    return str(Path(url[len("sqlite:///"):]).resolve()) if url.startswith("sqlite:///") else url


def _study_names(url: str) -> list[str]:
    import optuna

    return optuna.get_all_study_names(storage=storage(url))


def _from_sweep(ref: str, sweep_dir: Path) -> Source:
    db = sweep_dir / "study.db"
    if not db.exists():
        raise LookupError(f"sweep {sweep_dir.name} has no Optuna study ({db} is missing): only an Optuna "
                          f"search's trials can seed another, got {ref!r}")
    url = f"sqlite:///{db}"
    names = _study_names(url)
    name = sweep_dir.name if sweep_dir.name in names else (names[0] if len(names) == 1 else None)
    if name is None:
        raise LookupError(f"sweep {sweep_dir.name}: expected one study in {db}, found {names}")
    return Source(ref, sweep_dir.name, url, name)


def _from_run(ref: str, run) -> Source:
    import yaml

    paths = RunPaths(run.path)
    config = yaml.safe_load(paths.config.read_text()) if paths.config.exists() else {}
    trial = ((config or {}).get("run") or {}).get("trial") or {}
    if not trial.get("study"):
        raise LookupError(f"run {run.id} was not a trial of an Optuna search (its run.trial is empty), got {ref!r}")
    url = trial["storage"]
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise LookupError(f"run {run.id}: its search's study {url} no longer exists")
    sweep = (config.get("run") or {}).get("sweep") or trial["study"]
    return Source(ref, sweep, url, trial["study"], (int(trial["number"]),))


def locate(ref: str, ws: WorkspacePaths) -> Source:
    """The earlier search (or trial) a reference names; LookupError saying why not."""
    sweeps = ws.root / "sweeps"
    names = sorted(d.name for d in sweeps.iterdir() if d.is_dir()) if sweeps.is_dir() else []
    sweep = _one(ref, names, "sweep")
    if sweep is not None:
        return _from_sweep(ref, sweeps / sweep)
    runs = {r.id: r for r in list_runs(ws)}
    run = _one(ref, sorted(runs), "run")
    if run is not None:
        return _from_run(ref, runs[run])
    raise LookupError(f"expected the sweep id of an earlier Optuna search (`trainkit sweeps list`) or the run id of "
                      f"one of its trials (`trainkit runs list`), got {ref!r}: neither is in {ws.root}")


def _load(source: Source, direction: str, metric: str) -> list[str]:
    """Reads the source's finished trials into it; every problem (direction, metric, a trial not finished)."""
    import optuna

    study = optuna.load_study(study_name=source.study, storage=storage(source.storage))
    problems = []
    if study.direction.name.lower() != direction:
        problems.append(f"{source.sweep} was a {study.direction.name.lower()} search; this one is to {direction}")
    if study.user_attrs.get("metric") not in (None, metric):
        problems.append(f"{source.sweep} optimised {study.user_attrs['metric']!r}; this search optimises {metric!r}")
    trials = study.get_trials(deepcopy=False)
    chosen = [t for t in trials if source.numbers is None or t.number in source.numbers]
    for t in chosen:
        if source.numbers is not None and t.state.name not in FINISHED:
            problems.append(f"run {source.ref}: its trial {t.number} of {source.sweep} is {t.state.name}; "
                            f"expected a finished (COMPLETE or PRUNED) trial")
    if source.numbers is not None and not chosen:
        problems.append(f"run {source.ref}: trial {source.numbers[0]} is not in study {source.study!r}")
    source.trials = [t for t in chosen if t.state.name in FINISHED]
    return problems


def prepare(refs: list, ws: WorkspacePaths, own_storage: str, own_study: str, direction: str,
            metric: str) -> tuple[list[Source], list[str]]:
    """Every reference resolved and its trials read (nothing written), and every problem, keyed."""
    sources, problems = [], []
    if not isinstance(refs, list) or not all(isinstance(r, str) and r for r in refs):
        return [], [f"hydra.sweeper.warm_start: expected a list of sweep or run ids, got {refs!r}"]
    for i, ref in enumerate(refs):
        where = f"hydra.sweeper.warm_start[{i}]"
        try:
            source = locate(ref, ws)
        except LookupError as e:
            problems.append(f"{where}: {e.args[0]}")
            continue
        if _where(source.storage) == _where(own_storage) and source.study == own_study:
            problems.append(f"{where}: {ref!r} is this search itself (study {own_study!r}); to resume it, rerun "
                            f"the same command without warm_start")
            continue
        problems += [f"{where}: {p}" for p in _load(source, direction, metric)]
        sources.append(source)
    return sources, problems


def contains(distribution, value) -> bool:
    """Whether a value lies in an Optuna distribution (a choice among its choices, a number in [low, high])."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    whole = not isinstance(distribution, IntDistribution) or float(value).is_integer()
    return whole and distribution.low <= value <= distribution.high


def misfits(params: dict, space: dict) -> list[str]:
    """Why a trial's parameters do not fit a search space (empty: they fit)."""
    out = []
    for key, value in params.items():
        if key not in space:
            out.append(f"{key} is not in this search space")
        elif not contains(space[key], value):
            d = space[key]
            allowed = f"the choices {list(d.choices)}" if hasattr(d, "choices") else f"[{d.low}, {d.high}]"
            out.append(f"{key}={value!r} is outside {allowed}")
    return out


def origin(trial, source: Source) -> str:
    """Where a trial first ran: kept through chains of warm starts, so no trial is added twice."""
    return (trial.user_attrs.get(MARK) or {}).get("origin") or f"{_where(source.storage)}#{source.study}#{trial.number}"


def copy_of(trial, source: Source, space: dict):
    """The trial as one of this study's: the new search space's distributions, marked as warm-started."""
    import optuna

    mark = {"sweep": source.sweep, "study": source.study, "number": trial.number, "origin": origin(trial, source)}
    return optuna.trial.create_trial(
        state=trial.state, values=trial.values, params=dict(trial.params),
        distributions={k: space[k] for k in trial.params}, intermediate_values=dict(trial.intermediate_values),
        user_attrs={**trial.user_attrs, MARK: mark})


def seed(study, sources: list[Source], space: dict) -> list[str]:
    """Adds the sources' trials that fit `space` and are not there yet; one line per source and per skip."""
    have = {t.user_attrs[MARK]["origin"] for t in study.get_trials(deepcopy=False) if MARK in t.user_attrs}
    lines = []
    for source in sources:
        added = 0
        for trial in source.trials:
            wrong = misfits(trial.params, space)
            if wrong:
                lines.append(f"warm start: skipped trial {trial.number} of {source.sweep}: {'; '.join(wrong)}")
            elif origin(trial, source) not in have:
                study.add_trial(copy_of(trial, source, space))
                have.add(origin(trial, source))
                added += 1
        lines.append(f"warm start: {added} trial(s) added from {source.sweep} (study {source.study!r}, "
                     f"{len(source.trials)} finished)")
    return lines


def is_warm(trial) -> bool:
    """Whether a trial was added by a warm start (and so does not count toward n_trials)."""
    return MARK in trial.user_attrs
