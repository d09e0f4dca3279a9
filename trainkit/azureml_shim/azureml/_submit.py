"""Submitting a notebook's run configuration as a trainkit run: the ScriptRunConfig's pieces become
overrides (azureml/_mapping.py), the script's mechanical fixes (`trainkit migrate --fix`) are made
on a copy of its folder (never the user's files), `tk.submit` starts the run, and what changed is
printed once and kept with the run (<run>/azureml.json)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from . import _datasets, _mapping
from ._mapping import Plan, quote
from ._tk import note, settings, unsupported

INPUT_ENV = "TRAINKIT_DATASET_INPUT"   # the input name of the run's dataset (run.input_datasets[name] in the script)


def submit_script(experiment, src, tags: dict):
    """exp.submit(ScriptRunConfig): a trainkit run, returned as an azureml Run."""
    from trainkit.api.submit import submit

    from .core.run import Run

    plan = plan_script(experiment, src)
    code, fixes = stage(Path(src.source_directory or "."), plan.keras, experiment.workspace._tk.root)
    tag_overrides, odd_tags = _mapping.tags(tags)
    for line in plan.notes + [f"fixed in the run's copy of the code: {f}" for f in fixes]:
        note(line)
    with quiet():   # trainkit's own submission lines; the notebook shows the Run
        api = submit(*plan.overrides, arguments_override(plan.items), f"entry.source_dir={quote(code)}",
                     *tag_overrides, *_datasets.searchpath(experiment.workspace._tk.root), project=None,
                     workspace=experiment.workspace._tk)
    record(api.path, plan, src, fixes)
    run = Run._of(api=api, experiment=experiment)
    if odd_tags:
        run.set_tags(odd_tags)
    return run


def quiet():
    """stdout held back while trainkit submits (its job lines); errors still raise."""
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


def plan_script(experiment, src) -> Plan:
    """Every override of a ScriptRunConfig but its code folder, and the notes on what changed."""
    ws, rc = experiment.workspace, src.run_config
    plan = Plan()
    script = src.script or rc.script
    if not script:
        raise ValueError("ScriptRunConfig: expected script='train.py', got none")
    items, plan.arguments, dataset, plan.input_name, notes = _mapping.arguments(
        list(src.arguments or rc.arguments), lambda v: dataset_of(v, ws), lambda v: local_path(v, ws))
    inputs = [found for found in (dataset_of(v, ws) for v in getattr(src, "_inputs", [])) if found]
    if dataset is None and inputs:   # an estimator's inputs=[ds.as_named_input(...)]: run.input_datasets
        dataset, plan.input_name = inputs[0][:2], inputs[0][2]
    plan.items, plan.dataset, plan.notes = items, dataset, notes
    plan.overrides = ["entry=script", f"entry.script={quote(script)}", "entry.azureml_compat=true",
                      "entry.model_path=null", f"run.experiment={experiment._trainkit_name}", "run.resume=never",
                      "run.snapshot_source=false"]
    environment(plan, src.environment or rc.environment)
    compute = target(plan, src.compute_target or rc.target, ws)
    distribution(plan, src.distributed_job_config or rc.distribution(), compute)
    if plan.dataset is not None:
        plan.overrides += [f"dataset={plan.dataset[0]}", f"dataset.version={plan.dataset[1]}",
                           f"++environment.env_vars.{INPUT_ENV}={quote(plan.input_name or plan.dataset[0])}"]
    return plan


def arguments_override(items: list) -> str:
    return "entry.arguments=" + _mapping.listing(items)


def environment(plan: Plan, env) -> None:
    if env is None or env._untouched():
        return
    choice, env_vars = env._choice()
    plan.overrides += _mapping.environment(choice, env_vars)
    plan.keras, plan.environment = choice.keras, {"name": env.name, "trainkit": choice.preset(), "pip": choice.pip}
    plan.notes += choice.notes


def target(plan: Plan, value, ws) -> str:
    """The compute option of a compute target (an object or a name); unknown names run here."""
    from ._clusters import DEFAULT, lookup

    name = getattr(value, "name", value) or DEFAULT
    entry = getattr(value, "_entry", None) or lookup(ws._tk.root, str(name))
    if entry is None:
        plan.notes.append(f"compute target {name!r}: not in azureml.yaml (clusters:): it runs on this machine "
                          "(compute=local)")
        entry = {"compute": DEFAULT}
    plan.target = str(name)
    plan.overrides += _mapping.compute(entry)
    return entry["compute"]


def distribution(plan: Plan, cfg, compute: str) -> None:
    kind = {"MpiConfiguration": "mpi", "TensorflowConfiguration": "tensorflow"}.get(type(cfg).__name__)
    if cfg is not None and kind is None:
        unsupported(f"distributed_job_config={type(cfg).__name__}", "MpiConfiguration (Horovod) or "
                    "TensorflowConfiguration (MultiWorkerMirrored / parameter servers)")
    dist, sizes = _mapping.distribution(kind, getattr(cfg, "node_count", 1), getattr(cfg, "process_count_per_node", 1),
                                        getattr(cfg, "worker_count", 1), getattr(cfg, "parameter_server_count", 0))
    plan.overrides += dist
    if sizes and _mapping.takes_sizes(compute):
        plan.overrides += sizes
    elif sizes:
        plan.notes.append(f"compute={compute}: its node count comes from its own config ({' '.join(sizes)} not set)")


def dataset_of(value, ws) -> tuple[str, int, str] | None:
    """(config option, version, input name) of a dataset passed to a run; None for anything else."""
    from .core.dataset import AbstractDataset
    from .data.dataset_consumption_config import DatasetConsumptionConfig

    ds = value.dataset if isinstance(value, DatasetConsumptionConfig) else value
    if not isinstance(ds, AbstractDataset):
        return None
    option, version = ds._registered(ws)
    return option, version, value.name if isinstance(value, DatasetConsumptionConfig) else (ds.name or option)


def local_path(value, ws) -> str | None:
    """The local folder of a datastore path, or of a dataset that is not the run's own."""
    from .core.datastore import Datastore

    if isinstance(value, Datastore):
        return str(value.root)
    if type(value).__name__ in ("DataReference", "DataPath", "OutputFileDatasetConfig"):
        return str(value.local_path)
    found = dataset_of(value, ws)
    return str(mount_folder(ws._tk.root, *found[:2])) if found else None


def mount_folder(ws_root: Path, option: str, version: int) -> Path:
    """<workspace>/azureml/mounts/NAME-vN: links to a dataset version's cached files (a run's second dataset)."""
    from trainkit.data.datasets import DatasetStore
    from trainkit.records.workspace import WorkspacePaths

    dv = DatasetStore(WorkspacePaths.at(str(ws_root))).get(option, version)
    folder = Path(ws_root) / "azureml" / "mounts" / f"{option}-v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    for units in dv.files.values():
        for unit in units:
            link = folder / Path(unit["path"]).name
            if not link.is_symlink():
                link.symlink_to(unit["path"])
    return folder


# ------------------------------------------------------------------ the script's fixes, on a copy
def stage(source_dir: Path, keras: str, ws_root: Path) -> tuple[Path, list[str]]:
    """(the folder the run snapshots, the fixes made): the source directory itself, or a copy of it
    in the workspace (<workspace>/azureml/code/<hash>/, by content) with migrate's mechanical fixes."""
    from trainkit.launch.snapshot import project_files

    source_dir = source_dir.resolve()
    if not settings.fix_scripts:
        return source_dir, []
    files = project_files(source_dir, ws_root)
    fixed, fixes = {}, []
    for rel in (f for f in files if f.endswith(".py")):
        text = (source_dir / rel).read_text(errors="replace")
        new, found = fixes_of(rel, text, keras)
        if new != text:
            fixed[rel], fixes = new, fixes + found
    if not fixed:
        return source_dir, []
    return copy_fixed(source_dir, files, fixed, ws_root), fixes


def fixes_of(rel: str, text: str, keras: str) -> tuple[str, list[str]]:
    """A script with migrate's mechanical rewrites, and each as `file:line old -> new`."""
    from trainkit.migrate.fix import apply

    new, applied = apply(rel, text, keras)
    lines = text.splitlines()
    out = []
    for f in applied:
        (l0, c0), (l1, c1) = f.edit.start, f.edit.end
        old = lines[l0 - 1][c0:c1] if l0 == l1 and l0 <= len(lines) else f.rule
        out.append(f"{rel}:{f.line} {old} -> {f.edit.text}")
    return new, out


def copy_fixed(source_dir: Path, files: list[str], fixed: dict[str, str], ws_root: Path) -> Path:
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + (fixed[rel].encode() if rel in fixed else (source_dir / rel).read_bytes()))
    final = Path(ws_root) / "azureml" / "code" / digest.hexdigest()[:16]
    if final.is_dir():
        return final
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel in files:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel in fixed:
            (tmp / rel).write_text(fixed[rel])
        else:
            shutil.copy2(source_dir / rel, tmp / rel)
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.rename(final)
    return final


def record(run_dir: Path, plan: Plan, src, fixes: list[str]) -> None:
    """<run>/azureml.json: what the notebook submitted and what trainkit changed."""
    from trainkit.fsutil import atomic_write_json

    atomic_write_json(Path(run_dir) / "azureml.json", {
        "script": src.script or src.run_config.script, "arguments": plan.arguments,
        "source_directory": str(Path(src.source_directory or ".").resolve()), "target": plan.target,
        "input_name": plan.input_name, "environment": plan.environment, "fixes": fixes,
        "notes": plan.notes})
