"""Submitting a HyperDriveConfig as a trainkit Optuna sweep: the trials run the ScriptRunConfig with
each swept script argument taken from `${params.NAME}`; an hparams_search config written for the
search (<workspace>/azureml/conf/hparams_search/<study>.yaml) carries the sampler, the space (migrate's
param_spec), the primary metric and goal, the trial counts, the policy as the sweeper's pruner of the
same rules (migrate's pruner_of) and the warm start (resume_from / resume_child_runs)."""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from . import _datasets, _mapping
from ._submit import arguments_override, plan_script, quiet, stage
from ._tk import note, unsupported

SEARCH_INSTEAD = "choice(...) or uniform/loguniform/quniform/qloguniform/randint (the sweeper's choice, interval, " \
                 "log_interval and int)"


def space(parameter_space: dict, names: dict[str, str]) -> tuple[dict, list[str]]:
    """{params.NAME: the sweeper's spec} of a HyperDrive parameter space, and notes on what differs."""
    from trainkit.migrate.emit.sweeps import param_spec
    from trainkit.migrate.values import Sdk

    by_option = {option: pname for pname, option in names.items()}
    out, notes = {}, []
    for key, expr in parameter_space.items():
        option = key if str(key).startswith("-") else f"--{key}"
        kind, args = getattr(expr, "kind", None), list(getattr(expr, "args", []))
        spec, why = param_spec(Sdk(kind or type(expr).__name__, args=args)) if kind else (None, None)
        if spec is None:
            unsupported(f"HyperDrive parameter {key!r}: {expr!r}", SEARCH_INSTEAD)
        if why:
            notes.append(f"{key}: {why}")
        out[f"params.{by_option[option]}"] = spec
    return out, notes


def defaults(items_before: list, sweep: dict, names: dict[str, str]) -> dict:
    """params' values outside a trial: the script's own argument when it had one, else the first of the space."""
    out = {}
    for pname, option in names.items():
        given = [items_before[i + 1] for i, a in enumerate(items_before[:-1]) if a == option]
        spec = sweep[f"params.{pname}"]
        out[pname] = given[0] if given else (spec["choices"][0] if spec["type"] == "choice" else spec["low"])
    return out


def warm_start(hd) -> list[str]:
    """Sweep ids of `resume_from` HyperDrive runs and run ids of `resume_child_runs`."""
    refs = []
    for value in _listed(hd.resume_from) + _listed(hd.resume_child_runs):
        refs.append(str(value.id if hasattr(value, "id") else value))
    return list(dict.fromkeys(refs))


def _listed(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def search_config(hd, study: str, params: dict, base: dict) -> tuple[dict, list[str]]:
    """The hparams_search config (global package) of a HyperDriveConfig, and its notes."""
    from .train.hyperdrive.policy import NoTerminationPolicy

    pruner, why = hd.policy.pruner() if hd.policy is not None else NoTerminationPolicy().pruner()
    sampler = hd.hyperparameter_sampling.sampler
    n_jobs = int(hd.max_concurrent_runs or hd.max_total_runs)
    sweeper = {"study_name": study, "metric": hd.primary_metric_name,
               "direction": "maximize" if hd.primary_metric_goal.value == "MAXIMIZE" else "minimize",
               "n_trials": hd.max_total_runs, "n_jobs": n_jobs, "sampler": sampler,
               "seed": secrets.randbelow(2**31), "pruner": pruner, "params": params, "warm_start": warm_start(hd)}
    notes = [why] if why else []
    if sampler == "tpe":
        notes.append("BayesianParameterSampling: Optuna's TPE sampler (Azure used Gaussian processes)")
    data = {"defaults": [{"override /hydra/sweeper": "trainkit_optuna"}], "params": base,
            "hydra": {"sweeper": sweeper, "launcher": {"n_jobs": n_jobs}}}
    return data, notes


def write_search(ws_root: Path, study: str, data: dict) -> Path:
    import yaml

    from trainkit.fsutil import atomic_write_text
    from trainkit.migrate.emit import escaped

    path = _datasets.conf_dir(ws_root) / "hparams_search" / f"{study}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "# @package _global_\n# HyperDriveConfig submitted from a notebook.\n"
                      + yaml.safe_dump(escaped(data), sort_keys=False))
    return path


def submit_sweep(experiment, hd, tags: dict):
    """exp.submit(HyperDriveConfig): a trainkit sweep, returned as a HyperDriveRun."""
    from trainkit.api.submit import sweep

    from .train.hyperdrive.run import HyperDriveRun

    ws, src = experiment.workspace, hd.source_run_config
    plan = plan_script(experiment, src)
    items, names = _mapping.sweep_items(plan.items, hd.hyperparameter_sampling.parameter_space)
    params, notes = space(hd.hyperparameter_sampling.parameter_space, names)
    study = f"{experiment._trainkit_name}-hd-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(2)}"
    data, more = search_config(hd, study, params, defaults(plan.items, params, names))
    write_search(ws._tk.root, study, data)
    code, fixes = stage(Path(src.source_directory or "."), plan.keras, ws._tk.root)
    for line in plan.notes + notes + more + [f"fixed in the runs' copy of the code: {f}" for f in fixes]:
        note(line)
    tag_overrides, _ = _mapping.tags(tags)
    with quiet():
        handle = sweep(*plan.overrides, arguments_override(items), f"entry.source_dir={_mapping.quote(code)}",
                       *tag_overrides, f"+hparams_search={study}", *_datasets.searchpath(ws._tk.root),
                       project=None, wait=False, workspace=ws._tk)
    (handle.path / "azureml.json").write_text(json.dumps({
        "study": study, "primary_metric": hd.primary_metric_name, "goal": hd.primary_metric_goal.value,
        "options": names, "fixes": fixes, "notes": plan.notes + notes + more, "tags": tags}, indent=2))
    return HyperDriveRun._of(experiment, handle, hd)
