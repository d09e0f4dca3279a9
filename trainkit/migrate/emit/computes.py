"""Compute targets: an AmlCompute cluster (`ComputeTarget(ws, name)` in try/except
`ComputeTargetException`, `AmlCompute.provisioning_configuration(vm_size, max_nodes)`,
`ComputeTarget.create`) becomes `conf/compute/NAME.yaml` for the chosen cluster target (Slurm or
Ray), sized from a table of Azure VM sizes; `'local'` is this machine. Waiting for a cluster and
asking its status are notes about the cluster, never the run."""
from __future__ import annotations

from ...compute import DEFAULT as THIS_MACHINE
from ..values import Sdk
from . import Migration, slug

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
    "standard_f8s_v2": (0, 8), "standard_e4s_v3": (0, 4), "standard_e8s_v3": (0, 8), "standard_d2_v3": (0, 2),
    "standard_d4_v3": (0, 4), "standard_d13_v2": (0, 8), "standard_ds12_v2": (0, 4), "standard_ds11_v2": (0, 2),
}
CLUSTER_NOTES = ("wait_for_completion", "get_status", "serialize", "delete", "update", "refresh_state",
                 "list_nodes", "detach", "get_active_runs")


def emit(m: Migration) -> None:
    m.each(m.of("ComputeTarget.create"), created)
    m.each([s for s in m.of("ComputeTarget", "AmlCompute", "ComputeInstance")
            if s.name in ("ComputeTarget", "AmlCompute", "ComputeInstance")], named)
    m.each([s for s in m.of("AmlCompute.provisioning_configuration", "ComputeInstance.provisioning_configuration")
            if not m.by_sdk[id(s)].became], lambda m, sdk: cluster(m, sdk.var or "cluster", sdk, sdk.where))
    for sdk in m.of(*CLUSTER_NOTES):
        if sdk.owner() is not None and sdk.owner().name.split(".")[0] in ("ComputeTarget", "AmlCompute",
                                                                           "ComputeInstance"):
            m.mark(sdk, "a note about the cluster, not the run: trainkit does not provision clusters "
                        "(`sinfo` / `ray status` show yours)")


def created(m: Migration, sdk: Sdk) -> None:
    option = cluster(m, sdk.arg("name", 1), sdk.arg("provisioning_configuration", 2), sdk.where)
    m.mark(sdk, f"conf/compute/{option}.yaml (compute={option}); the cluster itself is yours to run")


def named(m: Migration, sdk: Sdk) -> None:
    option = compute_of(m, sdk)
    m.mark(sdk, f"compute={option}" if option else "a compute target (its name is not a literal)")


def compute_of(m: Migration, value) -> str | None:
    """The compute option of a `compute_target=` value: Azure's name for this machine, a cluster name
    or a ComputeTarget."""
    if isinstance(value, str):
        return THIS_MACHINE if value.lower() == AZURE_LOCAL else cluster(m, value, provisioned(m, value), "")
    if not isinstance(value, Sdk):
        return None
    if value.name == "ComputeTarget.create":
        return cluster(m, value.arg("name", 1), value.arg("provisioning_configuration", 2), value.where)
    name = value.arg("name", 1)
    if isinstance(name, str):
        return THIS_MACHINE if name.lower() == AZURE_LOCAL else cluster(m, name, provisioned(m, name), value.where)
    return None


def provisioned(m: Migration, name: str) -> Sdk | None:
    for c in m.of("ComputeTarget.create"):
        if c.arg("name", 1) == name and isinstance(c.arg("provisioning_configuration", 2), Sdk):
            return c.arg("provisioning_configuration", 2)
    return None


def cluster(m: Migration, name, prov, where: str) -> str:
    """The compute option of an AmlCompute cluster (written once per name and size)."""
    from ...compute import DEFAULT_CLUSTER, backend_class

    name = name if isinstance(name, str) else "cluster"
    prov = prov if isinstance(prov, Sdk) else None
    vm = str(prov.arg("vm_size", 0, "")).lower() if prov else ""
    key = (slug(name), vm)
    done = m.made.setdefault("cluster", {})
    if key in done:
        return done[key]
    option = m.unique("compute", name, vm or "?", where)
    done[key] = option
    gpus, cpus = VM_SIZES.get(vm, (None, None))
    kind = m.opts.compute or DEFAULT_CLUSTER
    keys, note = backend_class(kind).from_cluster(gpus, cpus)
    rel = f"conf/compute/{option}.yaml"
    header = [f"Migrated from AmlCompute cluster {name!r}" + (f" ({prov.where}): vm_size {vm or '?'}" if prov else "") + ".",
              note]
    if prov is not None and (prov.arg("max_nodes") or prov.arg("min_nodes")):
        header.append(f"min_nodes={prov.arg('min_nodes', None, 0)} max_nodes={prov.arg('max_nodes')}: autoscaling is the "
                      "cluster's own (Slurm power saving, Ray's autoscaler), not part of a job.")
    if vm and gpus is None:
        m.project.note(f"{rel}: VM size {vm!r} is not in trainkit's table: set the GPUs and CPUs per node")
    m.project.yaml(rel, header, {"defaults": [f"base_{kind}", "_self_"], **keys})
    m.made.setdefault("clusters", {})[option] = True
    if prov is not None:
        m.mark(prov, f"{rel}: {kind}, " + (f"{gpus} GPU(s), {cpus} CPUs per node" if gpus is not None else "size TODO"))
    return option


def is_cluster(m: Migration, option: str | None) -> bool:
    return bool(option) and option in m.made.get("clusters", {})


def takes_sizes(m: Migration) -> bool:
    """Whether the cluster target has per-job node sizes (compute.nodes, compute.tasks_per_node)."""
    from dataclasses import fields

    from ...compute import DEFAULT_CLUSTER, backend_class

    names = {f.name for f in fields(backend_class(m.opts.compute or DEFAULT_CLUSTER).schema)}
    return {"nodes", "tasks_per_node"} <= names
