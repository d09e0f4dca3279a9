"""Azure ML SDK v1 run configurations as trainkit overrides: pure functions (no I/O, no Hydra, no
TensorFlow) from the notebook's objects to the command-line overrides `tk.submit` takes, and the
notes saying what changed. Distributions follow `trainkit migrate`'s mapping, environments its
`envmap`, HyperDrive policies and parameter expressions its `emit/policies.py` and `emit/sweeps.py`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

DATASET_PATH = "${dataset.path}"     # where a dataset's mount goes in entry.arguments
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class Ref(str):
    """An interpolation (`${params.batch_size}`) among a script's arguments: resolved by trainkit."""


def quote(value) -> str:
    """A value as a Hydra quoted string that parses back to str(value); a Ref stays an interpolation,
    anything else that looks like one is escaped (a literal)."""
    text = str(value) if isinstance(value, Ref) else str(value).replace("${", "\\${")
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)   # backslashes before a quote or the end
    return "'" + text.replace("'", "\\'") + "'"


def listing(values: list) -> str:
    """A Hydra list of quoted values."""
    return "[" + ",".join(quote(v) for v in values) + "]"


@dataclass
class Plan:
    """One submission: the overrides, and what the notebook sees of it."""

    overrides: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)       # what changed from what the notebook asked for
    arguments: list[str] = field(default_factory=list)   # the script's arguments as Azure shows them
    items: list = field(default_factory=list)            # entry.arguments: strings and Refs (params of swept values)
    dataset: tuple[str, int | None] | None = None        # (config option, version) mounted as ${dataset.path}
    input_name: str | None = None
    keras: str = "3"
    target: str = "local"
    environment: dict = field(default_factory=dict)


def arguments(values: list, dataset_option, local_path) -> tuple[list, list[str], tuple | None, str | None, list]:
    """(entry.arguments, Azure's view, the dataset mounted, its input name, notes). A dataset's
    mount becomes ${dataset.path}; a second dataset, or a datastore path, its local folder (`local_path`)."""
    items, shown, notes = [], [], []
    mounted, input_name = None, None
    for value in values:
        ds = dataset_option(value)
        if ds is not None and (mounted is None or mounted == ds[:2]):
            mounted, input_name = ds[:2], input_name or ds[2]
            items.append(Ref(DATASET_PATH))
            shown.append(f"DatasetConsumptionConfig:{ds[2]}")
            continue
        path = local_path(value)
        if path is not None:
            if ds is not None:
                notes.append(f"a run mounts one dataset in trainkit: {ds[0]} is passed as its local folder {path}")
            items.append(str(path))
            shown.append(str(path))
            continue
        items.append(str(value))
        shown.append(str(value))
    return items, shown, mounted, input_name, notes


def distribution(kind: str | None, nodes: int, per_node: int, workers: int, ps: int) -> tuple[list[str], list[str]]:
    """(distribution overrides, compute sizes) of Azure's MPI / TensorFlow configurations, as
    `trainkit migrate` maps them: MPI is Horovod with nodes x processes per node, TensorFlow's is
    MultiWorkerMirrored, or the parameter-server strategy when it has parameter servers."""
    if kind == "mpi":
        sizes = [f"compute.nodes={nodes}", f"compute.tasks_per_node={per_node}"] if nodes > 1 else []
        return ["distribution=horovod", f"distribution.processes={nodes * per_node}"], sizes
    if kind == "tensorflow" and ps:
        return ["distribution=parameter_server", f"distribution.workers={workers}", f"distribution.ps={ps}"], []
    if kind == "tensorflow":
        sizes = [f"compute.nodes={workers}", "compute.tasks_per_node=1"] if workers > 1 else []
        return ["distribution=multi_worker_mirrored", f"distribution.workers={workers}"], sizes
    return [], []


def takes_sizes(option: str) -> bool:
    """Whether a compute option has per-job node sizes (compute.nodes, compute.tasks_per_node)."""
    from dataclasses import fields

    from trainkit.compute import BACKENDS, backend_class

    if option not in BACKENDS:
        return False
    return {"nodes", "tasks_per_node"} <= {f.name for f in fields(backend_class(option).schema)}


def compute(cluster: dict) -> list[str]:
    """The overrides of a cluster's entry in azureml.yaml ({compute: OPTION, KEY: VALUE...})."""
    out = [f"compute={cluster['compute']}"]
    for key, value in cluster.items():
        if key != "compute":
            out.append(f"compute.{key}={quote(value) if isinstance(value, str) else _plain(value)}")
    return out


def environment(choice, env_vars: dict) -> list[str]:
    """The overrides of an environment mapped by migrate's envmap (its preset, pip lines, variables)."""
    out = [f"environment={choice.preset()}"]
    if choice.pip:
        out.append("environment.pip=" + listing(choice.pip))
    for key, value in env_vars.items():
        out.append(f"++environment.env_vars.{key}={quote(value)}" if KEY.match(str(key)) else "")
    return [o for o in out if o]


def tags(values: dict) -> tuple[list[str], dict]:
    """Run tags as overrides; those whose key is not a config key are returned to be tagged afterwards."""
    out, rest = [], {}
    for key, value in (values or {}).items():
        if KEY.match(str(key)):
            out.append(f"++run.tags.{key}={quote(value)}")
        else:
            rest[str(key)] = str(value)
    return out, rest


def param_name(option: str) -> str:
    """A swept script option (`--batch-size`, `learning_rate`) as a params key (batch_size)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(option).lstrip("-")).strip("_") or "param"


def sweep_items(items: list, space: dict) -> tuple[list, dict[str, str]]:
    """entry.arguments with each swept option's value taken from ${params.NAME} (appended as
    `--option ${params.NAME}` when absent, as HyperDrive passes it); {params key: option}."""
    items, names = list(items), {}
    for key in space:
        option = key if str(key).startswith("-") else f"--{key}"
        pname = param_name(option)
        names[pname] = option
        ref = "${params." + pname + "}"
        for i, item in enumerate(items):
            if item == option and i + 1 < len(items):
                items[i + 1] = Ref(ref)
                break
            if not isinstance(item, Ref) and str(item).startswith(option + "="):
                items[i] = Ref(str(item)[:len(option) + 1].replace("${", "\\${") + ref)
                break
        else:
            items += [option, Ref(ref)]
    return items, names


def _plain(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)
