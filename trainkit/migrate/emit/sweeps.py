"""HyperDrive: each `HyperDriveConfig` becomes its own `conf/hparams_search/NAME.yaml` for trainkit's
Optuna sweeper: its sampling, search space (swept script arguments become `params.*` of the
experiment), primary metric and goal, trial counts, Azure's early-termination policy as the
sweeper's pruner of the same name and semantics, and warm start (`resume_from`, `resume_child_runs`)
as `hydra.sweeper.warm_start`. `exp.submit(hd)` is the sweep; its best run is `trainkit sweeps best`."""
from __future__ import annotations

import math

from ..values import Derived, Sdk, Unknown
from . import Command, Interp, Migration, slug
from .experiments import experiment

SAMPLERS = {"RandomParameterSampling": "random", "GridParameterSampling": "grid", "BayesianParameterSampling": "tpe"}


def emit(m: Migration) -> None:
    configs = [s for s in m.of("HyperDriveConfig") if s.name == "HyperDriveConfig"]
    m.each(configs, search)
    m.each(configs, warm_start)
    m.each(configs, write)
    m.each(m.of("get_best_run_by_primary_metric", "get_children_sorted_by_primary_metric", "get_children"), best)


class Search:
    def __init__(self, name: str, hd: Sdk, exp, data: dict, notes: list[str]):
        self.name, self.hd, self.exp, self.data, self.notes = name, hd, exp, data, notes

    @property
    def sweeper(self) -> dict:
        return self.data["hydra"]["sweeper"]


def search(m: Migration, hd: Sdk) -> None:
    run_config = hd.arg("run_config") or hd.arg("estimator")
    if not isinstance(run_config, Sdk) or run_config.name not in ("ScriptRunConfig", "TensorFlow", "Estimator"):
        m.unmapped(hd, "HyperDriveConfig: its run_config is not a ScriptRunConfig (or estimator) found in the code")
        return
    exp = experiment(m, run_config)
    name = m.unique("hparams_search", f"{exp.name}-{hd.var or 'hyperdrive'}", hd.where, hd.where)
    notes: list[str] = []
    sampling = hd.arg("hyperparameter_sampling")
    sampler = SAMPLERS.get(sampling.name, "tpe") if isinstance(sampling, Sdk) else "tpe"
    if isinstance(sampling, Sdk):
        if sampler == "tpe":
            notes.append("BayesianParameterSampling: Optuna's TPE sampler (Bayesian optimisation with a "
                         "tree-structured Parzen estimator where Azure used Gaussian processes)")
        m.mark(sampling, f"hydra.sweeper.sampler={sampler}")
    space = sampling.arg("parameter_space", 0) if isinstance(sampling, Sdk) else None
    params = space_of(m, exp, space if isinstance(space, dict) else {}, notes)
    goal = hd.arg("primary_metric_goal")
    direction = "minimize" if isinstance(goal, Sdk) and goal.name.upper().endswith("MINIMIZE") else "maximize"
    metric = hd.arg("primary_metric_name")
    sweeper = {"study_name": name, "metric": metric if isinstance(metric, str) else "val_accuracy",
               "direction": direction, "n_trials": count(hd.arg("max_total_runs"), 10),
               "n_jobs": count(hd.arg("max_concurrent_runs"), 2), "sampler": sampler,
               "pruner": policy(m, hd.arg("policy"), notes), "params": params}
    if isinstance(hd.arg("max_duration_minutes"), (int, float)):
        notes.append(f"max_duration_minutes={hd.arg('max_duration_minutes')}: not enforced by the sweeper "
                     "(stop it with Ctrl-C; rerunning the command resumes the study)")
    data = {"defaults": [{"override /hydra/sweeper": "trainkit_optuna"}],
            "hydra": {"sweep": {"dir": Interp("${workspace.root}/sweeps/${hydra.sweeper.study_name}")}, "sweeper": sweeper}}
    m.remember("search", hd, Search(name, hd, exp, data, notes))
    if isinstance(goal, Sdk):
        m.mark(goal, f"hydra.sweeper.direction={direction}")


def space_of(m: Migration, exp, space: dict, notes: list[str]) -> dict:
    """The sweeper's params of a HyperDrive parameter space; each swept argument read from params."""
    params = {}
    for key, dist in space.items():
        spec, note = param_spec(dist)
        if note:
            notes.append(f"{key}: {note}")
        if not spec:
            if isinstance(dist, Sdk):
                m.unmapped(dist, note or "not a sampling expression")
            continue
        option = str(key) if str(key).startswith("-") else f"--{key}"   # HyperDrive passes `--KEY VALUE`
        pname = exp.param(option, first(spec))
        params[f"params.{pname}"] = spec
        m.mark(dist, f"hydra.sweeper.params.params.{pname}: {spec}")
    return params


def param_spec(dist) -> tuple[dict | None, str | None]:
    """The Optuna sweeper's spec of one HyperDrive parameter expression, and what differs."""
    if not isinstance(dist, Sdk):
        return None, f"not a sampling expression: {getattr(dist, 'text', dist)!r}"
    args, kind = dist.args, dist.method
    try:
        if kind == "choice":
            values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
            if not values or any(isinstance(v, (Unknown, Sdk)) for v in values):
                return None, "choice(...): its values are not literals"
            return {"type": "choice", "choices": list(values)}, None
        if kind == "uniform":
            return {"type": "interval", "low": float(args[0]), "high": float(args[1])}, None
        if kind == "loguniform":
            return ({"type": "log_interval", "low": math.exp(float(args[0])), "high": math.exp(float(args[1]))},
                    "loguniform(a, b) takes natural-log bounds: low=e^a, high=e^b")
        if kind == "quniform":
            low, high, q = float(args[0]), float(args[1]), float(args[2])
            if q == int(q) and low == int(low) and high == int(high):
                return {"type": "int", "low": int(low), "high": int(high), "step": int(q)}, None
            return {"type": "interval", "low": low, "high": high, "step": q}, None
        if kind == "qloguniform":
            return ({"type": "log_interval", "low": math.exp(float(args[0])), "high": math.exp(float(args[1]))},
                    f"qloguniform's q={args[2]} is not kept (Optuna does not step a log scale)")
        if kind == "randint":
            return {"type": "int", "low": 0, "high": int(args[0]) - 1}, None
    except (IndexError, TypeError, ValueError):
        return None, f"{kind}: its arguments are not literal numbers"
    return None, (f"{kind}: trainkit's Optuna sweeper samples choice, uniform, loguniform, quniform and randint: "
                  "give the parameter a choice or an interval")


def first(spec: dict):
    return spec["choices"][0] if spec["type"] == "choice" else spec["low"]


def count(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


def policy(m: Migration, pol, notes: list[str]) -> dict:
    """Azure's early-termination policy as the sweeper's pruner of the same semantics."""
    from .policies import pruner_of

    if not isinstance(pol, Sdk):
        return {"name": "none"}
    pruner, note = pruner_of(pol)
    if note:
        notes.append(note)
    m.mark(pol, f"hydra.sweeper.pruner={pruner}")
    return pruner


def warm_start(m: Migration, hd: Sdk) -> None:
    """`resume_from=[earlier runs]` / `resume_child_runs=[...]`: the earlier sweeps' trials first."""
    me = m.recall("search", hd)
    if me is None:
        return
    sources = []
    for key in ("resume_from", "resume_child_runs"):
        value = hd.arg(key)
        if isinstance(value, Derived):    # runs picked at run time from these sweeps (best_of(sweep, n=3) ...)
            found = [s for s in (sweep_of(m, x) for x in value.sdks) if s is not None]
            sources += [s.name for s in found]
            if found:
                me.notes.append(f"{key}: runs chosen at run time from {', '.join(s.name for s in found)}: warm-started "
                                "from all their finished trials (list chosen trials' run ids in "
                                "hydra.sweeper.warm_start to take only those)")
                continue
        for ref in listed(value):
            earlier = sweep_of(m, ref)
            if earlier is not None:
                sources.append(earlier.name)
            else:
                me.notes.append(f"{key}: {getattr(ref, 'text', None) or getattr(ref, 'name', ref)}: not a sweep "
                                "submitted in these files: add its study to hydra.sweeper.warm_start yourself")
    if sources:
        me.sweeper["warm_start"] = list(dict.fromkeys(sources))


def listed(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def sweep_of(m: Migration, ref) -> "Search | None":
    """The search a run object came from: `exp.submit(hd)` or one of its children."""
    node = ref if isinstance(ref, Sdk) else None
    while node is not None:
        if node.name.endswith(".submit"):
            return m.recall("search", node.arg("config", 0))
        node = node.parent
    return None


def write(m: Migration, hd: Sdk) -> None:
    s = m.recall("search", hd)
    if s is None:
        return
    rel = f"conf/hparams_search/{s.name}.yaml"
    m.project.yaml(rel, [f"Migrated from {hd.where} (HyperDriveConfig):",
                         f"trainkit train -m +experiment={s.exp.name} +hparams_search={s.name}",
                         f"The script logs {s.sweeper['metric']!r} (run.log): each value is reported to the trial "
                         "(the pruner's intervals).", *s.notes], s.data, package_global=True)
    for n in s.notes:
        m.project.note(f"{rel}: {n}")
    command = f"trainkit train -m +experiment={s.exp.name} +hparams_search={s.name}"
    m.project.commands.append(Command("sweep", command, f"{s.sweeper['n_trials']} trials, {s.sweeper['n_jobs']} at "
                                      f"once, {s.sweeper['metric']} ({s.sweeper['direction']})"))
    m.mark(hd, f"{rel} (+hparams_search={s.name}): metric {s.sweeper['metric']} ({s.sweeper['direction']}), "
               f"{s.sweeper['n_trials']} trials, {s.sweeper['n_jobs']} at once"
               + (f", warm start from {s.sweeper['warm_start']}" if s.sweeper.get("warm_start") else ""))
    for sub in [x for x in m.of("submit") if x.arg("config", 0) is hd]:
        m.mark(sub, f"the sweep: `{command}`")


def best(m: Migration, sdk: Sdk) -> None:
    s = sweep_of(m, sdk)
    if s is None:
        return
    mode = "min" if s.sweeper["direction"] == "minimize" else "max"
    base = f"trainkit sweeps best {s.name} --metric {s.sweeper['metric']} --mode {mode}"
    if sdk.method == "get_best_run_by_primary_metric":
        registers = [r for r in m.of("register_model") if r.parent is sdk or (r.parent is not None and
                                                                               r.parent.parent is sdk)]
        names = [r.arg("model_name", 0) for r in registers if isinstance(r.arg("model_name", 0), str)]
        command = base + (f" --register {slug(names[0])}" if names else "")
        m.mark(sdk, f"`{base}`")
        for r in registers:
            model = r.arg("model_name", 0)
            m.mark(r, f"`{base} --register {slug(model) if isinstance(model, str) else 'NAME'}` (the best trial's "
                      "model, registered with ONNX)")
        m.project.commands.append(Command("best", command, "the best trial" + (", registered" if names else "")))
    else:
        m.mark(sdk, f"`trainkit sweeps show {s.name}` (the trials, best first by {s.sweeper['metric']})")
