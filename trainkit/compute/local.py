"""compute=local: every worker process on this machine.

With `compute.wait=true` (the default) this process supervises the job itself and streams its
output: Ctrl-C cancels it, and killing this process kills its workers. With `compute.wait=false`
a supervisor started in its own session (`setsid`) owns the job: the submit prints the run id and
returns, closing the terminal does not stop it, and `trainkit jobs status/logs -f/cancel` work for
it as for Slurm and ssh jobs. The supervisor itself is `compute/local_node.py`."""
from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..records.runs import write_status
from ..records.workspace import RunPaths
from .base import Backend, ComputeConfig, Job, announce, record_job
from .hostinfo import require_horovod

@dataclass
class LocalConfig(ComputeConfig):
    """compute=local: worker processes on this machine."""
    name: str = "local"
    slots: int = 4                                        # worker processes that may run at once here (parameter_server's chief + 2 workers + 1 ps = 4)


class LocalBackend(Backend):
    name, schema, runs_here = "local", LocalConfig, True

    def capacity(self, procs: int) -> tuple[str, int]:
        return "compute.slots", self.cfg.slots

    def check(self, procs: int) -> list[str]:
        slots = self.cfg.slots
        return [] if isinstance(slots, int) and slots >= 1 else [f"compute.slots: expected an integer >= 1, got {slots!r}"]

    def preflight(self, job_cfg: dict) -> None:
        require_horovod(job_cfg)

    def launch(self, spec) -> Job:
        paths = RunPaths(Path(spec.run_dir))
        record_job(paths, self.name, detached=not self.cfg.wait)
        if self.cfg.wait:
            from .local_node import Supervisor

            Supervisor(spec).run(tee=True)   # this process owns the job
            return self.attach(paths)
        log = open(paths.console, "a")
        proc = subprocess.Popen([sys.executable, "-m", "trainkit.compute.local_node", str(paths.spec)],
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=spec.project_root)
        write_status(paths, "queued", pid=proc.pid, host=socket.gethostname())
        proc.stdin.write(b"go\n")   # the supervisor starts only now: its status writes come after ours
        proc.stdin.close()
        announce(spec.run_id, f"local; supervisor pid {proc.pid}")
        return self.attach(paths)
