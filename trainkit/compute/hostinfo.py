"""What a target's hosts have: the probe a host's Python answers before a job goes there, whether
Horovod is installed here, and the route this machine takes to reach an address (shared by the
backends and their nodes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import TrainkitError

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


HOROVOD_INSTALL = "bash scripts/build_horovod.sh   (Horovod 0.28.1 built against TensorFlow 2.21 with Gloo)"


def horovodrun() -> Path:
    return Path(sys.executable).with_name("horovodrun")


def require_horovod(job_cfg: dict) -> None:
    """distribution=horovod runs horovodrun here, or a Gloo rendezvous: Horovod must be installed."""
    import importlib.util

    from ..distributions import describe

    if describe(job_cfg["distribution"]).horovod and (
            importlib.util.find_spec("horovod") is None or not horovodrun().exists()):
        raise TrainkitError(f"distribution=horovod: horovod is not installed in {sys.prefix}; "
                            f"install it with:\n  {HOROVOD_INSTALL}")
