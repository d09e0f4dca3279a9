"""Real processes for the fault tests: a registration that pauses at a chosen moment, and a
"container": a new pid namespace on this host, with this host's name, whose pids are dead here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..conftest import ROOT

# Registers argv[2] under root argv[1] from file argv[3]. Prints its pid first. After moving the
# artifacts into versions/N/ (before entry.json), touches argv[4] and waits for argv[5] to exist.
PAUSED_REGISTER = """
import os, sys, time
from trainkit.registry import store
root, name, src, ready, go = sys.argv[1:6]
print(os.getpid(), flush=True)
real_move = store.Registry._move
def move_then_pause(self, src_path, dst_path):
    real_move(self, src_path, dst_path)
    if dst_path.endswith("/artifacts") and "/versions/" in dst_path:
        open(ready, "w").close()
        while not os.path.exists(go):
            time.sleep(0.01)
store.Registry._move = move_then_pause
entry = store.Registry(root).register(name, {"model.keras": src}, {"pid": os.getpid()})
print(entry["version"], flush=True)
"""


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited with {proc.returncode} before {path.name}: {proc.stderr.read()}")
        if time.time() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.01)


def dead_pid_here() -> int:
    """A pid no process of this pid namespace has right now."""
    return next(p for p in range(30000, 300, -1) if not os.path.exists(f"/proc/{p}"))


def container_prefix(pid: int) -> list[str] | None:
    """argv prefix running a command as pid `pid` of a fresh pid namespace (same host name, same
    filesystem), or None where namespaces cannot be made (then the test skips)."""
    if not shutil.which("unshare"):
        return None
    script = f'echo {pid - 1} > /proc/sys/kernel/ns_last_pid && "$@"; exit $?'
    for flags in (["--pid", "--fork", "--mount-proc"], ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]):
        argv = ["unshare", *flags, "sh", "-c", script, "sh"]
        probe = subprocess.run([*argv, "sh", "-c", "echo $$"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == str(pid):
            return argv
    return None


def popen(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
