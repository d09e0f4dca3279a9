"""compute=ssh: worker processes on hosts reached with the system OpenSSH client.

- `SshLauncher.preflight` (before the run exists): every host answers within
  `compute.connect_timeout_s` with its host key already known (StrictHostKeyChecking=yes), runs
  `compute.python` with the preset's TensorFlow/Keras, and reports its home and free ports.
- the supervisor (`python -m trainkit.launch.ssh supervise SPEC`; in-process when
  `compute.wait=true`, else a detached local process): ships the source snapshot, the dataset
  blobs and the run record to each host with rsync, then one `ssh host ... remote_task` per slot.
  Environment values (TF_CONFIG, ranks, `environment.secret_env`) travel in 0600 files, never on a
  command line; every argument is shell-quoted. Each process's output streams back prefixed with
  host and rank; the first failure (an exit code, or ssh's 255 for a lost link) stops the others.
  At the end the chief's run record is copied back and the model is registered locally.
- cancel: SIGTERM to the supervisor, which closes every ssh session; `remote_task` kills its
  worker's process group when its stdin closes, and the supervisor also kills the recorded remote
  process groups explicitly.
"""
from __future__ import annotations

import json
import os
import re
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

from ..errors import TrainkitError
from ..distributions import describe
from ..fsutil import atomic_write_json, read_json
from ..runs import write_status
from ..spec import JobSpec
from ..topology import assign_slots, rank_envs, roles
from ..workspace import RunPaths
from . import jobs
from .base import PROBE, Launcher, check_probe

GRACE_S = 10.0
EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ ")
LIB_EXCLUDES = ["__pycache__", "*.pyc"]
# What comes back from a host: only the paths a run owns, regular files only (a host's symbolic
# links are never fetched, so a compromised host cannot point registration at a local secret).
RUN_OWNED = ["/outputs/***", "/checkpoints/***", "/metrics.jsonl", "/environment.json", "/curves.png",
             "/tags.json", "/pruned.json", "/logs/", "/logs/tensorboard/***", "/logs/images/***"]
RSYNC_IDLE_S = 120   # rsync gives up when no data moved for this long (not a wall-clock limit)


class Host:
    """One `compute.hosts[i]` entry and how to reach it: ssh and rsync command lines."""

    def __init__(self, compute: dict, index: int):
        h = compute["hosts"][index]
        self.c, self.index, self.name, self.port = compute, index, h["host"], int(h.get("port") or 22)
        self.user, self.slots = h.get("user"), int(h["slots"])
        self.address = h.get("address") or h["host"]
        self.workdir = h.get("workdir") or compute["workdir"]

    @property
    def label(self) -> str:
        return f"{self.name}:{self.port}" if self.port != 22 else self.name

    @property
    def dest(self) -> str:
        return f"{self.user}@{self.name}" if self.user else self.name

    def ssh_args(self) -> list[str]:
        c = self.c
        args = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"ConnectTimeout={c['connect_timeout_s']}",
                "-o", f"ServerAliveInterval={c['alive_interval_s']}",
                "-o", f"ServerAliveCountMax={c['alive_count_max']}", "-p", str(self.port)]
        if c.get("known_hosts"):
            args += ["-o", f"UserKnownHostsFile={os.path.expanduser(c['known_hosts'])}"]
        if c.get("identity_file"):
            args += ["-i", os.path.expanduser(c["identity_file"]), "-o", "IdentitiesOnly=yes"]
        for opt in c.get("ssh_options", []):
            args += ["-o", opt]
        return args

    def command(self, script: str) -> list[str]:
        """ssh argv running a shell script on the host (the script is one quoted argument)."""
        return [*self.ssh_args(), self.dest, "--", "sh -c " + shlex.quote(script)]

    def run(self, script: str, timeout: float | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(script), capture_output=True, text=True, input=stdin,
                              timeout=timeout or self.c["connect_timeout_s"] + 120)

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
    known = host.c.get("known_hosts") or "~/.ssh/known_hosts"
    if "IDENTIFICATION HAS CHANGED" in err or "Host key verification failed" in err:
        return (f"host {host.label}: host key verification failed: expected the key recorded in {known}, "
                f"the host offered a different or unknown key (StrictHostKeyChecking=yes; if the host was "
                f"really reinstalled, update {known})")
    if "timed out" in err or "No route" in err or "refused" in err or "Could not resolve" in err:
        return f"host {host.label}: unreachable within {timeout} s: {err.splitlines()[-1] if err else 'no answer'}"
    if "Permission denied" in err:
        return f"host {host.label}: authentication refused (identity_file={host.c.get('identity_file')}): {err.splitlines()[-1]}"
    return f"host {host.label}: ssh failed (exit {res.returncode}): {err[-400:] or res.stdout.strip()[-400:]}"


def hosts_of(compute: dict) -> list[Host]:
    return [Host(compute, i) for i in range(len(compute["hosts"]))]


def probe(host: Host, env_cfg: dict) -> dict:
    """Reachability, versions, resolved workdir and free ports of one host (raises TrainkitError)."""
    c = host.c
    script = "\n".join([*c.get("setup", []),
                        f"exec {shlex.quote(c['python'])} - {shlex.quote(host.workdir)} {host.slots} fsid"])
    try:
        res = host.run(script, timeout=c["connect_timeout_s"] + 60, stdin=PROBE)
    except subprocess.TimeoutExpired:
        raise TrainkitError(f"host {host.label}: no answer within {c['connect_timeout_s'] + 60} s") from None
    if res.returncode == 255:
        raise TrainkitError(explain_ssh_failure(host, res, c["connect_timeout_s"]))
    return check_probe(res, env_cfg, f"host {host.label} ({c['python']})")


class SshLauncher(Launcher):
    def preflight(self, cfg: dict) -> None:
        if describe(cfg["distribution"]).horovod:   # the rendezvous server runs here: horovod is needed here too
            from .local import LocalLauncher

            LocalLauncher(self.cfg).preflight(cfg)
        if not self.cfg.get("shared_fs") and shutil.which("rsync") is None:
            raise TrainkitError("compute=ssh: `rsync` is not installed on this machine: expected it to ship "
                                "code and data (Debian: apt-get install rsync)")
        hosts = hosts_of(self.cfg)
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            self.probes = list(pool.map(lambda h: probe(h, cfg["environment"]), hosts))
        self.groups = fs_groups(hosts, self.probes)   # refuses hosts that share a filesystem but disagree on the path

    def build_environment(self, cfg: dict, echo=print) -> dict:
        """On each filesystem the hosts use (once for hosts sharing an NFS home), on top of
        compute.python: the uv binary is shipped there."""
        from ..envs import remote_build, spec_hash, spec_of, wanted

        if not wanted(cfg["environment"]):
            return {}
        pythons, lock = {}, []
        for group in self.groups:
            host = group[0]
            python = remote_build(host, self.probes[host.index]["workdir"], cfg["environment"], self.cfg["python"])
            pythons.update({str(h.index): python for h in group})
            lock = host.run(f"cat {shlex.quote(str(Path(python).parent.parent / 'lock.txt'))}").stdout.splitlines()
        spec = spec_of(cfg["environment"])
        return {"hash": spec_hash(spec), "spec": spec, "hosts": pythons, "lock": lock}

    def launch(self, spec: JobSpec) -> int:
        paths = RunPaths(Path(spec.run_dir))
        atomic_write_json(paths.root / "ssh" / "hosts.json", self.probes)
        label = ", ".join(h.label for h in hosts_of(self.cfg))
        jobs.record_job(paths, "ssh", hosts=[h.label for h in hosts_of(self.cfg)])
        if self.cfg.get("wait"):
            jobs.announce(spec.run_id, f"ssh: {label}")
            return Supervisor(spec).run(console=_Tee(sys.stdout, open(jobs.console_log(paths), "a")))
        log = open(jobs.console_log(paths), "a")
        proc = subprocess.Popen([sys.executable, "-m", "trainkit.launch.ssh", "supervise", str(paths.spec)],
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=spec.project_root)
        write_status(paths, "queued", pid=proc.pid, host=socket.gethostname())
        proc.stdin.write(b"go\n")   # the supervisor starts only now: its status writes come after ours
        proc.stdin.close()
        jobs.announce(spec.run_id, f"ssh: {label}; supervisor pid {proc.pid}")
        return 0


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> None:
        for s in self.streams:
            s.write(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


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


def remote_spec(spec: JobSpec, workdir: str) -> tuple[dict, str]:
    """The job spec as the host sees it (its own paths; registration happens locally) + its path."""
    base = f"{workdir}/runs/{spec.run_id}"
    d = json.loads(json.dumps(spec.__dict__))
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
        self.compute = spec.config["compute"]
        self.hosts = hosts_of(self.compute)
        self.probes = read_json(self.paths.root / "ssh" / "hosts.json")
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
        env_cfg = self.spec.config["environment"]
        common = {**jobs.CLUSTER_WORKER_ENV, **{k: str(v) for k, v in env_cfg.get("env_vars", {}).items()},
                  **{k: os.environ[k] for k in env_cfg.get("secret_env", []) if k in os.environ}}
        places = rank_envs(self.spec.config["distribution"], [(str(h.index), lr) for h, lr, _ in plan],
                           [f"{h.address}:{port}" for h, _, port in plan])
        hvd = self.horovod_envs(plan) if describe(self.spec.config["distribution"]).horovod else [{}] * len(plan)
        return [{**common, **place, **h} for place, h in zip(places, hvd)]

    def horovod_envs(self, plan) -> list[dict]:
        """Start Horovod's Gloo rendezvous here, at an address every host reaches (compute.
        rendezvous_address, else the one this machine routes to the first host from)."""
        from ..topology import horovod_envs
        from .base import route_to
        from .slurm import start_rendezvous

        layout = [(h.address, lr) for h, lr, _ in plan]
        address = self.compute.get("rendezvous_address") or route_to(plan[0][0].address)[1] or \
            socket.gethostbyname(socket.gethostname())
        self.rendezvous, port = start_rendezvous(layout)
        print(f"trainkit ssh: Horovod rendezvous at {address}:{port}", flush=True)
        return horovod_envs(layout, address, port)

    def ship(self, plan, envs: list[dict]) -> dict[int, str]:
        """Code, data and run record to every filesystem the hosts use (once per filesystem: hosts
        sharing an NFS home share one copy), then each rank's 0600 env file; returns host index ->
        spec path. On a resume, newer checkpoints and metrics on the chief's host come back first."""
        spec_paths = {}
        shared = self.compute.get("shared_fs")
        used = [h for h in self.hosts if any(p[0] is h for p in plan)]
        with tempfile.TemporaryDirectory(prefix="trainkit-ssh-") as tmp:
            for group in fs_groups(used, self.probes) if not shared else [[h] for h in used]:
                host = group[0]
                staging = Path(tmp) / str(host.index)
                (staging / ".env").mkdir(parents=True, mode=0o700)
                for rank, (h, _, _) in enumerate(plan):
                    if h in group:
                        fd = os.open(staging / ".env" / f"rank-{rank}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "w") as fh:
                            json.dump(envs[rank], fh)
                if shared:
                    path, run_dir = str(self.paths.spec), str(self.paths.root)
                else:
                    d, path = remote_spec(self.spec, self.probes[host.index]["workdir"])
                    (staging / "job_spec.json").write_text(json.dumps(d))
                    run_dir = d["run_dir"]
                    self.ship_files(host, d, Path(tmp), chief=any(h is plan[0][0] for h in group))
                host.rsync(f"{staging}/", f"{run_dir}/", delete=False)   # env files + remote spec, last
                spec_paths.update({h.index: path for h in group})
        return spec_paths

    def ship_files(self, host: Host, remote: dict, tmp: Path, chief: bool) -> None:
        """One filesystem's copy: the project (the snapshot's selection) to <base>/code, trainkit to
        <base>/lib, the dataset blobs, the run record; never deleting a newer remote checkpoint."""
        from ..snapshot import project_files

        wd, run_dir = remote["workspace"], remote["run_dir"]
        base = str(Path(run_dir).parent)
        mk = host.run(f"mkdir -p {shlex.quote(run_dir)} {shlex.quote(base + '/lib/trainkit')} "
                      f"{shlex.quote(wd + '/datasets/blobs')} && test -d {shlex.quote(run_dir + '/checkpoints')} "
                      "&& echo resume; true")
        if mk.returncode != 0:
            raise TrainkitError(explain_ssh_failure(host, mk, self.compute["connect_timeout_s"]))
        if chief and "resume" in mk.stdout:   # an interrupted run: its newest state is on the host
            host.rsync(f"{run_dir}/", f"{self.paths.root}/", to_remote=False, includes=RUN_OWNED, update=True)
            print(f"trainkit ssh: brought newer checkpoints and metrics back from {host.label} first", flush=True)
        listing = tmp / "project-files.txt"
        if not listing.exists():
            listing.write_text("".join(f + "\n" for f in project_files(Path(self.spec.project_root), self.spec.workspace)))
        host.rsync(f"{self.spec.project_root}/", f"{base}/code/", files_from=str(listing))
        for src, dest in trainkit_sources():
            host.rsync(f"{src}/", f"{base}/lib/{dest}/", LIB_EXCLUDES)
        blobs = Path(self.spec.workspace) / "datasets" / "blobs"
        for name in sorted({blob_relpath(u["path"]).split("/")[0]
                            for units in self.spec.dataset["files"].values() for u in units}):
            host.rsync(f"{blobs / name}/", f"{wd}/datasets/blobs/{name}/")
        host.rsync(f"{self.paths.root}/", f"{run_dir}/", ["/source", "/logs/*.log", "/ssh", "/.pids", "/dataset"])

    def start(self, plan, spec_paths: dict[int, str], console) -> dict:
        from .local import OutputPump, RankSink

        n = self.spec.world_size
        sinks = {r: RankSink(r, self.paths, n, None, prefix=f"[{h.label} rank {r}] ", console=console,
                             verbose=self.spec.cfg.run.verbose)
                 for r, (h, _, _) in enumerate(plan)}
        chief_write = sinks[0].write

        def chief(line: str, is_err: bool) -> None:   # the run's status follows the remote epochs
            m = EPOCH_LINE.match(line)
            if m:
                write_status(self.paths, "running", epoch=int(m.group(1)))
            chief_write(line, is_err)

        sinks[0].write = chief
        pumps = []
        for rank, (host, _, _) in enumerate(plan):
            if self.compute.get("shared_fs"):
                code, path = self.spec.project_root, self.spec.project_root
            else:
                base = Path(spec_paths[host.index]).parent.parent
                code, path = str(base / "code"), f"{base / 'code'}:{base / 'lib'}"
            python = self.spec.built_env.get("hosts", {}).get(str(host.index)) or self.compute["python"]
            script = "\n".join([*self.compute.get("setup", []),
                                f"cd {shlex.quote(code)} && PYTHONPATH={shlex.quote(path)} exec "
                                f"{shlex.quote(python)} -m trainkit.launch.remote_task "
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
        """Close every session (remote_task kills its group on EOF), then kill recorded groups."""
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
        if self.compute.get("shared_fs") or plan[0][0].index not in spec_paths:
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
        if self.compute.get("shared_fs"):
            shutil.rmtree(self.paths.root / ".env", ignore_errors=True)
            return
        for host in {spec_paths[h.index]: h for h, _, _ in plan if h.index in spec_paths}.values():
            base = str(Path(spec_paths[host.index]).parent.parent)
            try:
                host.run(f"rm -rf {shlex.quote(base)}", timeout=self.compute["connect_timeout_s"] + 30)
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
            atomic_write_json(self.paths.root / "ssh" / "remote.json",
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
            jobs.mark_cancelled(self.paths, f"cancelled ({self.stopping}); remote processes on "
                                            f"{', '.join(hosts)} stopped")
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
        st = read_json(self.paths.status, {}) or {}
        if (st.get("remote_state") or st.get("state")) != "completed":   # shared_fs: the chief wrote it here
            write_status(self.paths, "failed", exit_reason=st.get("chief_error") or
                         "the chief ended without reporting completion")
            return 1
        if self.spec.config["registry"]["enabled"] and not st.get("registered_model"):
            write_status(self.paths, "running")
            res = subprocess.run([sys.executable, "-m", "trainkit.worker", "--register", str(self.paths.spec)],
                                 capture_output=True, text=True, cwd=self.spec.project_root)
            console.write(res.stdout + res.stderr)
            if res.returncode != 0:
                write_status(self.paths, "failed", exit_reason=f"registering the model failed: "
                                                               f"{(res.stderr or res.stdout).strip()[-300:]}")
                return res.returncode
        write_status(self.paths, "completed", exit_reason="completed")
        return 0


def blob_relpath(path: str) -> str:
    """A cached dataset file's path below the workspace's datasets/blobs/ (`<sha256>/...`)."""
    parts = Path(path).parts
    return "/".join(parts[parts.index("blobs") + 1:])


def trainkit_sources() -> list[tuple[Path, str]]:
    """(local directory, path under the remote lib/) of trainkit's own code: the package, and its
    models where an editable install keeps them outside it."""
    import trainkit
    import trainkit.models

    return [(Path(trainkit.__file__).parent, "trainkit"), (Path(trainkit.models.__file__).parent, "trainkit/models")]


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


def kill_remote(plan, spec_paths: dict[int, str]) -> None:
    """Kill the process group each remote_task recorded, if that process is still the recorded one
    (already gone, or its pid reused by another process: nothing is killed)."""
    from .remote_task import KILL

    for rank, (host, _, _) in enumerate(plan):
        if host.index not in spec_paths:
            continue
        pid_file = str(Path(spec_paths[host.index]).parent / ".pids" / f"rank-{rank}")
        script = (f"test -f {shlex.quote(pid_file)} && exec {shlex.quote(host.c['python'])} - "
                  f"{shlex.quote(pid_file)}; true")
        try:
            host.run(script, timeout=host.c["connect_timeout_s"] + 5, stdin=KILL)
        except subprocess.TimeoutExpired:
            pass


def cancel(paths: RunPaths, status: dict, timeout_s: float = 60.0) -> None:
    """Stop the supervisor (it stops the remote processes); if it is gone, stop them directly."""
    from ..runs import pid_alive

    pid, pid_id = status.get("pid"), status.get("pid_id")
    if pid and status.get("host") == socket.gethostname() and pid_id and pid_alive(pid, None, pid_id):
        os.kill(pid, signal.SIGTERM)   # only that very supervisor: not a later process with its pid
        deadline = time.time() + timeout_s
        while time.time() < deadline and pid_alive(pid, None, pid_id):   # it records `cancelled` itself
            time.sleep(0.2)
    spec = JobSpec.read(paths.spec)
    remote = read_json(paths.root / "ssh" / "remote.json")
    if remote:
        sup = Supervisor(spec)
        kill_remote(sup.plan(), {int(k): v for k, v in remote.items()})
    jobs.mark_cancelled(paths, "cancelled by `trainkit jobs cancel`")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "supervise":
        print("usage: python -m trainkit.launch.ssh supervise JOB_SPEC", file=sys.stderr)
        return 2
    if not sys.stdin.isatty():
        sys.stdin.readline()   # detached: wait for the submitter to record this process first
    return Supervisor(JobSpec.read(argv[1])).run()


if __name__ == "__main__":
    sys.exit(main())
