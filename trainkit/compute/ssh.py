"""compute=ssh, on the submitting machine: worker processes on hosts reached with the system
OpenSSH client.

- `SshBackend.preflight` (before the run exists): every host answers within
  `compute.connect_timeout_s` with its host key already known (StrictHostKeyChecking=yes), runs
  `compute.python` with the preset's TensorFlow/Keras, and reports its home and free ports.
- `launch`: the supervisor (`compute/ssh_supervisor.py`: in this process when `compute.wait=true`,
  else detached in its own session) ships code, data and the run record, starts one ssh session
  per slot, streams, stops, fetches back and registers.
- cancel: SIGTERM to the supervisor, which closes every ssh session (`compute/ssh_node.py` on the
  host kills its worker's process group when its stdin closes); then the recorded remote process
  groups are killed explicitly.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..typed import MISSING
from ..errors import TrainkitError
from ..fsutil import atomic_write_json
from ..records.workspace import RunPaths
from .base import Backend, ComputeConfig, Job, announce, record_job
from .ssh_hosts import fs_groups, hosts_of, kill_remote, probe

@dataclass
class SshHost:
    host: str = MISSING                                   # ssh destination (an alias from ~/.ssh/config works)
    port: int = 22
    user: Optional[str] = None                            # null = ssh's default (~/.ssh/config or the local user)
    slots: int = 1                                        # worker processes started on this host
    address: Optional[str] = None                         # address other hosts reach it at (TF_CONFIG); null = host
    workdir: Optional[str] = None                         # null = compute.workdir


@dataclass
class SshConfig(ComputeConfig):
    """compute=ssh: GPU hosts reached with the system OpenSSH client (StrictHostKeyChecking=yes)."""
    name: str = "ssh"
    wait: bool = False                                    # submit, print the job id and return (trainkit jobs ...)
    hosts: List[SshHost] = field(default_factory=lambda: [SshHost(host="localhost")])  # one process per slot, hosts filled in order
    identity_file: Optional[str] = None                   # null = ssh's default keys / agent
    known_hosts: Optional[str] = None                     # null = ~/.ssh/known_hosts; unknown or changed keys are refused
    workdir: str = "~/trainkit-remote"                    # remote directory for code, data and runs
    python: str = "python3"                               # remote interpreter (e.g. /opt/venv/bin/python) with trainkit's deps
    setup: List[str] = field(default_factory=list)        # shell lines run on the host before the worker
    shared_fs: bool = False                               # true: the workspace is mounted at the same path on the hosts
    connect_timeout_s: int = 10                           # preflight and every connection
    alive_interval_s: int = 3                             # ServerAliveInterval: a dead link fails the job after interval*count
    alive_count_max: int = 3
    ssh_options: List[str] = field(default_factory=list)  # extra `-o Key=Value` options
    rendezvous_address: Optional[str] = None              # horovod: where hosts reach this machine's Gloo rendezvous; null = the address that routes to the first host


class SshBackend(Backend):
    name, schema = "ssh", SshConfig

    def capacity(self, procs: int) -> tuple[str, int]:
        return "compute.hosts[*].slots", sum(h.slots for h in self.cfg.hosts)

    def check(self, procs: int) -> list[str]:
        c, problems = self.cfg, []
        positive = lambda v: isinstance(v, int) and v >= 1  # noqa: E731
        if not c.hosts:
            problems.append("compute.hosts: expected at least one {host, port, user, slots}, got []")
        for i, h in enumerate(c.hosts):
            if not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]+", str(h.host or "")):
                problems.append(f"compute.hosts[{i}].host: expected a host name, address or ssh alias, got {h.host!r}")
            if not positive(h.slots):
                problems.append(f"compute.hosts[{i}].slots: expected an integer >= 1, got {h.slots!r}")
            if not (isinstance(h.port, int) and 0 < h.port < 65536):
                problems.append(f"compute.hosts[{i}].port: expected a TCP port 1-65535, got {h.port!r}")
        for key in ("connect_timeout_s", "alive_interval_s", "alive_count_max"):
            if not positive(getattr(c, key)):
                problems.append(f"compute.{key}: expected an integer >= 1, got {getattr(c, key)!r}")
        for key in ("identity_file", "known_hosts"):
            path = getattr(c, key)
            if path and not os.path.isfile(os.path.expanduser(path)):
                problems.append(f"compute.{key}: expected an existing file, got {path!r} (not found)")
        return problems

    def preflight(self, job_cfg: dict) -> None:
        from .hostinfo import require_horovod

        require_horovod(job_cfg)   # the rendezvous server runs here: horovod is needed here too
        if not self.cfg.shared_fs and shutil.which("rsync") is None:
            raise TrainkitError("compute=ssh: `rsync` is not installed on this machine: expected it to ship "
                                "code and data (Debian: apt-get install rsync)")
        hosts = hosts_of(self.cfg)
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            self.probes = list(pool.map(lambda h: probe(h, job_cfg["environment"]), hosts))
        self.groups = fs_groups(hosts, self.probes)   # refuses hosts that share a filesystem but disagree on the path

    def build_environment(self, job_cfg: dict, echo=print) -> dict:
        """On each filesystem the hosts use (once for hosts sharing an NFS home), on top of
        compute.python: the uv binary is shipped there."""
        from .envs import remote_build, spec_hash, wanted

        if not wanted(job_cfg["environment"]):
            return {}
        pythons, lock, specs = {}, [], {}
        for group in self.groups:
            host = group[0]
            spec, python = remote_build(host, self.probes[host.index]["workdir"], job_cfg["environment"], self.cfg.python)
            pythons.update({str(h.index): python for h in group})
            specs[spec_hash(spec)] = spec
            lock = host.run(f"cat {shlex.quote(str(Path(python).parent.parent / 'lock.txt'))}").stdout.splitlines()
        [(digest, spec), *_] = specs.items()   # hosts with another Python build (and record) another hash
        return {"hash": digest, "spec": spec, "hosts": pythons, "lock": lock,
                **({"hashes": sorted(specs)} if len(specs) > 1 else {})}

    def launch(self, spec) -> Job:
        paths = RunPaths(Path(spec.run_dir))
        atomic_write_json(paths.backend_dir(self.name) / "hosts.json", self.probes)
        labels = [h.label for h in hosts_of(self.cfg)]
        record_job(paths, self.name, hosts=labels)

        def run_here(paths):
            from .output import Tee
            from .ssh_supervisor import Supervisor

            announce(spec.run_id, f"ssh: {', '.join(labels)}")
            Supervisor(spec).run(console=Tee(sys.stdout, open(paths.console, "a")))

        return self.own(spec, "trainkit.compute.ssh_supervisor", f"ssh: {', '.join(labels)}", run_here)

    def stop_remains(self, job: Job) -> None:
        """The supervisor is gone: kill the remote process groups it recorded, if any are left."""
        from ..fsutil import read_json
        from ..records.spec import JobSpec
        from .ssh_supervisor import Supervisor

        remote = read_json(job.paths.backend_dir(self.name) / "remote.json")
        if remote:
            kill_remote(Supervisor(JobSpec.read(job.paths.spec)).plan(), {int(k): v for k, v in remote.items()})
