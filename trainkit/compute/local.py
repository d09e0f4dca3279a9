"""compute=local: every worker process on this machine.

With `compute.wait=true` (the default) this process supervises the job itself and streams its
output: Ctrl-C cancels it, and killing this process kills its workers. With `compute.wait=false`
a supervisor started in its own session (`setsid`) owns the job: the submit prints the run id and
returns, closing the terminal does not stop it, and `trainkit jobs status/logs -f/cancel` work for
it as for Slurm and ssh jobs. The supervisor itself is `compute/local_node.py`.

`compute.nodes` and `compute.tasks_per_node` let an experiment sized for a cluster (2 nodes x 2
processes, as `trainkit migrate` writes them) run here unchanged: every process runs on this
machine, `compute.slots` bounds how many, and the output says when they share fewer cores."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..records.workspace import RunPaths
from ..topology import slurm_tasks_per_node
from .base import Backend, ComputeConfig, Job, record_job
from .hostinfo import require_horovod

@dataclass
class LocalConfig(ComputeConfig):
    """compute=local: worker processes on this machine."""
    name: str = "local"
    slots: int = 4                                        # worker processes that may run at once here (parameter_server's chief + 2 workers + 1 ps = 4)
    nodes: int = 1                                        # a cluster experiment's node count tried here: every node's processes run on this machine
    tasks_per_node: Optional[int] = None                  # processes per node (null = ceil(processes / nodes)); nodes*tasks_per_node must equal the processes, as on Slurm


class LocalBackend(Backend):
    name, schema, runs_here = "local", LocalConfig, True

    def capacity(self, procs: int) -> tuple[str, int]:
        return "compute.slots", self.cfg.slots

    def check(self, procs: int) -> list[str]:
        c, problems = self.cfg, []
        positive = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1  # noqa: E731
        for key, ok, what in (("slots", positive, "an integer >= 1"), ("nodes", positive, "an integer >= 1"),
                              ("tasks_per_node", lambda v: v is None or positive(v), "null or an integer >= 1")):
            if not ok(getattr(c, key)):
                problems.append(f"compute.{key}: expected {what}, got {getattr(c, key)!r}")
        if not problems and c.nodes * slurm_tasks_per_node(c.nodes, c.tasks_per_node, procs) != procs:
            problems.append(f"compute.tasks_per_node: expected compute.nodes x compute.tasks_per_node = the {procs} "
                            f"process(es) of the distribution, got {c.nodes} x "
                            f"{slurm_tasks_per_node(c.nodes, c.tasks_per_node, procs)} (set both, or the "
                            "distribution's process count, so that they agree)")
        return problems

    def preflight(self, job_cfg: dict) -> None:
        require_horovod(job_cfg)

    def launch(self, spec) -> Job:
        for line in placement_notes(self.cfg, spec.world_size, usable_cores()):
            print(line, flush=True)
        record_job(RunPaths(Path(spec.run_dir)), self.name, detached=not self.cfg.wait)

        def run_here(paths):
            from .local_node import Supervisor

            Supervisor(spec).run(tee=True)

        return self.own(spec, "trainkit.compute.local_node", "local", run_here)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask: what the worker processes inherit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def placement_notes(cfg: LocalConfig, procs: int, cores: int) -> list[str]:
    """What the user should know about where a local job's processes run: a cluster's nodes folded
    onto this machine, and more processes than cores."""
    notes = []
    if cfg.nodes > 1:
        per = slurm_tasks_per_node(cfg.nodes, cfg.tasks_per_node, procs)
        notes.append(f"compute=local: compute.nodes={cfg.nodes} x tasks_per_node={per}: all {procs} processes run "
                     "on this machine (one host; nodes are not simulated)")
    if procs > cores:
        notes.append(f"note: {procs} worker processes share {cores} core(s) here: each runs slower than on a "
                     "machine of its own (fine for a smoke test; time it on the cluster)")
    return notes
