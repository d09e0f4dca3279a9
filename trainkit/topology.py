"""Which process am I, and who are the others? Pure functions and small frozen objects: no I/O
(beyond reading a given environ mapping) and no TensorFlow, so they are tested against tables."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Mapping

from .distributions import Role, describe, typed


def process_count(dist) -> int:
    """How many processes a distribution needs."""
    return describe(dist).processes(typed(dist))


def roles(dist) -> list[Role]:
    """The rank table: rank -> (task type, index, server?). Rank 0 is always the chief."""
    return describe(dist).roles(typed(dist))


def cluster_spec(table: list[Role], addresses: list[str]) -> dict[str, list[str]]:
    """TF's cluster dict from the rank table and one `host:port` per rank (same order)."""
    if len(addresses) != len(table):
        raise ValueError(f"expected {len(table)} addresses (one per rank), got {len(addresses)}")
    cluster: dict[str, list[str]] = {}
    for role in sorted(table, key=lambda r: (r.task_type, r.task_index)):
        cluster.setdefault(role.task_type, []).append(addresses[role.rank])
    return cluster


def tf_config(cluster: dict[str, list[str]], role: Role) -> dict:
    """The TF_CONFIG one process gets: the whole cluster plus its own task."""
    return {"cluster": cluster, "task": {"type": role.task_type, "index": role.task_index}}


def tf_configs(dist, addresses: list[str]) -> list[str] | None:
    """TF_CONFIG JSON for every rank, or None for strategies that do not use it."""
    if not describe(dist).tf_config:
        return None
    table = roles(dist)
    cluster = cluster_spec(table, addresses)
    return [json.dumps(tf_config(cluster, r), sort_keys=True) for r in table]


def assign_slots(hosts: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    """Fill hosts in order: rank -> (host, local rank). Raises if the slots do not suffice."""
    total = sum(s for _, s in hosts)
    if n > total:
        raise ValueError(f"{n} processes need {n} slots, the hosts have {total} "
                         f"({', '.join(f'{h}:{s}' for h, s in hosts)})")
    out = []
    for host, slots in hosts:
        out += [(host, i) for i in range(min(slots, n - len(out)))]
    return out


def horovod_hosts(assignment: list[tuple[str, int]]) -> str:
    """horovodrun's -H value (`host:count,...`) for a rank -> (host, local rank) assignment."""
    counts: dict[str, int] = {}
    for host, _ in assignment:
        counts[host] = counts.get(host, 0) + 1
    return ",".join(f"{h}:{c}" for h, c in counts.items())


def expand_nodelist(nodelist: str) -> list[str]:
    """Slurm's compressed host list (`gpu[01-03,07],login`) as host names, in order."""
    hosts, i, n = [], 0, len(nodelist)
    while i < n:
        j = i
        while j < n and nodelist[j] not in ",[":
            j += 1
        prefix = nodelist[i:j]
        if j < n and nodelist[j] == "[":
            k = nodelist.index("]", j)
            suffix_end = k + 1
            while suffix_end < n and nodelist[suffix_end] != ",":
                suffix_end += 1
            suffix = nodelist[k + 1:suffix_end]
            for part in nodelist[j + 1:k].split(","):
                lo, _, hi = part.partition("-")
                for num in range(int(lo), int(hi or lo) + 1):
                    hosts.append(f"{prefix}{num:0{len(lo)}d}{suffix}")
            i = suffix_end + 1
        else:
            if prefix:
                hosts.append(prefix)
            i = j + 1
    return hosts


def expand_tasks_per_node(spec: str) -> list[int]:
    """Slurm's SLURM_TASKS_PER_NODE (`2(x3),1`) as one count per node."""
    out = []
    for part in spec.split(","):
        count, _, rep = part.partition("(x")
        out += [int(count)] * (int(rep.rstrip(")")) if rep else 1)
    return out


def slurm_tasks_per_node(nodes: int, tasks_per_node: int | None, processes: int) -> int:
    """compute.tasks_per_node, or (null) as many as spread the processes over the nodes."""
    return int(tasks_per_node or -(-processes // nodes))


def block_layout(hosts: list[str], tasks_per_node: list[int]) -> list[tuple[str, int]]:
    """Slurm's default block distribution: rank -> (host, local rank), filling each node in turn."""
    if len(hosts) != len(tasks_per_node):
        raise ValueError(f"expected one task count per node ({len(hosts)} nodes), got {tasks_per_node}")
    return [(h, i) for h, count in zip(hosts, tasks_per_node) for i in range(count)]


def addresses(assignment: list[tuple[str, int]], base_port: int) -> list[str]:
    """`host:port` per rank: each process on a host listens on base_port + its local rank."""
    return [f"{host}:{base_port + local}" for host, local in assignment]


def local_sizes(assignment: list[tuple[str, int]]) -> list[int]:
    """Per rank: how many processes of the job share its host."""
    counts: dict[str, int] = {}
    for host, _ in assignment:
        counts[host] = counts.get(host, 0) + 1
    return [counts[host] for host, _ in assignment]


def core_share(allowed: Iterable[int], local_rank: int, local_size: int) -> list[int]:
    """compute.pin_cores: the cores local rank `local_rank` of `local_size` processes runs on, an
    equal block of the `allowed` ones (round-robin, one core each, when processes outnumber cores)."""
    cores = sorted(allowed)
    if not cores:
        raise ValueError("expected at least one allowed core, got none")
    k = max(1, len(cores) // max(1, local_size))
    start = (local_rank * k) % len(cores)
    return cores[start:start + k]


def rank_envs(dist, layout: list[tuple[str, int]], addrs: list[str]) -> list[dict[str, str]]:
    """Per rank, the variables a worker learns its place from: TRAINKIT_RANK/WORLD_SIZE/LOCAL_RANK/
    LOCAL_SIZE from the rank -> (host, local rank) layout, TF_CONFIG from one `host:port` per rank
    (TF_CONFIG strategies; `addrs` is unused otherwise) and GRPC_FAIL_FAST for parameter server."""
    sizes = local_sizes(layout)
    configs = tf_configs(dist, addrs)
    out = []
    for rank, (_, local) in enumerate(layout):
        env = {"TRAINKIT_RANK": str(rank), "TRAINKIT_WORLD_SIZE": str(len(layout)),
               "TRAINKIT_LOCAL_RANK": str(local), "TRAINKIT_LOCAL_SIZE": str(sizes[rank])}
        if configs:
            env["TF_CONFIG"] = configs[rank]
        if describe(dist).coordinated:
            env["GRPC_FAIL_FAST"] = "use_caller"
        out.append(env)
    return out


def horovod_slots(assignment: list[tuple[str, int]]) -> list[dict]:
    """Horovod's SlotInfo fields per rank (rank, local and cross ranks/sizes) for a Gloo rendezvous."""
    sizes = local_sizes(assignment)
    peers = {local: [h for h, lr in assignment if lr == local] for _, local in assignment}
    return [{"hostname": host, "rank": r, "local_rank": local, "cross_rank": peers[local].index(host),
             "size": len(assignment), "local_size": sizes[r], "cross_size": len(peers[local])}
            for r, (host, local) in enumerate(assignment)]


def horovod_envs(layout: list[tuple[str, int]], rendezvous: str, port: int) -> list[dict[str, str]]:
    """Per rank, what an unmodified `hvd.init()` needs to join a Gloo rendezvous (what horovodrun
    would set): its slot, its host name as the rendezvous knows it, and the server's address."""
    return [{**{f"HOROVOD_{k.upper()}": str(v) for k, v in slot.items() if k != "hostname"},
             "HOROVOD_HOSTNAME": slot["hostname"], "HOROVOD_CONTROLLER": "gloo", "HOROVOD_CPU_OPERATIONS": "gloo",
             "HOROVOD_GLOO_RENDEZVOUS_ADDR": rendezvous, "HOROVOD_GLOO_RENDEZVOUS_PORT": str(port)}
            for slot in horovod_slots(layout)]


@dataclass(frozen=True)
class WorkerEnv:
    rank: int = 0           # global rank; rank 0 is the chief and does all writing
    world_size: int = 1     # number of processes in the job
    local_rank: int = 0     # rank on this host
    local_size: int = 1     # processes of this job on this host (they share its cores)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> "WorkerEnv":
        """From horovodrun's HOROVOD_* variables, else the launcher's TRAINKIT_*, else one process."""
        env = os.environ if environ is None else environ
        for prefix in ("HOROVOD_", "TRAINKIT_"):  # horovodrun ranks inherit the launcher env
            if f"{prefix}RANK" in env:
                return cls(rank=int(env[f"{prefix}RANK"]),
                           world_size=int(env.get(f"{prefix}WORLD_SIZE", env.get(f"{prefix}SIZE", 1))),
                           local_rank=int(env.get(f"{prefix}LOCAL_RANK", 0)),
                           local_size=int(env.get(f"{prefix}LOCAL_SIZE", 1)))
        return cls()
