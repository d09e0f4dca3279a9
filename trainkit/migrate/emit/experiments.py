"""Experiments: each `ScriptRunConfig` (or `azureml.train.dnn.TensorFlow` / `Estimator`) becomes
`conf/experiment/NAME.yaml` running its script unchanged (`entry=script`) with its arguments, dataset,
environment, compute and distribution; its `source_directory` (as the notebook leaves it: files it
copies or writes there included) is copied into the project. The script's epochs/steps argument
becomes `params.*`, so the local smoke command can shorten the run."""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..files import Made
from ..values import DatasetPath, Sdk, Unknown, literal_text
from . import Command, Interp, Migration, slug
from .computes import THIS_MACHINE, compute_of, is_cluster, takes_sizes
from .datasets import dataset_of
from .environments import environment_of

RUNNERS = ("ScriptRunConfig", "TensorFlow", "Estimator")
SHORTEN = (("epochs", ("--epochs", "--num-epochs", "--num_epochs", "--n-epochs", "--n_epochs", "--epoch",
                       "--training-epochs", "--max-epochs", "--max_epochs", "--nb-epoch", "--nb_epoch"), 1),
           ("steps", ("--steps", "--num-steps", "--num_steps", "--training-steps", "--train-steps", "--max-steps",
                      "--max_steps", "--training_iteration", "--iterations", "--num-iterations"), 20))
IMPORTS_AZUREML = re.compile(r"^\s*(from|import)\s+azureml\b", re.M)


@dataclass
class Experiment:
    """One experiment being written: its config body, and what its commands need."""

    name: str
    sdk: Sdk
    folder: str                                   # the project folder its source_directory became
    script: str
    body: dict = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    compute: str | None = None
    keras: str = "3"
    keras_pinned: bool = False                    # the environment asked for Keras 3 (TensorFlow 2.16+): kept
    tf1: bool = False                             # written for TensorFlow 1.x: runs once its scripts are ported
    smoke: list[str] = field(default_factory=list)   # overrides that shorten the run (params.epochs=1)
    cannot_shorten: str = ""
    scripts: dict[str, str] = field(default_factory=dict)   # .py files of its folder: project path -> text

    @property
    def args(self) -> list:
        return self.body["entry"]["arguments"]

    def param(self, option: str, default) -> str:
        """The script argument `option` taken from `${params.NAME}` (added when not passed); its
        current literal value becomes the param's default, once (never a self-reference)."""
        pname = slug(option.lstrip("-")).replace("-", "_").replace(".", "_")
        ref = Interp("${params." + pname + "}")
        args = self.args
        for i, a in enumerate(args):
            if a == option and i + 1 < len(args):
                if not isinstance(args[i + 1], Interp):
                    self.params.setdefault(pname, literal(args[i + 1]))
                    args[i + 1] = ref
                break
            if isinstance(a, str) and a.startswith(option + "="):
                self.params.setdefault(pname, literal(a.split("=", 1)[1]))
                args[i] = Interp(f"{option}=${{params.{pname}}}")
                break
        else:
            args += [option, ref]
            self.params.setdefault(pname, default)
        return pname


def emit(m: Migration) -> None:
    m.each([s for s in m.of(*RUNNERS) if s.name in RUNNERS], experiment)


def experiment(m: Migration, sdk: Sdk) -> Experiment:
    known = m.recall("experiment", sdk)
    if known:
        return known
    estimator = sdk.name != "ScriptRunConfig"
    script = sdk.arg("entry_script" if estimator else "script", 1 if estimator else 1)
    script = script if isinstance(script, str) else None
    submits = [s for s in m.of("submit") if s.arg("config", 0) is sdk]
    searched = [s for s in m.of("submit") if s.arg("config", 0) in
                [h for h in m.of("HyperDriveConfig") if (h.arg("run_config") or h.arg("estimator")) is sdk]]
    first = (submits or searched or [None])[0]
    exp_name = experiment_name(first)
    name = m.unique("experiment", exp_name or Path(script or "script").stem, sdk.where, sdk.where)
    folder, files = source_folder(m, sdk, name)
    exp = Experiment(name, sdk, folder, script or "TODO.py")
    m.remember("experiment", sdk, exp)
    m.project.experiments.append(name)
    entry: dict = {"source_dir": folder, "script": exp.script, "arguments": []}
    exp.body = {"defaults": [], "entry": entry}
    build(m, exp, estimator, files, exp_name)
    for s in submits:
        m.mark(s, f"the run: `trainkit train +experiment={name}` (or tk.submit('+experiment={name}'))")
        if s.parent is not None:
            m.mark(s.parent, f"run.experiment={slug(exp_name)}" if exp_name else "run.experiment")
    return exp


def experiment_name(submit: Sdk | None) -> str | None:
    if submit is None or submit.parent is None:
        return None
    exp = submit.parent
    name = exp.arg("name", 1)
    return name if isinstance(name, str) else None


def build(m: Migration, exp: Experiment, estimator: bool, files: dict[str, Made], exp_name: str | None) -> None:
    sdk, entry, defaults = exp.sdk, exp.body["entry"], exp.body["defaults"]
    entry["arguments"], datasets = arguments(m, sdk, estimator)
    if datasets:
        option, version = datasets[0]
        defaults.append({"override /dataset": option})
        if version:
            exp.body["dataset"] = {"version": version}
        for extra in datasets[1:]:
            m.project.note(f"{sdk.where}: a run takes one dataset in trainkit: {extra[0]} is not mounted "
                           f"(only {option} is ${{dataset.path}})")
    datapaths(m, exp)
    env = environment(m, exp, estimator)
    if env:
        defaults.append({"override /environment": env})
    rc = sdk.arg("run_config") if isinstance(sdk.arg("run_config"), Sdk) else None
    exp.compute = compute_of(m, sdk.arg("compute_target", 3) or sdk.attrs.get("run_config.target")
                             or (rc.arg("target") if rc is not None else None))
    if exp.compute:
        defaults.append({"override /compute": exp.compute})
    from .distribution import distribution

    dist, sizes = distribution(m, sdk, estimator)
    if dist:
        defaults.append({"override /distribution": dist[0]})
        exp.body["distribution"] = dist[1]
    if sizes and is_cluster(m, exp.compute) and takes_sizes(m):
        exp.body["compute"] = sizes
    defaults += [{"override /entry": "script"}, "_self_"]
    scripts(m, exp, files)
    shorten(m, exp)
    registration(m, exp)
    if exp_name:
        exp.body["run"] = {"experiment": slug(exp_name)}
    exp.header = [f"Migrated by `trainkit migrate` from {sdk.where} ({sdk.name}).",
                  f"Run it from this project's directory: trainkit train +experiment={exp.name}"]
    dist_text = f", distribution={dist[0]}" if dist else ""
    m.mark(sdk, f"conf/experiment/{exp.name}.yaml (+experiment={exp.name}): entry=script "
                f"{exp.folder}/{exp.script}{dist_text}")
    if sdk.arg("framework_version"):
        exp.header.append(f"framework_version {sdk.arg('framework_version')}: trainkit runs TensorFlow 2.21 "
                          f"(Keras {exp.keras})")


def source_folder(m: Migration, sdk: Sdk, name: str) -> tuple[str, dict[str, Made]]:
    """The project folder of the run's source_directory, and its files (copied into the project)."""
    folder = sdk.arg("source_directory", 0)
    folder = folder if isinstance(folder, str) else "."
    path = m.files.absolute(folder, sdk.home)
    base = os.path.basename(path.rstrip("/")) if folder not in (".", "./", "") else "src"
    option = m.unique("folder", base, path, sdk.where)
    files = {rel: made for rel, made in m.files.tree(path, sdk.where).items()
             if not rel.endswith(".ipynb") and not rel.startswith(("outputs/", "logs/"))}
    if not files:
        m.project.problems.append(f"conf/experiment/{name}.yaml: source_directory {folder!r} ({path}) holds no files "
                                  "(not on disk, nor copied or written there by the notebook): put the script into "
                                  f"{option}/")
    for rel, made in files.items():
        m.project.copies[f"{option}/{rel}"] = made
    return option, files


def arguments(m: Migration, sdk: Sdk, estimator: bool) -> tuple[list, list]:
    """The script's arguments as strings (a dataset's mount -> ${dataset.path}), and the datasets used."""
    raw = sdk.arg("script_params") if estimator else sdk.arg("arguments", 2)
    if raw is not None and not isinstance(raw, (list, dict)):
        text = raw.text if isinstance(raw, Unknown) else type(raw).__name__
        m.project.note(f"{sdk.where}: the script's arguments are not literal ({text}): entry.arguments is empty: "
                       "fill it in (TODO)")
        return ["TODO:" + text], []
    if isinstance(raw, dict):
        raw = [x for k, v in raw.items() for x in ((k, v) if v not in ("", None) else (k,))]
    out, datasets = [], []
    for value in raw if isinstance(raw, list) else []:
        ds = value.dataset if isinstance(value, DatasetPath) else value.root() if isinstance(value, Sdk) else None
        found = dataset_of(m, ds) if ds is not None else None
        if found:
            datasets.append(found)
            out.append(Interp("${dataset.path}"))
        elif isinstance(value, str) and downloaded(m, value, sdk) is not None:
            datasets.append(downloaded(m, value, sdk))    # the folder the notebook downloaded a dataset into
            out.append(Interp("${dataset.path}"))
        elif isinstance(value, Sdk) and value.root().name.startswith(("DataPath", "DataReference")):
            out.append(value.root())            # a datastore path (an earlier run's checkpoints): a param, below
        elif isinstance(value, (Unknown, Sdk, DatasetPath)) or isinstance(value, (list, dict)):
            text = value.text if isinstance(value, Unknown) else getattr(value, "name", type(value).__name__)
            out.append(f"TODO:{text}")
            m.project.note(f"an argument of {sdk.where} is not a literal: {text} (TODO in entry.arguments)")
        else:
            out.append(str(value).lower() if isinstance(value, bool) else str(value))
    for inp in sdk.arg("inputs") or [] if isinstance(sdk.arg("inputs"), list) else []:
        ds = inp.dataset if isinstance(inp, DatasetPath) else inp.root() if isinstance(inp, Sdk) else None
        found = dataset_of(m, ds) if ds is not None else None
        if found and found not in datasets:
            datasets.append(found)
    return out, datasets


def downloaded(m: Migration, value: str, sdk: Sdk):
    """The dataset a notebook downloaded into the folder `value` names (`ds.download(target_path=...)`),
    as (option, version); None when it names no such folder."""
    if not value or value.startswith("-") or "/" not in value and value not in (".",) and not value.startswith("."):
        return None
    path = m.files.absolute(value, sdk.home)
    for dl in m.of("Dataset.download"):
        target = dl.arg("target_path", 0)
        if isinstance(target, str) and m.files.absolute(target, dl.home) == path:
            return dataset_of(m, dl.owner())
    return None


def datapaths(m: Migration, exp: Experiment) -> None:
    """A datastore path passed as an argument (Azure's way to hand a run an earlier run's checkpoints)
    becomes `${params.NAME}`, empty by default: pass the folder (`trainkit runs show RUN --json` gives
    a run's path) when you run it."""
    args = exp.args
    for i, a in enumerate(args):
        if isinstance(a, Sdk):
            option = args[i - 1] if i and isinstance(args[i - 1], str) and args[i - 1].startswith("-") else "--data-path"
            pname = slug(option.lstrip("-")).replace("-", "_").replace(".", "_")
            args[i] = Interp("${params." + pname + "}")
            exp.params.setdefault(pname, "")
            node = a
            while node is not None:
                m.mark(node, f"params.{pname} of conf/experiment/{exp.name}.yaml (empty: pass the folder, e.g. an "
                             f"earlier run's outputs/checkpoints, with params.{pname}=PATH)")
                node = node.owner()
            m.project.note(f"conf/experiment/{exp.name}.yaml: {option} was a datastore path ({a.where}): it is "
                           f"params.{pname}, empty unless you pass a folder (trainkit keeps every run's outputs: "
                           "`trainkit runs show RUN --json` gives its path; run.resume=RUN continues a run itself)")
    resume = exp.sdk.arg("resume_from")
    if isinstance(resume, Sdk):
        m.project.note(f"{exp.sdk.where}: resume_from: trainkit keeps each run's checkpoints: `run.resume=RUN_ID` "
                       "continues that run; to start a new run from another's checkpoint, pass its folder as an "
                       "argument of the script")
        m.mark(resume, "resume_from: see the notes (run.resume=RUN_ID continues a run with its checkpoints)")


def environment(m: Migration, exp: Experiment, estimator: bool) -> str | None:
    from ..envmap import EnvChoice, map_conda, map_pip, tf_choice
    from .environments import write

    sdk = exp.sdk
    value = sdk.arg("environment") or sdk.attrs.get("run_config.environment") or (
        sdk.arg("run_config").attrs.get("environment") if isinstance(sdk.arg("run_config"), Sdk) else None) or (
        sdk.arg("environment_definition") if estimator else None)
    option = environment_of(m, value)
    if option:
        exp.keras = "2" if "keras2" in option or keras_of(m, option) == "2" else "3"
        exp.keras_pinned = m.made.get("keras_pinned", {}).get(option, False)
        root = value.root() if isinstance(value, Sdk) and value.method == "register" else value
        exp.tf1 = m.made.get("tf1", {}).get(id(root), False)
        return option
    if not estimator:
        return None
    choice = EnvChoice(device="gpu" if sdk.arg("use_gpu") else "cpu")
    version = sdk.arg("framework_version")
    found = re.match(r"^(\d+)\.(\d+)", version) if isinstance(version, str) else None
    if found:
        tf_choice(choice, int(found.group(1)), int(found.group(2)), f"framework_version {version}")
    map_pip([str(p) for p in sdk.arg("pip_packages") or [] if isinstance(sdk.arg("pip_packages"), list)], choice,
            f"pip_packages at {sdk.where}")
    map_conda([str(p) for p in sdk.arg("conda_packages") or [] if isinstance(sdk.arg("conda_packages"), list)],
              choice, f"conda_packages at {sdk.where}")
    exp.keras = choice.keras
    exp.keras_pinned = choice.tensorflow is not None
    exp.tf1 = choice.tf1
    if not choice.pip:
        for n in choice.notes:
            m.project.note(f"{sdk.where}: {n}")
        return choice.preset()
    option = m.unique("environment", f"{exp.name}-env", repr(choice.pip), sdk.where)
    write(m, sdk, option, choice, [], None)
    return option


def keras_of(m: Migration, option: str) -> str:
    import yaml

    text = m.project.files.get(f"conf/environment/{option}.yaml")
    return str((yaml.safe_load(text) or {}).get("keras", "3")) if text else "3"


def scripts(m: Migration, exp: Experiment, files: dict[str, Made]) -> None:
    """The folder's Python files: azureml imports (-> entry.azureml_compat), and the compatibility
    findings (with --fix, the mechanical rewrites applied to the project's copies)."""
    from .compat import review

    for rel, made in files.items():
        if not rel.endswith(".py"):
            continue
        if made.text is None and made.disk is None:     # written with content not known: reported as such
            continue
        text = made.text if made.text is not None else m.files.read_text(str(made.disk), exp.sdk.where)
        if text is None:
            continue
        exp.scripts[f"{exp.folder}/{rel}"] = text
        if IMPORTS_AZUREML.search(text):
            exp.body["entry"]["azureml_compat"] = True
    if exp.script not in files and exp.script != "TODO.py":
        m.project.problems.append(f"conf/experiment/{exp.name}.yaml: entry.script {exp.script!r} is not in "
                                  f"{exp.folder}/ (the source_directory as the notebook leaves it)")
    review(m, exp)


def shorten(m: Migration, exp: Experiment) -> None:
    """The smoke overrides: the script's epochs (or steps) argument through params, set small."""
    text = exp.scripts.get(f"{exp.folder}/{exp.script}")
    options = script_options(text) if text else {}
    for pname, names, small in SHORTEN:
        for opt in names:
            if opt in options:
                default = options[opt]
                key = exp.param(opt, default if default is not None else small * 10)
                exp.smoke.append(f"params.{key}={small}")
                return
    exp.cannot_shorten = (f"{exp.script} has no epochs or steps argument (argparse): the smoke run is a full run"
                          if text else f"{exp.script} was not found: nothing to shorten")


def script_options(text: str) -> dict[str, object]:
    """`parser.add_argument('--epochs', ..., default=N)` of a script: option -> default."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            default = next((k.value.value for k in node.keywords if k.arg == "default"
                            and isinstance(k.value, ast.Constant)), None)
            for n in names:
                out[n] = default
    return out


def registration(m: Migration, exp: Experiment) -> None:
    """registry.* and entry.model_path from the notebook's `run.register_model(...)` of this run; a run
    the notebook never registers is not registered either (Azure registers only when asked), but its
    model path is kept for `trainkit sweeps best --register` and `trainkit models register --run`."""
    submits = [s for s in m.of("submit") if s.arg("config", 0) is exp.sdk]
    register = [r for r in m.of("register_model") if r.parent in submits]
    entry = exp.body["entry"]
    if not register:
        later = [r for r in m.of("register_model") if isinstance(r.arg("model_path", 1), str)
                 and searched_from(m, r) is exp.sdk]
        entry["model_path"] = later[0].arg("model_path", 1) if later else "outputs/model"
        exp.body["registry"] = {"enabled": False}
        return
    reg = register[0]
    path = reg.arg("model_path", 1)
    entry["model_path"] = path if isinstance(path, str) else "outputs/model"
    exp.body["registry"] = registry(m, reg)
    m.mark(reg, f"conf/experiment/{exp.name}.yaml: registry.model_name={exp.body['registry']['model_name']}, "
                f"entry.model_path={entry['model_path']} (registered after the run, ONNX exported beside it)")


def searched_from(m: Migration, reg: Sdk):
    """The run config a registered run came from through a sweep (best_run of exp.submit(hd))."""
    node = reg.parent
    while node is not None:
        if node.method == "submit":
            config = node.arg("config", 0)
            return (config.arg("run_config") or config.arg("estimator")) if isinstance(config, Sdk) \
                and config.name == "HyperDriveConfig" else config
        node = node.parent
    return None


def registry(m: Migration, reg: Sdk) -> dict:
    name = reg.arg("model_name", 0)
    out: dict = {"model_name": slug(name if isinstance(name, str) else "model")}
    tags = reg.arg("tags")
    if isinstance(tags, dict):
        out["tags"] = {str(k): literal_text(v) for k, v in tags.items() if literal_text(v) is not None}
        dropped = [str(k) for k, v in tags.items() if literal_text(v) is None]
        if dropped:
            m.project.note(f"{reg.where}: tags {dropped} are not literals (e.g. another run's id): not kept "
                           "(trainkit records each run's own id and config)")
    res = reg.arg("resource_configuration")
    if isinstance(res, Sdk):
        out["resource_configuration"] = {"cpu": number(res.arg("cpu", 0, 1), 1.0),
                                         "memory_gb": number(res.arg("memory_in_gb", 1, 0.5), 0.5),
                                         "gpu": int(number(res.arg("gpu", 2, 0), 0))}
        m.mark(res, "registry.resource_configuration")
    if isinstance(reg.arg("description"), str):
        out["description"] = reg.arg("description")
    fw = reg.arg("model_framework")
    if isinstance(fw, Sdk) or isinstance(reg.arg("model_framework_version"), str):
        out.setdefault("tags", {})["azureml_framework"] = (fw.name.rsplit(".", 1)[-1] if isinstance(fw, Sdk) else str(fw)) \
            + (f" {reg.arg('model_framework_version')}" if isinstance(reg.arg("model_framework_version"), str) else "")
    return out


def number(value, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def literal(text):
    for cast in (int, float):
        try:
            return cast(text)
        except (TypeError, ValueError):
            pass
    return text


def write_all(m: Migration) -> None:
    """Write every experiment once the sweeps have added their params; collect its commands."""
    for exp in m.made.get("experiment", {}).values():
        if exp.params:
            exp.body["params"] = exp.params
        m.project.yaml(f"conf/experiment/{exp.name}.yaml", exp.header, exp.body, package_global=True)
        smoke = " ".join([f"trainkit train +experiment={exp.name} compute={THIS_MACHINE}", *exp.smoke])
        why = exp.cannot_shorten or "a short run on this machine first"
        if exp.tf1:
            why = ("written for TensorFlow 1.x: it runs once its scripts are ported (What breaks, below; `--fix` "
                   "applies tf_upgrade_v2's part)")
        m.project.commands.append(Command("smoke", smoke, why))
        if exp.compute and exp.compute != THIS_MACHINE:
            m.project.commands.append(Command("cluster", f"trainkit train +experiment={exp.name}",
                                              f"on compute={exp.compute} (conf/compute/{exp.compute}.yaml)"))
