"""Start the real test clusters (scripts/cluster/*.sh): a one-node Slurm and sshd hosts."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import ROOT, run_cli

SSH_STATE = Path(os.environ.get("TRAINKIT_SSH_STATE", "/var/lib/trainkit-ssh"))
NS_HOSTS = ("10.77.0.2", "10.77.0.3")


HOSTS_HOME = SSH_STATE / "home"      # the namespace hosts' /root (scripts/cluster/ssh_up.sh)


def on_host(addr: str, script: str) -> subprocess.CompletedProcess:
    """Run a shell script on a namespace host over ssh (it sees the host's own mounts)."""
    return subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={SSH_STATE / 'known_hosts'}",
                           "-i", str(SSH_STATE / "id_ed25519"), f"root@{addr}", script],
                          capture_output=True, text=True, timeout=60)


def start(script: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"starting the test cluster ({script}) needs root (CI runs as root)")
    res = subprocess.run(["bash", str(ROOT / "scripts" / "cluster" / script)], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, f"{script} failed:\n{res.stdout}\n{res.stderr}"


def ssh_overrides(hosts: list[dict], **extra) -> list[str]:
    host_list = ",".join("{" + ",".join(f"{k}:{v}" for k, v in h.items()) + "}" for h in hosts)
    out = ["compute=ssh", f"compute.hosts=[{host_list}]", f"compute.identity_file={SSH_STATE / 'id_ed25519'}",
           f"compute.known_hosts={SSH_STATE / 'known_hosts'}", f"compute.python={os.sys.executable}"]
    return out + [f"compute.{k}={v}" for k, v in extra.items()]


def job_status(job_id: str) -> dict:
    res = run_cli(["jobs", "status", job_id, "--json"])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def wait_for(pred, timeout: float, what: str, poll: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (e.g. a run id): orphans, if any."""
    res = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True)
    return [ln for ln in res.stdout.splitlines() if text in ln and "ps -eww" not in ln]


def submitted_id(stdout: str) -> str:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("submitted job "))
    return line.split()[2]
