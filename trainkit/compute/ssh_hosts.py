"""compute=ssh: the hosts of a job and how to reach them: ssh and rsync command lines, the probe
each host answers, filesystems shared between hosts, and killing what a job left on them."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from ..errors import TrainkitError
from ..records.workspace import RunPaths
from .hostinfo import PROBE, check_probe

RSYNC_IDLE_S = 120   # rsync gives up when no data moved for this long (not a wall-clock limit)


class Host:
    """One `compute.hosts[i]` entry and how to reach it: ssh and rsync command lines."""

    def __init__(self, compute, index: int):
        """`compute`: the typed compute=ssh config (SshConfig)."""
        h = compute.hosts[index]
        self.c, self.index, self.name, self.port = compute, index, h.host, int(h.port or 22)
        self.user, self.slots = h.user, int(h.slots)
        self.address = h.address or h.host
        self.workdir = h.workdir or compute.workdir

    @property
    def label(self) -> str:
        return f"{self.name}:{self.port}" if self.port != 22 else self.name

    @property
    def dest(self) -> str:
        return f"{self.user}@{self.name}" if self.user else self.name

    def ssh_args(self) -> list[str]:
        c = self.c
        args = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"ConnectTimeout={c.connect_timeout_s}",
                "-o", f"ServerAliveInterval={c.alive_interval_s}",
                "-o", f"ServerAliveCountMax={c.alive_count_max}", "-p", str(self.port)]
        if c.known_hosts:
            args += ["-o", f"UserKnownHostsFile={os.path.expanduser(c.known_hosts)}"]
        if c.identity_file:
            args += ["-i", os.path.expanduser(c.identity_file), "-o", "IdentitiesOnly=yes"]
        for opt in c.ssh_options:
            args += ["-o", opt]
        return args

    def command(self, script: str) -> list[str]:
        """ssh argv running a shell script on the host (the script is one quoted argument)."""
        return [*self.ssh_args(), self.dest, "--", "sh -c " + shlex.quote(script)]

    def run(self, script: str, timeout: float | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(script), capture_output=True, text=True, input=stdin,
                              timeout=timeout or self.c.connect_timeout_s + 120)

    def rsync(self, src: str, dst: str, excludes: list[str] = (), to_remote: bool = True,
              delete: bool = True, files_from: str | None = None, includes: list[str] = (),
              update: bool = False) -> None:
        """rsync over this host's ssh settings; to_remote: local src -> remote dst (trainkit's own
        files, links kept), else back (regular files only, `includes` only); `files_from`: a file
        listing the only paths (relative to src) to copy; `update`: never replace a newer file."""
        ends = [src, f"{self.dest}:{dst}"] if to_remote else [f"{self.dest}:{src}", dst]
        mode = ["-a"] if to_remote else ["-rt", "--chmod=u+rw"]
        filters = [*(f"--include={i}" for i in includes), *(["--exclude=*"] if includes else [])]
        cmd = ["rsync", *mode, "--protect-args", f"--timeout={RSYNC_IDLE_S}", "-e", shlex.join(self.ssh_args()),
               *(["--delete"] if to_remote and delete else []), *(["--update"] if update else []),
               *(f"--exclude={e}" for e in excludes), *filters,
               *([f"--files-from={files_from}"] if files_from else []), *ends]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            raise TrainkitError("compute=ssh: `rsync` is not installed on this machine: expected it to ship "
                                "code and data (Debian: apt-get install rsync)") from None
        if res.returncode != 0:
            raise TrainkitError(f"host {self.label}: rsync {src} -> {dst} failed (exit {res.returncode}): "
                                f"{res.stderr.strip()[-400:]}")


def explain_ssh_failure(host: Host, res: subprocess.CompletedProcess, timeout: int) -> str:
    err = (res.stderr or "").strip()
    known = host.c.known_hosts or "~/.ssh/known_hosts"
    if "IDENTIFICATION HAS CHANGED" in err or "Host key verification failed" in err:
        return (f"host {host.label}: host key verification failed: expected the key recorded in {known}, "
                f"the host offered a different or unknown key (StrictHostKeyChecking=yes; if the host was "
                f"really reinstalled, update {known})")
    if "timed out" in err or "No route" in err or "refused" in err or "Could not resolve" in err:
        return f"host {host.label}: unreachable within {timeout} s: {err.splitlines()[-1] if err else 'no answer'}"
    if "Permission denied" in err:
        return f"host {host.label}: authentication refused (identity_file={host.c.identity_file}): {err.splitlines()[-1]}"
    return f"host {host.label}: ssh failed (exit {res.returncode}): {err[-400:] or res.stdout.strip()[-400:]}"


def hosts_of(compute) -> list[Host]:
    return [Host(compute, i) for i in range(len(compute.hosts))]


def probe(host: Host, env_cfg: dict) -> dict:
    """Reachability, versions, resolved workdir and free ports of one host (raises TrainkitError)."""
    c = host.c
    script = "\n".join([*c.setup, f"exec {shlex.quote(c.python)} - {shlex.quote(host.workdir)} {host.slots} fsid"])
    try:
        res = host.run(script, timeout=c.connect_timeout_s + 60, stdin=PROBE)
    except subprocess.TimeoutExpired:
        raise TrainkitError(f"host {host.label}: no answer within {c.connect_timeout_s + 60} s") from None
    if res.returncode == 255:
        raise TrainkitError(explain_ssh_failure(host, res, c.connect_timeout_s))
    return check_probe(res, env_cfg, f"host {host.label} ({c.python})")


def fs_groups(hosts: list[Host], probes: list[dict]) -> list[list[Host]]:
    """Hosts grouped by the filesystem that holds their work directory (the probe's marker id):
    hosts with an NFS home share one copy of the code, data and run record, shipped once."""
    groups: dict[str, list[Host]] = {}
    for host in hosts:   # probes: every host's probe answer, by host index
        groups.setdefault(probes[host.index].get("fsid") or f"host-{host.index}", []).append(host)
    for members in groups.values():
        paths = {probes[h.index]["workdir"] for h in members}
        if len(paths) > 1:
            raise TrainkitError(f"compute.hosts: {', '.join(h.label for h in members)} share one filesystem but see "
                                f"the work directory at different paths {sorted(paths)}; expected one path "
                                "(set compute.workdir or compute.hosts[i].workdir so that they agree)")
    return list(groups.values())


def kill_remote(plan, spec_paths: dict[int, str]) -> None:
    """Kill the process group each ssh_node (the remote task) recorded, if that process is still the recorded one
    (already gone, or its pid reused by another process: nothing is killed)."""
    from .ssh_node import KILL

    for rank, (host, _, _) in enumerate(plan):
        if host.index not in spec_paths:
            continue
        pid_file = str(RunPaths(Path(spec_paths[host.index]).parent).pid_files / f"rank-{rank}")
        script = (f"test -f {shlex.quote(pid_file)} && exec {shlex.quote(host.c.python)} - "
                  f"{shlex.quote(pid_file)}; true")
        try:
            host.run(script, timeout=host.c.connect_timeout_s + 5, stdin=KILL)
        except subprocess.TimeoutExpired:
            pass
