"""Distributed jobs: `MpiConfiguration(process_count_per_node, node_count)` (or an estimator's
`Mpi`) is Horovod; `TensorflowConfiguration(worker_count, parameter_server_count)` (or
`ParameterServer`) is MultiWorkerMirrored, or the parameter-server strategy when it has parameter
servers. Returns the distribution option with its keys, and the per-node sizes of a cluster."""
from __future__ import annotations

from ..values import Sdk
from . import Migration


def count(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


def distribution(m: Migration, sdk: Sdk, estimator: bool) -> tuple[tuple[str, dict] | None, dict]:
    cfg = sdk.arg("distributed_training") if estimator else sdk.arg("distributed_job_config")
    rc = sdk.arg("run_config") if isinstance(sdk.arg("run_config"), Sdk) else None
    if not isinstance(cfg, Sdk) and rc is not None:   # RunConfiguration(communicator=...) with .mpi / .tensorflow
        communicator = str(rc.arg("communicator") or "")
        cfg = rc.attrs.get("tensorflow") if communicator == "ParameterServer" else rc.attrs.get("mpi") \
            if communicator in ("Mpi", "IntelMpi") else None
        if rc.arg("node_count") and isinstance(cfg, Sdk):
            cfg.attrs.setdefault("node_count", rc.arg("node_count"))
        m.mark(rc, "part of the experiment config: its target, environment and distribution")
    nodes = count((sdk.arg("node_count") if estimator else None) or (cfg.arg("node_count") if isinstance(cfg, Sdk)
                                                                      else None), 1)
    if isinstance(cfg, Sdk) and cfg.name in ("MpiConfiguration", "Mpi"):
        per = count(cfg.arg("process_count_per_node", 0) or (sdk.arg("process_count_per_node") if estimator else None), 1)
        m.mark(cfg, f"distribution=horovod, processes={nodes * per} ({nodes} node(s) x {per})")
        return ("horovod", {"processes": nodes * per}), ({"nodes": nodes, "tasks_per_node": per} if nodes > 1 else {})
    if isinstance(cfg, Sdk) and cfg.name in ("TensorflowConfiguration", "ParameterServer"):
        workers = count(cfg.arg("worker_count", 0) or (sdk.arg("worker_count") if estimator else None), 1)
        ps = cfg.arg("parameter_server_count", 1)
        if ps is None and estimator:
            ps = sdk.arg("parameter_server_count")
        ps = 1 if ps is None else ps if isinstance(ps, int) and not isinstance(ps, bool) else 0   # Azure's default: 1
        if ps:
            m.mark(cfg, f"distribution=parameter_server, workers={workers}, ps={ps} (+1 chief process: trainkit's "
                        "coordinator; Azure ML made worker 0 the chief)")
            return ("parameter_server", {"workers": workers, "ps": ps}), {}
        m.mark(cfg, f"distribution=multi_worker_mirrored, workers={workers} (TF_CONFIG per worker)")
        return ("multi_worker_mirrored", {"workers": workers}), ({"nodes": workers, "tasks_per_node": 1}
                                                                 if workers > 1 else {})
    if isinstance(cfg, Sdk):
        m.unmapped(cfg, f"{cfg.name}: no trainkit distribution (horovod, multi_worker_mirrored, parameter_server)")
    return None, {}
