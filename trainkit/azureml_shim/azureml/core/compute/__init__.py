"""Azure ML SDK v1's compute targets as names for trainkit computes (see azureml/_clusters.py):
`ComputeTarget(ws, name)` finds a cluster azureml.yaml maps or the notebook created, else raises
ComputeTargetException; `ComputeTarget.create` records one (on this machine unless azureml.yaml
maps it); nothing is provisioned."""
from __future__ import annotations

import time

from ..._clusters import DEFAULT, created, forget, lookup, mapped, remember
from ..._tk import Surface, note
from ...exceptions import ComputeTargetException

CLUSTER_INSTEAD = "a cluster of your own as a trainkit compute (compute=slurm|ssh|ray), named in azureml.yaml"


class ComputeTarget(Surface):
    """A named compute target: `.name`, `.type`, `.provisioning_state`, `get_status()`."""

    _unsupported = {"attach": CLUSTER_INSTEAD, "detach": CLUSTER_INSTEAD, "update": CLUSTER_INSTEAD,
                    "list_nodes": "sinfo / ray status on your cluster", "get_active_runs": "trainkit jobs list",
                    "refresh_state": "trainkit jobs status JOB", "list_quotas": CLUSTER_INSTEAD,
                    "update_quotas": CLUSTER_INSTEAD, "supported_vmsizes": CLUSTER_INSTEAD}

    def __new__(cls, workspace=None, name=None, **kwargs):
        return super().__new__(AmlCompute if cls is ComputeTarget else cls)

    def __init__(self, workspace=None, name: str | None = None, **kwargs):
        if getattr(self, "_ready", False):
            return
        if workspace is None or not name:
            raise ComputeTargetException(f"ComputeTarget(workspace, name): expected both, got {workspace!r}, {name!r}")
        entry = lookup(workspace._tk.root, name)
        if entry is None:
            raise ComputeTargetException(f"ComputeTargetNotFound: compute target {name!r} is not in azureml.yaml "
                                         "(clusters:) nor created in this workspace")
        self.workspace, self.name, self._entry = workspace, name, entry
        self._settings = created(workspace._tk.root).get(name, {})
        self._ready = True

    @property
    def type(self) -> str:
        return "AmlCompute"

    @property
    def provisioning_state(self) -> str:
        return "Succeeded"

    @property
    def compute(self) -> str:
        """The trainkit compute option this cluster runs on (compute=...)."""
        return self._entry["compute"]

    @staticmethod
    def create(workspace, name: str, provisioning_configuration) -> "AmlCompute":
        """Record the cluster `name` (nothing is provisioned: it runs on the compute azureml.yaml maps
        it to, this machine by default)."""
        settings = dict(getattr(provisioning_configuration, "settings", {}) or {})
        remember(workspace._tk.root, name, settings)
        target = AmlCompute(workspace, name)
        note(f"compute target {name!r} runs on trainkit's compute={target.compute}"
             + (" (this machine; map it to your cluster in azureml.yaml: clusters: {"
                f"{name}: {{compute: slurm}}}})" if target.compute == DEFAULT else ""))
        return target

    @staticmethod
    def list(workspace) -> list:
        root = workspace._tk.root
        names = list(dict.fromkeys([*mapped(root), *created(root)]))
        return [AmlCompute(workspace, n) for n in names]

    def wait_for_completion(self, show_output: bool = False, min_node_count=None, timeout_in_minutes: int = 25,
                            is_delete_operation: bool = False) -> None:
        if show_output:
            print(f"Succeeded\n{self.name}: trainkit compute={self.compute} (nothing to provision)")

    def get_status(self) -> "ComputeStatus":
        return ComputeStatus(self)

    def serialize(self) -> dict:
        return {"name": self.name, "type": self.type, "properties": {"compute": self.compute, **self._settings}}

    def delete(self) -> None:
        forget(self.workspace._tk.root, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workspace={self.workspace!r}, name={self.name}, type={self.type}, " \
               f"provisioning_state={self.provisioning_state}, location=local, compute={self.compute})"


class AmlCompute(ComputeTarget):
    """An Azure ML cluster (AmlCompute), as a name for a trainkit compute."""

    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated", min_nodes: int = 0,
                                   max_nodes: int = 4, idle_seconds_before_scaledown: int | None = None,
                                   **kwargs) -> "ProvisioningConfiguration":
        return ProvisioningConfiguration(vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes,
                                         max_nodes=max_nodes, idle_seconds_before_scaledown=idle_seconds_before_scaledown)


class ComputeInstance(ComputeTarget):
    """A compute instance: this machine."""

    @property
    def type(self) -> str:
        return "ComputeInstance"

    @staticmethod
    def provisioning_configuration(vm_size: str = "", **kwargs) -> "ProvisioningConfiguration":
        return ProvisioningConfiguration(vm_size=vm_size)


class ProvisioningConfiguration:
    """What AmlCompute.provisioning_configuration was given (kept with the cluster's record)."""

    def __init__(self, **settings):
        self.settings = {k: v for k, v in settings.items() if v is not None}

    def validate_configuration(self) -> None:
        """Nothing to check: no cloud resource is made."""

    def __repr__(self) -> str:
        return f"AmlComputeProvisioningConfiguration({self.settings})"


class ComputeStatus:
    """Azure's status object of a cluster; `serialize()` the dict notebooks print."""

    def __init__(self, target: ComputeTarget):
        self.target = target
        self.provisioning_state, self.allocation_state = "Succeeded", "Steady"
        nodes = int(target._entry.get("nodes", 1) or 1)
        self.current_node_count = self.target_node_count = nodes

    def serialize(self) -> dict:
        s, now = self.target._settings, time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())
        return {"currentNodeCount": self.current_node_count, "targetNodeCount": self.target_node_count,
                "nodeStateCounts": {"idleNodeCount": self.current_node_count, "runningNodeCount": 0,
                                    "preparingNodeCount": 0, "unusableNodeCount": 0, "leavingNodeCount": 0,
                                    "preemptedNodeCount": 0},
                "allocationState": self.allocation_state, "allocationStateTransitionTime": now, "errors": None,
                "creationTime": now, "modifiedTime": now, "provisioningState": self.provisioning_state,
                "provisioningStateTransitionTime": None,
                "scaleSettings": {"minNodeCount": s.get("min_nodes", 0), "maxNodeCount": s.get("max_nodes", 1),
                                  "nodeIdleTimeBeforeScaleDown": f"PT{s.get('idle_seconds_before_scaledown') or 1800}S"},
                "vmPriority": str(s.get("vm_priority", "dedicated")).capitalize(), "vmSize": s.get("vm_size", ""),
                "trainkitCompute": self.target.compute}


def targets_of(workspace) -> dict:
    """ws.compute_targets: {name: ComputeTarget}."""
    return {t.name: t for t in ComputeTarget.list(workspace)}


__all__ = ["ComputeTarget", "AmlCompute", "ComputeInstance", "ComputeTargetException", "targets_of"]
