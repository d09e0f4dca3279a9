"""compute=ssh: the supervisor of one ssh job, on the submitting machine (in `python -m trainkit`
with compute.wait=true, else detached: `python -m trainkit.compute.ssh_supervisor JOB_SPEC`).

It ships the source snapshot, the dataset blobs and the run record to each host with rsync (once
per shared filesystem), then starts one `ssh host ... trainkit.compute.ssh_node` per slot.
Environment values (TF_CONFIG, ranks, `environment.secret_env`) travel in 0600 files, never on a
command line; every argument is shell-quoted. Each process's output streams back prefixed with
host and rank; the first failure (an exit code, or ssh's 255 for a lost link) stops the others.
At the end the chief's run record is copied back and the model is registered locally."""
from __future__ import annotations

import json
from dataclasses import asdict
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..distributions import describe
from ..errors import TrainkitError
from ..fsutil import atomic_write_json, read_json
from ..records.runs import write_status
from ..records.spec import JobSpec
from ..records.workspace import RunPaths
from ..topology import assign_slots, rank_envs, roles
from .base import CLUSTER_WORKER_ENV, finish_remote, mark_cancelled, owner_main
from .output import note_epoch
from ..records.workspace import blob_relpath
from .ssh_hosts import Host, explain_ssh_failure, fs_groups, hosts_of, kill_remote

GRACE_S = 10.0
LIB_EXCLUDES = ["__pycache__", "*.pyc"]
# What comes back from a host: only the paths a run owns, regular files only (a host's symbolic
# links are never fetched, so a compromised host cannot point registration at a local secret).
RUN_OWNED = ["/outputs/***", "/checkpoints/***", "/metrics.jsonl", "/environment.json", "/curves.png",
             "/tags.json", "/pruned.json", "/logs/", "/logs/tensorboard/***", "/logs/images/***"]


def remote_spec(spec: JobSpec, workdir: str) -> tuple[dict, str]:
    """The job spec as the host sees it (its own paths; registration happens locally) + its path."""
    base = f"{workdir}/runs/{spec.run_id}"
    d = json.loads(json.dumps(asdict(spec)))
    d.update(run_dir=f"{base}/run", workspace=workdir, project_root=f"{base}/code")
    for units in d["dataset"]["files"].values():
        for u in units:   # blobs/<sha256>/... -> <workdir>/datasets/blobs/<sha256>/...
            u["path"] = f"{workdir}/datasets/blobs/{blob_relpath(u['path'])}"
    d["config"]["registry"] = {**d["config"]["registry"], "enabled": False}
    d["config"]["workspace"] = {**d["config"]["workspace"], "root": workdir}
    return d, f"{base}/run/job_spec.json"


class Supervisor:
    """Runs one ssh job from this machine: ship, start, stream, stop, fetch, register."""

    def __init__(self, spec: JobSpec):
        self.spec = spec
        self.paths = RunPaths(Path(spec.run_dir))
        self.compute = spec.cfg.compute
        self.hosts = hosts_of(self.compute)
        self.probes = read_json(self.paths.backend_dir(self.compute.name) / "hosts.json")
        self.procs: list[subprocess.Popen] = []
        self.stopping: str | None = None
        self.rendezvous = None

    def _on_signal(self, signum, frame) -> None:
        if self.stopping is None:
            self.stopping = signal.Signals(signum).name

    def plan(self) -> list[tuple[Host, int, int]]:
        """rank -> (host, local rank, port) filling hosts in order."""
        assignment = assign_slots([(str(h.index), h.slots) for h in self.hosts], self.spec.world_size)
        return [(self.hosts[int(i)], local, self.probes[int(i)]["ports"][local]) for i, local in assignment]

    def rank_env(self, plan) -> list[dict]:
        """What each rank's 0600 env file carries: its place in the job, env_vars and secrets, and
        for Horovod its slot in the Gloo rendezvous this supervisor runs."""
        env_cfg = self.spec.cfg.environment
        common = {**CLUSTER_WORKER_ENV, **{k: str(v) for k, v in env_cfg.env_vars.items()},
                  **{k: os.environ[k] for k in env_cfg.secret_env if k in os.environ}}
        places = rank_envs(self.spec.config["distribution"], [(str(h.index), lr) for h, lr, _ in plan],
                           [f"{h.address}:{port}" for h, _, port in plan])
        hvd = self.horovod_envs(plan) if describe(self.spec.config["distribution"]).horovod else [{}] * len(plan)
        return [{**common, **place, **h} for place, h in zip(places, hvd)]

    def horovod_envs(self, plan) -> list[dict]:
        """Start Horovod's Gloo rendezvous here, at an address every host reaches (compute.
        rendezvous_address, else the one this machine routes to the first host from)."""
        from ..topology import horovod_envs
        from .hostinfo import route_to
        from .rendezvous import start_rendezvous

        layout = [(h.address, lr) for h, lr, _ in plan]
        address = self.compute.rendezvous_address or route_to(plan[0][0].address)[1] or \
            socket.gethostbyname(socket.gethostname())
        self.rendezvous, port = start_rendezvous(layout)
        print(f"trainkit ssh: Horovod rendezvous at {address}:{port}", flush=True)
        return horovod_envs(layout, address, port)

    def ship(self, plan, envs: list[dict]) -> dict[int, str]:
        """Code, data and run record to every filesystem the hosts use (once per filesystem: hosts
        sharing an NFS home share one copy), then each rank's 0600 env file; returns host index ->
        spec path. On a resume, newer checkpoints and metrics on the chief's host come back first."""
        spec_paths = {}
        shared = self.compute.shared_fs
        used = [h for h in self.hosts if any(p[0] is h for p in plan)]
        with tempfile.TemporaryDirectory(prefix="trainkit-ssh-") as tmp:
            for group in fs_groups(used, self.probes) if not shared else [[h] for h in used]:
                host = group[0]
                staging = Path(tmp) / str(host.index)
                envs_dir = RunPaths(staging).env_files
                envs_dir.mkdir(parents=True, mode=0o700)
                for rank, (h, _, _) in enumerate(plan):
                    if h in group:
                        fd = os.open(envs_dir / f"rank-{rank}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "w") as fh:
                            json.dump(envs[rank], fh)
                if shared:
                    path, run_dir = str(self.paths.spec), str(self.paths.root)
                else:
                    d, path = remote_spec(self.spec, self.probes[host.index]["workdir"])
                    RunPaths(staging).spec.write_text(json.dumps(d))
                    run_dir = d["run_dir"]
                    self.ship_files(host, d, Path(tmp), chief=any(h is plan[0][0] for h in group))
                host.rsync(f"{staging}/", f"{run_dir}/", delete=False)   # env files + remote spec, last
                spec_paths.update({h.index: path for h in group})
        return spec_paths

    def ship_files(self, host: Host, remote: dict, tmp: Path, chief: bool) -> None:
        """One filesystem's copy: the project (the snapshot's selection) to <base>/code, trainkit to
        <base>/lib, the dataset blobs, the run record; never deleting a newer remote checkpoint."""
        wd, run_dir = remote["workspace"], remote["run_dir"]
        base = str(Path(run_dir).parent)
        mk = host.run(f"mkdir -p {shlex.quote(run_dir)} {shlex.quote(base + '/lib/trainkit')} "
                      f"{shlex.quote(wd + '/datasets/blobs')} && test -d {shlex.quote(run_dir + '/checkpoints')} "
                      "&& echo resume; true")
        if mk.returncode != 0:
            raise TrainkitError(explain_ssh_failure(host, mk, self.compute.connect_timeout_s))
        if chief and "resume" in mk.stdout:   # an interrupted run: its newest state is on the host
            host.rsync(f"{run_dir}/", f"{self.paths.root}/", to_remote=False, includes=RUN_OWNED, update=True)
            print(f"trainkit ssh: brought newer checkpoints and metrics back from {host.label} first", flush=True)
        listing = tmp / "project-files.txt"
        if not listing.exists():
            listing.write_text("".join(f + "\n" for f in shipped_project_files(Path(self.spec.project_root),
                                                                                self.spec.workspace, self.spec.config)))
        host.rsync(f"{self.spec.project_root}/", f"{base}/code/", files_from=str(listing))
        for src, dest in trainkit_sources():
            host.rsync(f"{src}/", f"{base}/lib/{dest}/", LIB_EXCLUDES)
        blobs = Path(self.spec.workspace) / "datasets" / "blobs"
        for name in sorted({blob_relpath(u["path"]).split("/")[0]
                            for units in self.spec.dataset["files"].values() for u in units}):
            host.rsync(f"{blobs / name}/", f"{wd}/datasets/blobs/{name}/")
        host.rsync(f"{self.paths.root}/", f"{run_dir}/", ["/source", "/logs/*.log", f"/{self.compute.name}", "/.pids", "/dataset"])

    def start(self, plan, spec_paths: dict[int, str], console) -> dict:
        from .output import OutputPump, RankSink

        n = self.spec.world_size
        sinks = {r: RankSink(r, self.paths, n, None, prefix=f"[{h.label} rank {r}] ", consoles=(console, console),
                             verbose=self.spec.cfg.run.verbose)
                 for r, (h, _, _) in enumerate(plan)}
        chief_write = sinks[0].write

        def chief(line: str, is_err: bool) -> None:   # the run's status follows the remote epochs
            note_epoch(self.paths, line)
            chief_write(line, is_err)

        sinks[0].write = chief
        pumps = []
        for rank, (host, _, _) in enumerate(plan):
            if self.compute.shared_fs:
                code, path = self.spec.project_root, self.spec.project_root
            else:
                base = Path(spec_paths[host.index]).parent.parent
                code, path = str(base / "code"), f"{base / 'code'}:{base / 'lib'}"
            python = self.spec.built_env.get("hosts", {}).get(str(host.index)) or self.compute.python
            script = "\n".join([*self.compute.setup,
                                f"cd {shlex.quote(code)} && PYTHONPATH={shlex.quote(path)} exec "
                                f"{shlex.quote(python)} -m trainkit.compute.ssh_node "
                                f"{shlex.quote(spec_paths[host.index])} {rank}"])
            proc = subprocess.Popen(host.command(script), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            self.procs.append(proc)
            pumps += [OutputPump(proc.stdout, [rank], sinks, False), OutputPump(proc.stderr, [rank], sinks, True)]
        return {"sinks": sinks, "pumps": pumps}

    def wait(self, plan) -> tuple[int, int | None]:
        table = roles(self.spec.config["distribution"])
        servers = {r for r in range(len(plan)) if table[r].server}
        while True:
            if self.stopping:
                return 130, None
            codes = [p.poll() for p in self.procs]
            bad = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                return codes[bad[0]], bad[0]
            if all(c == 0 for i, c in enumerate(codes) if i not in servers):
                return 0, None
            time.sleep(0.2)

    def stop_all(self, plan, spec_paths: dict[int, str]) -> None:
        """Close every session (ssh_node kills its group on EOF), then kill recorded groups."""
        for p in self.procs:
            if p.poll() is None and p.stdin:
                try:
                    p.stdin.close()
                except OSError:
                    pass
        deadline = time.time() + GRACE_S
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        kill_remote(plan, spec_paths)

    def fetch(self, plan, spec_paths: dict[int, str]) -> None:
        """The chief's run record back into the local run: only the paths a run owns, regular files
        only; status merged, not replaced."""
        if self.compute.shared_fs or plan[0][0].index not in spec_paths:
            return
        host = plan[0][0]
        run_dir = str(Path(spec_paths[host.index]).parent)
        host.rsync(f"{run_dir}/", f"{self.paths.root}/", to_remote=False, includes=RUN_OWNED)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                host.rsync(f"{run_dir}/status.json", f"{tmp}/status.json", to_remote=False)
            except TrainkitError:
                return
            remote = read_json(Path(tmp) / "status.json", {}) or {}
        merged = {k: remote[k] for k in ("epoch", "last_metrics", "final_metrics", "chief_error", "resumed",
                                         "script_exit_code") if k in remote}
        local_state = (read_json(self.paths.status, {}) or {}).get("state", "running")
        # the remote chief's final state is recorded, not adopted: registration comes first
        write_status(self.paths, local_state, remote_state=remote.get("state"), **merged)

    def cleanup(self, plan, spec_paths: dict[int, str]) -> None:
        """Remove each filesystem's copy (on shared_fs: the env files no rank read)."""
        if self.compute.shared_fs:
            shutil.rmtree(self.paths.env_files, ignore_errors=True)
            return
        for host in {spec_paths[h.index]: h for h, _, _ in plan if h.index in spec_paths}.values():
            base = str(Path(spec_paths[host.index]).parent.parent)
            try:
                host.run(f"rm -rf {shlex.quote(base)}", timeout=self.compute.connect_timeout_s + 30)
            except subprocess.TimeoutExpired:
                pass

    def fetch_then_cleanup(self, plan, spec_paths: dict[int, str], console) -> None:
        """Bring the record back; remove the remote copies only once that worked, so a rerun can
        still resume from the host's checkpoints."""
        if self.rendezvous is not None:
            self.rendezvous.stop()
            self.rendezvous = None
        try:
            self.fetch(plan, spec_paths)
        except Exception as e:  # noqa: BLE001 - whatever failed, the remote copy must stay
            keep = plan[0][0].label
            write_status(self.paths, (read_json(self.paths.status, {}) or {}).get("state", "failed"),
                         fetch_error=f"{type(e).__name__}: {e}")
            print(f"warning: fetching the run back failed ({e}); the run directory on {keep} is kept: "
                  "rerun the same command to resume from it", file=console, flush=True)
            return
        self.cleanup(plan, spec_paths)

    def run(self, console=None) -> int:
        console = console or sys.stdout
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        plan = self.plan()
        hosts = sorted({h.label for h, _, _ in plan})
        write_status(self.paths, "running", pid=os.getpid(), host=socket.gethostname(), chief_error=None,
                     remote_state=None, exit_reason=None, fetch_error=None,
                     job={**(read_json(self.paths.status, {}) or {}).get("job", {}), "hosts": hosts,
                          "ranks": [f"{h.label}#{lr}" for h, lr, _ in plan], "started": time.time()})
        print(f"trainkit ssh: {self.spec.world_size} process(es) on {', '.join(hosts)}", file=console, flush=True)
        spec_paths: dict[int, str] = {}
        io = None
        try:
            spec_paths = self.ship(plan, self.rank_env(plan))
            atomic_write_json(self.paths.backend_dir(self.compute.name) / "remote.json",
                              {str(k): v for k, v in spec_paths.items()})
            io = self.start(plan, spec_paths, console)
            rc, failed = self.wait(plan)
        except Exception as e:  # noqa: BLE001 - any crash (an rsync timeout, a missing tool, a bug) is recorded
            reason = str(e) if isinstance(e, TrainkitError) else f"{type(e).__name__}: {e}"
            write_status(self.paths, "failed", exit_reason=reason)
            print(f"error: {reason}", file=console, flush=True)
            self.stop_all(plan, spec_paths)
            self.fetch_then_cleanup(plan, spec_paths, console)
            return 1
        self.stop_all(plan, spec_paths)
        if io:
            for p in io["pumps"]:
                p.thread.join(timeout=5)
            for s in io["sinks"].values():
                s.close()
        self.fetch_then_cleanup(plan, spec_paths, console)
        if self.stopping:
            asked = (read_json(self.paths.status, {}) or {}).get("cancel_requested")
            mark_cancelled(self.paths, ("cancelled by `trainkit jobs cancel`" if asked else f"cancelled ({self.stopping})")
                           + f"; remote processes on {', '.join(hosts)} stopped")
            return 130
        if rc != 0:
            return self.report_failure(plan, rc, failed, io, console)
        return self.finish(console)

    def report_failure(self, plan, rc: int, failed: int, io, console) -> int:
        host = plan[failed][0]
        how = ("ssh connection lost (exit 255: link down, host died or sshd stopped)" if rc == 255
               else f"exit code {rc}")
        lost = [h for h in unreachable({h.index: h for h, _, _ in plan}.values()) if h is not host]
        if lost:   # a peer's collective failed because a host went away: name the host
            host, failed = lost[0], next(r for r, (h, _, _) in enumerate(plan) if h is lost[0])
            how = f"host unreachable (link down or host died); the other ranks failed with it (exit {rc})"
        tail = io["sinks"][failed].tail if io else []
        st = read_json(self.paths.status, {}) or {}
        if st.get("chief_error"):
            how += f" (the chief reported: {st['chief_error'].splitlines()[0]})"
        write_status(self.paths, "failed", exit_reason=f"host {host.label} (rank {failed}): {how}",
                     failed_rank=failed, failed_host=host.label, last_log_lines=tail[-10:])
        print(f"job failed: host {host.label} (rank {failed}): {how}", file=console, flush=True)
        return 1

    def finish(self, console) -> int:
        return finish_remote(self.paths, self.spec, console,   # shared_fs: the chief wrote `state` here
                             lambda st: st.get("remote_state") or st.get("state"))


def shipped_project_files(root: Path, workspace, cfg: dict | None = None) -> list[str]:
    """The project's files to ship to code/, less trainkit's own code when the project holds it
    (trainkit's checkout as the project): that goes to lib/ once, and a partial copy in code/, the
    worker's working directory, would shadow it (its models live outside the package). None when
    the run's code is all trainkit's (`cfg`: launch.project.snapshot_root)."""
    from ..launch.project import snapshot_root
    from ..launch.snapshot import project_files

    if cfg is not None and snapshot_root(cfg, root) is None:
        return []

    own = [src.resolve() for src, _ in trainkit_sources()]
    root = root.resolve()
    return [f for f in project_files(root, workspace)
            if not any(d in (root / f).parents for d in own)]


def trainkit_sources() -> list[tuple[Path, str]]:
    """(local directory, path under the remote lib/) of trainkit's own code: the package, and its
    models where an editable install keeps them outside it."""
    import importlib.util

    package = Path(__file__).resolve().parent.parent
    models = Path(next(iter(importlib.util.find_spec("trainkit.models").submodule_search_locations)))
    return [(package, "trainkit"), (models, "trainkit/models")]


def unreachable(hosts) -> list[Host]:
    """Hosts that do not answer a fresh ssh within a few seconds (after a job failed)."""
    def dead(h: Host) -> bool:
        try:
            res = subprocess.run([*h.ssh_args(), "-o", "ConnectTimeout=3", h.dest, "true"],
                                 capture_output=True, timeout=8)
            return res.returncode == 255
        except subprocess.TimeoutExpired:
            return True
    hosts = list(hosts)
    if len(hosts) < 2:
        return []
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return [h for h, d in zip(hosts, pool.map(dead, hosts)) if d]


def main(argv: list[str] | None = None) -> int:
    return owner_main(argv, "trainkit.compute.ssh_supervisor", lambda path: Supervisor(JobSpec.read(path)).run())


if __name__ == "__main__":
    sys.exit(main())
