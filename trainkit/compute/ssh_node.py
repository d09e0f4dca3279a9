"""One worker on an ssh host: `python -m trainkit.compute.ssh_node JOB_SPEC RANK`.

Reads its environment from `.env/rank-RANK.json` next to the spec (a 0600 file the supervisor
shipped; deleted as soon as it is read, so secrets never sit on the host or show up on a command
line), starts the worker in its own process group, records the group id and that process's
identity (boot id and start time) in `.pids/rank-RANK`, and kills the group when the ssh session
ends (its stdin closes), on SIGTERM/SIGHUP, or when the worker exits; then removes the pid file,
so a later cancel can never hit a process that reused the number. The exit code is the worker's."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..records.workspace import RunPaths


def main(argv: list[str]) -> int:
    spec_path, rank = argv[0], int(argv[1])
    run_dir = Path(spec_path).parent
    paths = RunPaths(run_dir)
    env_file = paths.env_files / f"rank-{rank}.json"
    try:
        extra = json.loads(env_file.read_text())
    finally:
        env_file.unlink(missing_ok=True)
    if "HOROVOD_GLOO_RENDEZVOUS_ADDR" in extra and "HOROVOD_GLOO_IFACE" not in extra:
        from .hostinfo import route_to   # Gloo binds to the interface this host reaches the rendezvous by

        iface = route_to(extra["HOROVOD_GLOO_RENDEZVOUS_ADDR"])[0]
        if iface:
            extra["HOROVOD_GLOO_IFACE"] = iface
    proc = subprocess.Popen([sys.executable, "-m", "trainkit.worker", spec_path],
                            env={**os.environ, **extra}, start_new_session=True)
    from ..records.runs import process_identity

    pid_file = paths.pid_files / f"rank-{rank}"
    pid_file.parent.mkdir(exist_ok=True)
    pid_file.write_text(f"{proc.pid} {process_identity(proc.pid)}")
    stopped = threading.Event()

    def stop(*_):
        if stopped.is_set():
            return
        stopped.set()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        if proc.poll() is None:   # the session is gone: nobody is listening any more
            stop()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, stop)
    threading.Thread(target=watch_stdin, daemon=True).start()
    rc = proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # nothing of the worker outlives it
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    return rc if rc >= 0 else 128 - rc


# `python - PID_FILE` on a host: kill the process group a pid file names, only if that process is
# still the one recorded (same boot id and start time); a stale file is removed, nothing is killed.
KILL = r"""
import os, signal, sys
from pathlib import Path
path = Path(sys.argv[1])
try:
    pid, ident = path.read_text().split()
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    now = Path("/proc/sys/kernel/random/boot_id").read_text().strip() + ":" + stat
except (OSError, ValueError, IndexError):
    now, ident, pid = None, "", 0
if now == ident:
    try:
        os.killpg(int(pid), signal.SIGKILL)
    except ProcessLookupError:
        pass
    print(f"killed {pid}")
path.unlink(missing_ok=True)
"""


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)   # not sys.exit: the stdin watcher thread may hold stdin's lock
