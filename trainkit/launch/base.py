"""The launcher interface: start a JobSpec's worker processes somewhere and report the result."""
from __future__ import annotations

import json
import os
import subprocess
from abc import ABC, abstractmethod

from ..errors import TrainkitError
from ..spec import JobSpec

# What a target's Python reports before a job is sent there (`python - WORKDIR N_PORTS [fsid]`, this
# on stdin): TF/Keras versions from package metadata (no TF import), the resolved work directory, N
# free TCP ports for TF_CONFIG and, with `fsid`, the id of the filesystem holding the work
# directory: a marker file created there exclusively once, so hosts that share it (an NFS home)
# report the same id.
PROBE = r"""
import json, os, socket, sys, uuid, importlib.metadata as m
def v(*names):
    for n in names:
        try:
            return m.version(n)
        except m.PackageNotFoundError:
            pass
def fsid(workdir):
    os.makedirs(workdir, exist_ok=True)
    marker = os.path.join(workdir, ".trainkit-fsid")
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, uuid.uuid4().hex.encode()); os.close(fd)
    except FileExistsError:
        pass
    for _ in range(50):
        text = open(marker).read().strip()
        if text:
            return text
        import time; time.sleep(0.1)
    return text
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(); s.bind(("", 0)); socks.append(s)
workdir = os.path.abspath(os.path.expanduser(sys.argv[1]))
print(json.dumps({"tensorflow": v("tensorflow", "tensorflow-cpu"), "keras": v("keras"), "workdir": workdir,
                  "hostname": socket.gethostname(), "python": sys.executable,
                  "fsid": fsid(workdir) if sys.argv[3:] == ["fsid"] else None,
                  "ports": [s.getsockname()[1] for s in socks]}))
"""


def route_to(addr: str) -> tuple[str | None, str | None]:
    """(interface, source address) this machine uses to reach addr, from `ip route get` (Gloo
    binds to one interface; a rendezvous server must be reached at an address its peers route to)."""
    import shutil

    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.path.exists(p)), None)
    if ip is None:   # ssh sessions often have no sbin on PATH
        return None, None
    try:
        out = subprocess.run([ip, "route", "get", addr], capture_output=True, text=True, timeout=5).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None, None
    words = out.split()
    after = lambda key: words[words.index(key) + 1] if key in words else None  # noqa: E731
    return after("dev"), after("src")


def check_probe(res: subprocess.CompletedProcess, env_cfg: dict, where: str) -> dict:
    """PROBE's answer, refused (naming `where`) unless it ran and has the preset's TF/Keras."""
    from ..envinfo import version_mismatches

    if res.returncode != 0:
        raise TrainkitError(f"{where}: expected a Python that runs, got exit {res.returncode}: "
                            f"{(res.stderr or res.stdout).strip()[-500:]}")
    try:
        found = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise TrainkitError(f"{where}: expected the version probe's JSON, got {res.stdout.strip()[-300:]!r}") from None
    problems = version_mismatches(env_cfg, found, where)
    if problems:
        raise TrainkitError("; ".join(problems))
    return found


class Launcher(ABC):
    """Starts `spec.world_size` workers running `python -m trainkit.worker job_spec.json`."""

    def __init__(self, compute_cfg: dict):
        self.cfg = compute_cfg

    def preflight(self, cfg: dict) -> None:
        """Refuse a job this target cannot run, before anything is created (default: accept)."""

    def build_environment(self, cfg: dict, echo=print) -> dict:
        """Build (or reuse) a requested environment where the workers will find it: here, in the
        workspace (local runs; Slurm nodes share the filesystem). {} when none is requested."""
        from ..envs import build_here, wanted
        from ..workspace import Workspace

        if not wanted(cfg["environment"]):
            return {}
        return build_here(Workspace.at(cfg["workspace"]["root"]).root / "environments", cfg["environment"],
                          echo=echo)

    @abstractmethod
    def launch(self, spec: JobSpec) -> int:
        """Run (or submit) the job; return the exit code to give the user (0 = success)."""
