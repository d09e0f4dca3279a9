"""From the SDK calls found to a trainkit project: each object the code built becomes a config file
(dataset, environment, compute, experiment, hparams_search), each call is marked with what it
became (or why it could not be mapped), and scripts are copied beside the configs."""
from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..compute import DEFAULT as THIS_MACHINE, DEFAULT_CLUSTER, backend_class
from .analyze import Call, DatasetPath, Sdk, Unknown

AZURE_LOCAL = "local"   # Azure ML v1's name for running on the submitting machine

# Azure VM sizes: (GPUs, vCPUs) per node; the nearest Slurm / Ray resources of a migrated cluster.
VM_SIZES = {
    "standard_nc6": (1, 6), "standard_nc12": (2, 12), "standard_nc24": (4, 24), "standard_nc24r": (4, 24),
    "standard_nc6s_v2": (1, 6), "standard_nc12s_v2": (2, 12), "standard_nc24s_v2": (4, 24),
    "standard_nc6s_v3": (1, 6), "standard_nc12s_v3": (2, 12), "standard_nc24s_v3": (4, 24),
    "standard_nc4as_t4_v3": (1, 4), "standard_nc8as_t4_v3": (1, 8), "standard_nc16as_t4_v3": (1, 16),
    "standard_nc64as_t4_v3": (4, 64), "standard_nc24ads_a100_v4": (1, 24), "standard_nc48ads_a100_v4": (2, 48),
    "standard_nc96ads_a100_v4": (4, 96), "standard_nd6s": (1, 6), "standard_nd12s": (2, 12), "standard_nd24s": (4, 24),
    "standard_nd40rs_v2": (8, 40), "standard_nd96asr_v4": (8, 96), "standard_nv6": (1, 6), "standard_nv12": (2, 12),
    "standard_d2_v2": (0, 2), "standard_d3_v2": (0, 4), "standard_d4_v2": (0, 8), "standard_d11_v2": (0, 2),
    "standard_d12_v2": (0, 4), "standard_ds3_v2": (0, 4), "standard_ds4_v2": (0, 8), "standard_d2s_v3": (0, 2),
    "standard_d4s_v3": (0, 4), "standard_d8s_v3": (0, 8), "standard_d16s_v3": (0, 16), "standard_f4s_v2": (0, 4),
    "standard_f8s_v2": (0, 8), "standard_e4s_v3": (0, 4), "standard_e8s_v3": (0, 8),
}
FRAMEWORK = re.compile(r"^(tensorflow(-gpu|-cpu)?|keras|horovod|azureml([-._].*)?|azure-.*|tf-nightly|tensorboard)\b",
                       re.I)
IDX_ROLES = (("train-images", "train_images"), ("train-labels", "train_labels"), ("t10k-images", "test_images"),
             ("t10k-labels", "test_labels"), ("test-images", "test_images"), ("test-labels", "test_labels"))


def slug(text: str) -> str:
    """A config option name: letters, digits, '.', '_' and '-'."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-._")
    return s[:128] or "migrated"


@dataclass
class Project:
    """The configs and files a migration writes (path relative to DIR -> text or a file to copy)."""

    files: dict[str, str] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)
    experiments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def yaml(self, rel: str, header: str, data: dict) -> None:
        import yaml

        self.files[rel] = header + yaml.safe_dump(data, sort_keys=False, width=110)


class Migration:
    def __init__(self, calls: list[Call], scripts: dict[Path, str], compute_kind: str = DEFAULT_CLUSTER,
                 mirrors: dict[str, str] | None = None):
        self.calls, self.scripts, self.kind, self.mirrors = calls, scripts, compute_kind, mirrors or {}
        self.clusters: set[str] = set()   # compute options written for AmlCompute clusters
        self.project = Project()
        self.by_sdk = {id(c.sdk): c for c in calls}
        self.datasets: dict[int, str] = {}       # id(root dataset Sdk) -> option name
        self.environments: dict[int, str] = {}
        self.computes: dict[str, str] = {}       # cluster name -> option name

    # ------------------------------------------------------------------ bookkeeping
    def mark(self, sdk: Sdk | None, became: str) -> None:
        call = self.by_sdk.get(id(sdk)) if sdk is not None else None
        if call is not None and not call.became:
            call.became = became

    def unmapped(self, sdk: Sdk, why: str) -> None:
        call = self.by_sdk.get(id(sdk))
        if call is not None:
            call.unmapped = why

    def of(self, *names: str) -> list[Sdk]:
        return [c.sdk for c in self.calls if c.sdk.name in names or any(c.sdk.name.endswith("." + n) for n in names)]

    # ------------------------------------------------------------------ the whole migration
    def run(self) -> Project:
        for sdk in self.of("Workspace.from_config", "Workspace.get", "Workspace"):
            self.mark(sdk, "the trainkit workspace: $TRAINKIT_WORKSPACE, else ~/.trainkit (tk.Workspace())")
        for prefix in ("Dataset.File.from_files", "Dataset.get_by_name"):   # named datasets are defined first
            for sdk in [c.sdk for c in self.calls if c.sdk.name.startswith(prefix)]:
                self.dataset(sdk)
        for sdk in [c.sdk for c in self.calls if c.sdk.name.startswith("Environment.")
                    and c.sdk.name.split(".")[1] in ("from_conda_specification", "from_pip_requirements", "get")]:
            self.environment(sdk)
        for sdk in self.of("ComputeTarget.create", "AmlCompute.provisioning_configuration", "ComputeTarget"):
            self.compute_of(sdk)
        for sdk in self.of("ScriptRunConfig", "TensorFlow", "Estimator"):
            self.experiment(sdk)
        for sdk in self.of("HyperDriveConfig"):
            self.hyperdrive(sdk)
        for c in self.calls:
            self.mark_rest(c)
        return self.project

    # ------------------------------------------------------------------ datasets
    def dataset(self, sdk: Sdk) -> str:
        root = sdk.root()
        if id(root) in self.datasets:
            return self.datasets[id(root)]
        registered = [s for s in self.of("register") if s.parent is not None and s.parent.root() is root]
        name = (registered[0].arg("name") if registered else None) or root.arg("name", 1) or root.var or "dataset"
        name = slug(name if isinstance(name, str) else root.var or "dataset")
        self.datasets[id(root)] = name
        rel = f"conf/dataset/{name}.yaml"
        if root.name.startswith("Dataset.get_by_name"):
            found = [s for s in self.of("from_files") if self.datasets.get(id(s.root())) == name]
            if not found:
                self.project.yaml(rel, f"# Dataset.get_by_name({name!r}): registered elsewhere; list its files and where they are.\n",
                                  {"defaults": ["base_dataset", "_self_"], "name": name, "format": "custom",
                                   "sources": [], "files": [], "loader": "TODO:module:function"})
                self.unmapped(root, f"{rel}: the dataset was registered outside these files: its sources and files "
                                    "are TODO (trainkit datasets register then versions it)")
            self.mark(root, f"{rel} (dataset={name})")
            return name
        urls = root.arg("path", 0)
        urls = urls if isinstance(urls, list) else [urls]
        urls = [u for u in urls if isinstance(u, str)]
        if not urls:
            self.unmapped(root, "Dataset.File.from_files: its paths are not literal strings (or a datastore path): "
                                f"{rel} lists no files")
        source = common_folder(urls)
        files, fmt = file_entries(urls, source)
        sources = [m for prefix, m in self.mirrors.items() if source.startswith(prefix)] + ([source] if source else [])
        data = {"defaults": ["base_dataset", "_self_"], "name": name,
                "description": (registered[0].arg("description") if registered else None) or f"migrated from {root.where}",
                "format": fmt, "sources": sources, "files": files}
        if fmt == "idx":
            data["num_classes"] = 10   # the MNIST-format digits and fashion items of the samples
        if fmt == "custom":
            data["loader"] = "TODO:module:function"
            self.project.notes.append(f"{rel}: format could not be told from the file names {urls[:3]}: "
                                      "`format: custom` with a loader to write (or set the format)")
        self.project.yaml(rel, f"# Migrated from {root.where} (Dataset.File.from_files).\n", data)
        self.mark(root, f"{rel}: sources {sources}, {len(files)} file(s), format {fmt} (sha256 recorded on first fetch)")
        for reg in registered:
            self.mark(reg, f"{rel}: name {name} (versioned by content: `trainkit datasets register {name}`)")
        return name

    # ------------------------------------------------------------------ environments
    def environment(self, sdk: Sdk) -> str:
        if id(sdk) in self.environments:
            return self.environments[id(sdk)]
        kind = sdk.name.split(".")[1] if sdk.name.startswith("Environment.") else "Environment"
        name = slug(sdk.arg("name", 0 if kind != "get" else 1) or sdk.var or "environment")
        if kind == "get":   # a curated environment: the nearest trainkit preset
            preset = "tensorflow-2.21-gpu" if "gpu" in name.lower() else "tensorflow-2.21-cpu"
            self.environments[id(sdk)] = preset
            self.mark(sdk, f"environment={preset} (trainkit's preset nearest the curated {name})")
            return preset
        self.environments[id(sdk)] = name
        pip, conda, notes = self.requirements(sdk, kind)
        gpu = any("gpu" in str(x).lower() for x in (name, *conda, *pip)) or bool(sdk.attrs.get("docker.base_image"))
        data = {"defaults": ["base_environment", "_self_"], "name": name, "python": "3.11", "tensorflow": "2.21",
                "keras": "3", "device": "gpu" if gpu else "cpu", "pip": [p for p in pip if not FRAMEWORK.match(p)]}
        dropped = [p for p in pip if FRAMEWORK.match(p)]
        rel = f"conf/environment/{name}.yaml"
        header = f"# Migrated from {sdk.where} ({kind}).\n"
        if dropped:
            header += f"# Left to trainkit's base environment (TensorFlow 2.21, Keras 3, Horovod): {', '.join(dropped)}\n"
        if conda:
            header += f"# Conda-only packages, not installed by uv: {', '.join(conda)}\n"
            self.project.notes.append(f"{rel}: conda-only packages not carried over: {', '.join(conda)}")
        if sdk.attrs.get("docker.base_image"):
            header += f"# Docker base image {sdk.attrs['docker.base_image']}: environment.image is reserved, not built\n"
            self.project.notes.append(f"{rel}: Docker base image {sdk.attrs['docker.base_image']} not used "
                                      "(environment.image is reserved in trainkit)")
        self.project.yaml(rel, header + "".join(f"# {n}\n" for n in notes), data)
        self.mark(sdk, f"{rel}: pip {data['pip'] or '[]'}" + (f"; dropped {dropped}" if dropped else "")
                  + (f"; conda-only {conda} reported" if conda else ""))
        return name

    def requirements(self, sdk: Sdk, kind: str) -> tuple[list[str], list[str], list[str]]:
        """(pip lines, conda-only packages, notes) of an environment, from its file or its CondaDependencies."""
        home = Path(sdk.home or ".")
        path = sdk.arg("file_path", 1)
        if kind == "from_conda_specification" and isinstance(path, str):
            return read_conda(home / path)
        if kind == "from_pip_requirements" and isinstance(path, str):
            file = home / path
            if not file.exists():
                return [], [], [f"TODO: {path} was not found next to {sdk.where}: list its requirements in pip"]
            return [ln.strip() for ln in file.read_text().splitlines() if ln.strip() and not ln.startswith("#")], [], []
        deps = sdk.attrs.get("python.conda_dependencies")
        if isinstance(deps, Sdk):
            self.mark(deps, f"environment.pip of conf/environment/{slug(sdk.arg('name', 0) or sdk.var)}.yaml")
            return (strings(deps.arg("pip_packages")), [c for c in strings(deps.arg("conda_packages"))
                                                         if not FRAMEWORK.match(c) and not c.startswith("python")], [])
        return [], [], []

    # ------------------------------------------------------------------ compute
    def compute_of(self, sdk: Sdk) -> str | None:
        """The compute option of a cluster (by the name given to ComputeTarget or create)."""
        if sdk.name.endswith("provisioning_configuration"):
            creators = [c for c in self.of("ComputeTarget.create") if c.arg("provisioning_configuration", 2) is sdk]
            return self.cluster(creators[0].arg("name", 1) if creators else sdk.var or "cluster", sdk)
        if sdk.name == "ComputeTarget.create":
            option = self.cluster(sdk.arg("name", 1), sdk.arg("provisioning_configuration", 2))
            self.mark(sdk, f"conf/compute/{option}.yaml (compute={option}); the cluster itself is yours to run")
            return option
        name = sdk.arg("name", 1)
        if isinstance(name, str):
            provisioned = [p for p in self.of("ComputeTarget.create") if p.arg("name", 1) == name]
            option = self.cluster(name, provisioned[0].arg("provisioning_configuration", 2) if provisioned else None)
            self.mark(sdk, f"compute={option}")
            return option
        return None

    def cluster(self, name, provisioning) -> str:
        name = slug(name if isinstance(name, str) else "cluster")
        if name in self.computes:
            return self.computes[name]
        if name.lower() == AZURE_LOCAL:
            self.computes[name] = THIS_MACHINE
            return THIS_MACHINE
        self.computes[name] = name
        self.clusters.add(name)
        prov = provisioning if isinstance(provisioning, Sdk) else None
        vm = str(prov.arg("vm_size", 0, "")).lower() if prov else ""
        gpus, cpus = VM_SIZES.get(vm, (None, None))
        rel = f"conf/compute/{name}.yaml"
        header = f"# Migrated from AmlCompute cluster {name!r}" + (f" ({prov.where}): vm_size {vm or '?'}" if prov else "") + ".\n"
        keys, note = backend_class(self.kind).from_cluster(gpus, cpus)
        data = {"defaults": [f"base_{self.kind}", "_self_"], **keys}
        header += f"# {note}\n"
        if prov is not None and (prov.arg("max_nodes") or prov.arg("min_nodes")):
            header += (f"# min_nodes={prov.arg('min_nodes', None, 0)} max_nodes={prov.arg('max_nodes')}: autoscaling is "
                       "the cluster's own (Slurm power saving, Ray's autoscaler), not part of a job.\n")
        if vm and gpus is None:
            self.project.notes.append(f"{rel}: VM size {vm!r} is not in trainkit's table: set gpus_per_node/num_gpus")
        self.project.yaml(rel, header, data)
        if prov is not None:
            self.mark(prov, f"{rel}: {self.kind}, " + (f"{gpus} GPU(s) per node" if gpus is not None else "GPUs TODO"))
        return name

    # ------------------------------------------------------------------ experiments
    def experiment(self, sdk: Sdk) -> str:
        estimator = sdk.name in ("TensorFlow", "Estimator")
        script = sdk.arg("entry_script" if estimator else "script", 1 if not estimator else None)
        folder = sdk.arg("source_directory", 0) or "."
        submits = [s for s in self.of("Experiment.submit", "submit") if s.arg("config", 0) is sdk]
        searches = [h for h in self.of("HyperDriveConfig") if (h.arg("run_config") or h.arg("estimator")) is sdk]
        searched = [s for s in self.of("Experiment.submit", "submit") if searches and s.arg("config", 0) in searches]
        first = (submits or searched or [None])[0]
        exp_name = first.parent.arg("name", 1) if first is not None and first.parent else None
        name = slug(exp_name or Path(str(script or "script")).stem)
        while name in self.project.experiments:
            name += "-2"
        self.project.experiments.append(name)
        rel = f"conf/experiment/{name}.yaml"
        folder_name = slug(Path(str(folder)).resolve().name) if isinstance(folder, str) and folder not in (".", "./") else "src"
        src = Path(sdk.home or ".") / str(folder)
        if src.is_dir():
            for f in sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                            and ".ipynb_checkpoints" not in p.parts and p.suffix != ".ipynb"):
                self.project.copies[f"{folder_name}/{f.relative_to(src).as_posix()}"] = f
        else:
            self.project.notes.append(f"{rel}: source_directory {folder!r} was not found next to {sdk.where}: "
                                      f"put the script into {folder_name}/")
        defaults: list = []
        entry: dict = {"source_dir": folder_name, "script": script if isinstance(script, str) else "TODO.py"}
        args, datasets = self.arguments(sdk, estimator)
        entry["arguments"] = args
        if datasets:
            defaults.append({"override /dataset": datasets[0]})
        env = sdk.arg("environment")
        if isinstance(env, Sdk):
            defaults.append({"override /environment": self.environment(env)})
        elif estimator and (sdk.arg("pip_packages") or sdk.arg("conda_packages")):
            defaults.append({"override /environment": self.estimator_environment(sdk, name)})
        body: dict = {}
        compute = self.compute_for(sdk.arg("compute_target"))
        if compute:
            defaults.append({"override /compute": compute})
        dist, sizes = self.distribution(sdk, estimator)
        if dist:
            defaults.append({"override /distribution": dist[0]})
            body["distribution"] = dist[1]
        if sizes and compute in self.clusters:
            body["compute"] = sizes
        defaults += [{"override /entry": "script"}, "_self_"]
        script_text = self.script_text(src, entry["script"])
        if re.search(r"^\s*(from|import)\s+azureml\b", script_text or "", re.M):
            entry["azureml_compat"] = True
        register = [r for r in self.of("register_model") if r.parent in submits]
        if register:
            reg = register[0]
            model_path = reg.arg("model_path", 1)
            entry["model_path"] = model_path if isinstance(model_path, str) else "outputs/model"
            body["registry"] = self.registry(reg)
            self.mark(reg, f"{rel}: registry.model_name={body['registry'].get('model_name')}, "
                           f"entry.model_path={entry['model_path']} (registered after the run, ONNX exported)")
        else:
            entry["model_path"] = "outputs/model"
        body = {"defaults": defaults, "entry": entry, **body}
        if exp_name:
            body["run"] = {"experiment": slug(exp_name)}
        header = (f"# @package _global_\n# Migrated by `trainkit migrate` from {sdk.where} ({sdk.name}).\n"
                  f"# Run it from this project's directory: trainkit train +experiment={name}\n")
        if sdk.arg("framework_version"):
            header += f"# framework_version {sdk.arg('framework_version')}: trainkit runs TensorFlow 2.21 / Keras 3\n"
        self.project.yaml(rel, header, body)
        self.mark(sdk, f"{rel} (+experiment={name}): entry=script {folder_name}/{entry['script']}"
                       + (f", distribution={dist[0]}" if dist else ""))
        for s in submits:
            self.mark(s, f"`trainkit train +experiment={name}` or tk.submit('+experiment={name}')")
            if s.parent is not None:
                self.mark(s.parent, f"run.experiment={slug(exp_name)}" if exp_name else "run.experiment")
        return name

    def script_text(self, src: Path, script: str) -> str | None:
        path = (src / script).resolve()
        return self.scripts.get(path) or (path.read_text() if path.is_file() else None)

    def arguments(self, sdk: Sdk, estimator: bool) -> tuple[list[str], list[str]]:
        """The script's arguments as strings (a dataset's mount -> ${dataset.path}), and the datasets used."""
        raw = sdk.arg("script_params") if estimator else sdk.arg("arguments", 2)
        if isinstance(raw, dict):
            raw = [x for k, v in raw.items() for x in ((k, v) if v not in ("", None) else (k,))]
        out, datasets = [], []
        for value in raw if isinstance(raw, list) else []:
            if isinstance(value, DatasetPath):
                datasets.append(self.dataset(value.dataset))
                out.append("${dataset.path}")
            elif isinstance(value, Sdk) and value.root().name.startswith("Dataset"):
                datasets.append(self.dataset(value.root()))
                out.append("${dataset.path}")
            elif isinstance(value, Unknown):
                out.append(f"TODO:{value.text}")
                self.project.notes.append(f"an argument of {sdk.where} is not a literal: {value.text} (TODO in entry.arguments)")
            else:
                out.append(str(value).lower() if isinstance(value, bool) else str(value))
        return out, datasets

    def compute_for(self, target) -> str | None:
        if isinstance(target, str):
            return THIS_MACHINE if target.lower() == AZURE_LOCAL else self.cluster(target, None)
        if isinstance(target, Sdk):
            return self.compute_of(target)
        return None

    def distribution(self, sdk: Sdk, estimator: bool) -> tuple[tuple[str, dict] | None, dict]:
        """(distribution option, its keys) and the compute sizes, from distributed_job_config or an estimator's."""
        cfg = sdk.arg("distributed_training") if estimator else sdk.arg("distributed_job_config")
        nodes = (sdk.arg("node_count") if estimator else None) or (cfg.arg("node_count") if isinstance(cfg, Sdk) else None) or 1
        if isinstance(cfg, Sdk) and cfg.name in ("MpiConfiguration", "Mpi"):
            per = cfg.arg("process_count_per_node", 0) or (sdk.arg("process_count_per_node") if estimator else None) or 1
            self.mark(cfg, f"distribution=horovod, processes={nodes * per} ({nodes} node(s) x {per})")
            return ("horovod", {"processes": nodes * per}), ({"nodes": nodes, "tasks_per_node": per} if nodes > 1 else {})
        if isinstance(cfg, Sdk) and cfg.name in ("TensorflowConfiguration", "ParameterServer"):
            workers = cfg.arg("worker_count", 0) or (sdk.arg("worker_count") if estimator else None) or 1
            ps = cfg.arg("parameter_server_count", 1) or (sdk.arg("parameter_server_count") if estimator else None) or 0
            if ps:
                self.mark(cfg, f"distribution=parameter_server, workers={workers}, ps={ps} (+1 chief process: "
                               "trainkit's coordinator; Azure ML made worker 0 the chief)")
                return ("parameter_server", {"workers": workers, "ps": ps}), {}
            self.mark(cfg, f"distribution=multi_worker_mirrored, workers={workers} (TF_CONFIG per worker)")
            return ("multi_worker_mirrored", {"workers": workers}), ({"nodes": workers, "tasks_per_node": 1} if workers > 1 else {})
        if isinstance(cfg, Sdk):
            self.unmapped(cfg, f"{cfg.name}: no trainkit distribution (horovod, multi_worker_mirrored, parameter_server)")
        return None, {}

    def registry(self, reg: Sdk) -> dict:
        out: dict = {"model_name": slug(reg.arg("model_name", 0) or "model")}
        tags = reg.arg("tags")
        if isinstance(tags, dict):
            out["tags"] = {str(k): str(v) for k, v in tags.items()}
        res = reg.arg("resource_configuration")
        if isinstance(res, Sdk):
            out["resource_configuration"] = {"cpu": float(res.arg("cpu", 0, 1)), "memory_gb": float(res.arg("memory_in_gb", 1, 0.5)),
                                             "gpu": int(res.arg("gpu", 2, 0) or 0)}
            self.mark(res, "registry.resource_configuration")
        if reg.arg("description"):
            out["description"] = str(reg.arg("description"))
        return out

    def estimator_environment(self, sdk: Sdk, name: str) -> str:
        pip, conda = strings(sdk.arg("pip_packages")), strings(sdk.arg("conda_packages"))
        env = slug(f"{name}-env")
        data = {"defaults": ["base_environment", "_self_"], "name": env, "python": "3.11", "tensorflow": "2.21",
                "keras": "3", "device": "gpu" if sdk.arg("use_gpu") else "cpu",
                "pip": [p for p in pip if not FRAMEWORK.match(p)]}
        header = f"# The pip_packages / conda_packages of the estimator at {sdk.where}.\n"
        if conda:
            header += f"# Conda-only packages, not installed by uv: {', '.join(conda)}\n"
            self.project.notes.append(f"conf/environment/{env}.yaml: conda-only packages not carried over: {', '.join(conda)}")
        self.project.yaml(f"conf/environment/{env}.yaml", header, data)
        return env

    # ------------------------------------------------------------------ hyperparameter search
    def hyperdrive(self, sdk: Sdk) -> None:
        run_config = sdk.arg("run_config") or sdk.arg("estimator")
        target = [n for n in self.project.experiments] and (self.experiment_name_of(run_config) or self.project.experiments[0])
        sampling = sdk.arg("hyperparameter_sampling")
        goal = sdk.arg("primary_metric_goal")
        direction = "minimize" if isinstance(goal, Sdk) and goal.name.upper().endswith("MINIMIZE") else "maximize"
        sampler, notes = "tpe", []
        if isinstance(sampling, Sdk):
            if sampling.name.startswith("Random"):
                sampler = "random"
            elif sampling.name.startswith("Grid"):
                sampler = "random"
                notes.append("GridParameterSampling: trainkit's Optuna sweeper samples at random from the same choices "
                             "(n_trials = the grid's size covers it only in expectation); or sweep the grid with -m a=1,2 b=3,4")
            self.mark(sampling, f"hydra.sweeper.sampler={sampler}")
        params, arg_names = {}, {}
        space = sampling.arg("parameter_space", 0) if isinstance(sampling, Sdk) else None
        for key, dist in (space or {}).items():
            pname = slug(str(key).lstrip("-")).replace("-", "_").replace(".", "_")
            arg_names[str(key)] = pname
            spec, note = param_spec(dist)
            if spec:
                params[f"params.{pname}"] = spec
                self.mark(dist, f"hydra.sweeper.params.params.{pname}: {spec}")
            if note:
                notes.append(f"{key}: {note}")
                if not spec and isinstance(dist, Sdk):
                    self.unmapped(dist, note)
        policy = sdk.arg("policy")
        pruner = {"name": "none"}
        if isinstance(policy, Sdk):
            pruner = {"name": "median", "n_startup_trials": 2,
                      "n_warmup_steps": int(policy.arg("delay_evaluation", None, 0) or 0)}
            if policy.name == "TruncationSelectionPolicy":
                pruner = {"name": "successive_halving"}
            if policy.name != "NoTerminationPolicy":
                notes.append(f"{policy.name}: Optuna has no exact counterpart; the nearest pruner is "
                             f"{pruner['name']} (median: stops a trial below the median of earlier trials at the same "
                             "epoch; Bandit's slack factor and evaluation interval do not carry over)")
            self.mark(policy, f"hydra.sweeper.pruner={pruner}")
        metric = sdk.arg("primary_metric_name") or "val_accuracy"
        name = slug(f"{target or 'search'}-hyperdrive")
        rel = f"conf/hparams_search/{name}.yaml"
        data = {"defaults": [{"override /hydra/sweeper": "trainkit_optuna"}], "hydra": {"sweeper": {
            "study_name": name, "metric": metric, "direction": direction,
            "n_trials": int(sdk.arg("max_total_runs") or 10), "n_jobs": int(sdk.arg("max_concurrent_runs") or 2),
            "sampler": sampler, "pruner": pruner, "params": params}}}
        header = (f"# @package _global_\n# Migrated from {sdk.where} (HyperDriveConfig): "
                  f"trainkit train -m +experiment={target} +hparams_search={name}\n"
                  f"# The script logs {metric!r} with run.log; under entry.azureml_compat each value is also reported "
                  "to the trial (pruning).\n" + "".join(f"# {n}\n" for n in notes))
        self.project.yaml(rel, header, data)
        self.project.notes += [f"{rel}: {n}" for n in notes]
        if target and arg_names:
            self.sweep_arguments(target, arg_names, space)
        self.mark(sdk, f"{rel} (+hparams_search={name}): metric {metric} ({direction}), "
                       f"{data['hydra']['sweeper']['n_trials']} trials, {data['hydra']['sweeper']['n_jobs']} at once")
        if isinstance(goal, Sdk):
            self.mark(goal, f"hydra.sweeper.direction={direction}")

    def experiment_name_of(self, run_config) -> str | None:
        for name in self.project.experiments:
            if isinstance(run_config, Sdk) and f"+experiment={name})" in (self.by_sdk.get(id(run_config)).became or ""):
                return name
        return None

    def sweep_arguments(self, experiment: str, arg_names: dict, space: dict) -> None:
        """The swept script arguments come from params.* (which the sweeper samples)."""
        import yaml

        rel = f"conf/experiment/{experiment}.yaml"
        text = self.project.files[rel]
        header = "".join(ln + "\n" for ln in text.splitlines() if ln.startswith("#"))
        data = yaml.safe_load(text)
        args = data["entry"]["arguments"]
        params = {}
        for i, a in enumerate(list(args)):
            if a in arg_names and i + 1 < len(args):
                params[arg_names[a]] = _literal(args[i + 1])
                args[i + 1] = "${params." + arg_names[a] + "}"
        for key, pname in arg_names.items():
            if key not in args:   # swept but not passed: add it
                args += [key, "${params." + pname + "}"]
                params.setdefault(pname, _first(space[key]))
        data["params"] = params
        self.project.yaml(rel, header, data)

    # ------------------------------------------------------------------ the rest
    def mark_rest(self, c: Call) -> None:
        if c.became or c.unmapped:
            return
        n = c.sdk.name
        leaf = n.split(".")[-1]
        mapped = {
            "wait_for_completion": "run.wait(show_output=True) / `trainkit jobs logs RUN -f`",
            "get_metrics": "run.metrics() / `trainkit runs show RUN --json`",
            "get_file_names": "run.files()",
            "download_files": "run.download(prefix=..., to=...) / `trainkit runs download RUN --prefix ...`",
            "download_file": "run.download(prefix=FILE, to=...)",
            "get_best_run_by_primary_metric": "sweep.best_run(METRIC) / `trainkit sweeps best SWEEP --metric METRIC`",
            "get_children": "sweep.runs()", "cancel": "run.cancel() / `trainkit jobs cancel RUN`",
            "get_details": "`trainkit runs show RUN --json`", "get_status": "run.status",
            "as_mount": "${dataset.path} in entry.arguments", "as_download": "${dataset.path} in entry.arguments",
            "as_named_input": "${dataset.path} in entry.arguments", "to_path": "`trainkit datasets show NAME`",
            "show": "tk.RunDetails(run).show()", "register": "`trainkit models register NAME PATH`",
            "get_by_name": "ws.dataset(NAME)", "wait_for_deployment": "`trainkit models serve` returns when ready",
        }
        if n.startswith("Model.deploy") or leaf == "deploy":
            models = c.sdk.arg("models", 2)
            c.became = "`trainkit models serve NAME@ALIAS` (KServe v2 / Open Inference Protocol over HTTP)"
            self.project.notes.append(f"{c.where}: Model.deploy -> serve the registered version with "
                                      "`trainkit models serve NAME@production --port 8080`" + ("" if models else ""))
        elif n.startswith(("InferenceConfig", "AciWebservice", "AksWebservice", "LocalWebservice")):
            c.became = "`trainkit models serve` flags (--workers, --max-batch; resources from registry.resource_configuration)"
        elif n.startswith("RunDetails"):
            c.became = "tk.RunDetails(run).show()"
        elif leaf in mapped:
            c.became = mapped[leaf]
        elif n.startswith("ResourceConfiguration"):
            c.became = "registry.resource_configuration"
        elif n.startswith(("choice", "uniform", "loguniform", "quniform", "randint", "qloguniform", "normal", "lognormal")):
            c.unmapped = "a search-space distribution outside a HyperDriveConfig that was followed"
        elif n.startswith(("Experiment", "Run.")) or n == "Run.get_context":
            c.became = "the run (trainkit.run.get_context() in scripts; entry.azureml_compat keeps Run.get_context())"
        else:
            c.unmapped = f"{n}: no trainkit counterpart known to `trainkit migrate`"


def strings(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def common_folder(urls: list[str]) -> str:
    """The folder every URL is in (with a trailing '/')."""
    if not urls:
        return ""
    folders = [u.rsplit("/", 1)[0] + "/" for u in urls]
    common = folders[0]
    for f in folders[1:]:
        while not f.startswith(common):
            common = common.rstrip("/").rsplit("/", 1)[0] + "/"
    return common


def file_entries(urls: list[str], source: str) -> tuple[list[dict], str]:
    """The dataset's file entries and its format, told from the file names."""
    names = [u[len(source):] for u in urls]
    lower = [n.lower() for n in names]
    if lower and all("idx" in n and n.endswith(".gz") for n in lower):
        files = []
        for n in names:
            role = next((r for key, r in IDX_ROLES if key in n.lower()), None)
            files.append({"name": n, "sha256": None, "role": role or "TODO"})
        return files, "idx"
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".tfrecord", "tfrecord"), (".npz", "npz")):
        if lower and all(n.endswith(suffix) for n in lower):
            return [{"name": n, "sha256": None, "role": "test" if "test" in n.lower() else "train"} for n in names], fmt
    if lower and all(n.endswith("/") for n in lower):
        return [{"name": n, "sha256": None, "role": "test" if "test" in n.lower() else "train"} for n in names], "image_folder"
    return [{"name": n, "sha256": None, "role": "data"} for n in names], "custom"


def read_conda(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(pip lines, conda-only packages, notes) of a conda environment file."""
    import yaml

    if not path.exists():
        return [], [], [f"TODO: {path.name} was not found: list its packages in pip"]
    spec = yaml.safe_load(path.read_text()) or {}
    pip, conda = [], []
    for dep in spec.get("dependencies") or []:
        if isinstance(dep, dict):
            pip += [str(p) for p in dep.get("pip") or []]
        elif not str(dep).startswith(("python", "pip")) and not FRAMEWORK.match(str(dep)):
            conda.append(str(dep))
    return pip, conda, []


def param_spec(dist) -> tuple[dict | None, str | None]:
    """The Optuna sweeper's spec of one HyperDrive parameter expression, and what differs."""
    if not isinstance(dist, Sdk):
        return None, f"not a sampling expression: {dist!r}"
    args = dist.args
    kind = dist.name.split(".")[-1]
    try:
        if kind == "choice":
            values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
            return {"type": "choice", "choices": list(values)}, None
        if kind == "uniform":
            return {"type": "interval", "low": float(args[0]), "high": float(args[1])}, None
        if kind == "loguniform":
            return ({"type": "log_interval", "low": math.exp(float(args[0])), "high": math.exp(float(args[1]))},
                    "loguniform(a, b) takes natural-log bounds: low=e^a, high=e^b")
        if kind == "quniform":
            q = float(args[2])
            if q == 1:
                return {"type": "int", "low": int(args[0]), "high": int(args[1])}, None
            return {"type": "interval", "low": float(args[0]), "high": float(args[1])}, f"quniform's q={q} is not kept"
        if kind == "qloguniform":
            return ({"type": "log_interval", "low": math.exp(float(args[0])), "high": math.exp(float(args[1]))},
                    f"qloguniform's q={args[2]} is not kept")
        if kind == "randint":
            return {"type": "int", "low": 0, "high": int(args[0]) - 1}, None
    except (IndexError, TypeError, ValueError):
        return None, f"{kind}: its arguments are not literal numbers"
    return None, f"{kind}: trainkit's Optuna sweeper samples choice, interval, log_interval and int only"


def _literal(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _first(dist):
    spec, _ = param_spec(dist)
    if not spec:
        return None
    return spec["choices"][0] if spec["type"] == "choice" else spec["low"]


def write(project: Project, dest: Path) -> tuple[list[Path], list[Path]]:
    """Write the project into dest, never over an existing file: (written, kept as they were)."""
    written, kept = [], []
    for rel, text in sorted(project.files.items()):
        target = dest / rel
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    for rel, src in sorted(project.copies.items()):
        target = dest / rel
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        written.append(target)
    return written, kept
