"""compute=ray: a job on a running Ray cluster (Ray's autoscaler on VMs, KubeRay on Kubernetes;
the open counterpart of Azure ML's autoscaling compute), one Ray actor per rank.

- `RayBackend.preflight`: the cluster at `compute.address` answers and has, in all, the CPUs and
  GPUs the job's ranks ask for (`num_cpus`, `num_gpus` per rank); Ray is an optional extra
  (`pip install 'trainkit[ray]'`).
- the supervisor (this module's `Supervisor`: in `python -m trainkit` with compute.wait=true, else
  detached in its own session, `python -m trainkit.compute.ray JOB_SPEC`) is the job's Ray driver:
  it reserves a placement group (`compute.placement`), starts one `RankActor` (compute/ray_node.py)
  per rank, learns where each landed (node address, a free port), gives each its TF_CONFIG or
  Horovod variables (the Gloo rendezvous runs here), ships code, dataset blobs and the run record
  through Ray's object store, streams every rank's output, stops them all at the first failure,
  brings the chief's record back and registers the model here.
- cancel: SIGTERM to the supervisor, which stops the workers and kills the actors through Ray;
  with the supervisor gone, the job's named actors are killed through Ray directly. A Ray job's
  actors also die with their driver, so a killed supervisor leaves no rank behind.

Nodes need trainkit (with the same TensorFlow and Keras) in the Python Ray runs there, as the
hosts of compute=ssh do."""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, TrainkitError
from ..fsutil import read_json
from ..records.runs import write_status
from ..records.spec import JobSpec
from ..records.workspace import RunPaths, blob_relpath
from .base import (CLUSTER_WORKER_ENV, Backend, ComputeConfig, Job, announce, finish_remote, mark_cancelled,
                   owner_main, record_job)

PLACEMENTS = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
NAMESPACE = "trainkit"   # the Ray namespace of trainkit's named actors
RAY_INSTALL = "pip install 'trainkit[ray]'   (or: pip install ray)"
GRACE_S = 10.0


@dataclass
class RayConfig(ComputeConfig):
    """compute=ray: one Ray actor per rank on a running Ray cluster."""
    name: str = "ray"
    wait: bool = False                                    # submit, print the job id and return (trainkit jobs ...)
    address: str = "auto"                                 # the cluster (ray.init): auto = RAY_ADDRESS or the one `ray start` runs here; host:6379; ray://host:10001
    num_cpus: float = 1.0                                 # CPUs each rank reserves
    num_gpus: float = 0.0                                 # GPUs each rank reserves (TensorFlow sees only those)
    placement: str = "SPREAD"                             # placement group strategy of the ranks: PACK | SPREAD | STRICT_PACK | STRICT_SPREAD
    workdir: str = "~/trainkit-ray"                       # on each node: code, dataset cache and run records
    start_timeout_s: float = 120.0                        # the cluster must place every rank within this (an autoscaler may add nodes), else the job fails saying what it lacks


def require_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise TrainkitError(f"compute=ray: ray is not installed in {sys.prefix}; install it with:\n  {RAY_INSTALL}")


# `python - ADDRESS` here: connect to the cluster and report its resources and versions.
PROBE = r"""
import json, sys, importlib.metadata as m
import ray
ray.init(address=sys.argv[1], namespace="trainkit", logging_level="ERROR", log_to_driver=False)
nodes = [n for n in ray.nodes() if n.get("Alive")]
print(json.dumps({"resources": ray.cluster_resources(), "nodes": [n["NodeManagerAddress"] for n in nodes],
                  "ray": ray.__version__}))
"""


class RayBackend(Backend):
    name, schema = "ray", RayConfig


    @classmethod
    def from_cluster(cls, gpus, cpus):
        return ({"address": "auto", "num_gpus": gpus or 0, "num_cpus": max(1, (cpus or 2) // max(1, gpus or 1))},
                "A Ray cluster with autoscaling (min_nodes/max_nodes) is the nearest: point address at it.")

    def capacity(self, procs: int) -> tuple[str, int]:
        return "compute.address", procs   # the cluster's room is checked at preflight and placement

    def check(self, procs: int) -> list[str]:
        c, problems = self.cfg, []
        if not (isinstance(c.num_cpus, (int, float)) and c.num_cpus > 0):
            problems.append(f"compute.num_cpus: expected a number of CPUs > 0 per rank, got {c.num_cpus!r}")
        if not (isinstance(c.num_gpus, (int, float)) and c.num_gpus >= 0):
            problems.append(f"compute.num_gpus: expected a number of GPUs >= 0 per rank, got {c.num_gpus!r}")
        if c.placement not in PLACEMENTS:
            problems.append(f"compute.placement: expected one of {list(PLACEMENTS)}, got {c.placement!r}")
        if not c.start_timeout_s > 0:
            problems.append(f"compute.start_timeout_s: expected seconds > 0, got {c.start_timeout_s!r}")
        if not str(c.address).strip():
            problems.append("compute.address: expected 'auto', host:port or ray://host:port, got ''")
        return problems

    def preflight(self, job_cfg: dict) -> None:
        import json

        from ..topology import process_count
        from .hostinfo import require_horovod

        require_ray()
        require_horovod(job_cfg)   # the rendezvous runs here
        c, n = self.cfg, process_count(job_cfg["distribution"])
        try:
            res = subprocess.run([sys.executable, "-", c.address], input=PROBE, capture_output=True, text=True,
                                 timeout=c.start_timeout_s)
        except subprocess.TimeoutExpired:
            raise TrainkitError(f"compute.address: the Ray cluster at {c.address!r} did not answer within "
                                f"{c.start_timeout_s:g} s (compute.start_timeout_s)") from None
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise TrainkitError(f"compute.address: expected a running Ray cluster at {c.address!r} "
                                f"(`ray start --head`, or RAY_ADDRESS), got: {last}")
        found = json.loads(res.stdout.strip().splitlines()[-1])
        have = found["resources"]
        for key, per in (("CPU", c.num_cpus), ("GPU", c.num_gpus)):
            if per and have.get(key, 0) < per * n:
                raise ConfigError([f"compute.num_{key.lower()}s: {n} ranks x {per:g} {key} = {n * per:g}, but the Ray cluster "
                                   f"at {c.address!r} has {have.get(key, 0):g} {key} in all "
                                   f"(nodes {', '.join(found['nodes'])}); lower it or add nodes"])

    def launch(self, spec) -> Job:
        record_job(RunPaths(Path(spec.run_dir)), self.name, address=self.cfg.address)

        def run_here(paths):
            from .output import Tee

            announce(spec.run_id, f"ray: {self.cfg.address}")
            Supervisor(spec).run(console=Tee(sys.stdout, open(paths.console, "a")))

        return self.own(spec, "trainkit.compute.ray", f"ray: {self.cfg.address}", run_here)

    def stop_remains(self, job: Job) -> None:
        """The supervisor is gone: kill the job's named actors through Ray, if any are left."""
        script = ("import sys, ray\n"
                  f"ray.init(address=sys.argv[1], namespace={NAMESPACE!r}, logging_level='ERROR', log_to_driver=False)\n"
                  "for a in ray.util.list_named_actors(all_namespaces=False):\n"
                  "    if a.startswith(sys.argv[2]):\n"
                  "        ray.kill(ray.get_actor(a))\n")
        try:
            subprocess.run([sys.executable, "-c", script, self.cfg.address, f"{job.id}-rank"], capture_output=True,
                           timeout=self.cfg.start_timeout_s)
        except subprocess.TimeoutExpired:
            pass


# ----------------------------------------------------------------------------- the job's Ray driver
class Supervisor:
    """One Ray job, from this machine: place, ship, start, stream, stop, fetch, register."""

    def __init__(self, spec: JobSpec):
        self.spec, self.paths, self.c = spec, RunPaths(Path(spec.run_dir)), spec.cfg.compute
        self.actors: list = []
        self.stopping: str | None = None
        self.rendezvous = None

    def _on_signal(self, signum, frame) -> None:
        if self.stopping is None:
            self.stopping = signal.Signals(signum).name

    def run(self, console=None) -> int:
        console = console or sys.stdout
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        write_status(self.paths, "running", pid=os.getpid(), host=socket.gethostname(), chief_error=None,
                     remote_state=None, exit_reason=None)
        try:
            import ray

            ray.init(address=self.c.address, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False)
            places = self.place(ray)
            write_status(self.paths, "running", job={**(read_json(self.paths.status, {}) or {}).get("job", {}),
                                                     "hosts": sorted({p["ip"] for p in places}), "started": time.time(),
                                                     "ranks": [f"{p['ip']}#{p['local_rank']}" for p in places]})
            print(f"trainkit ray: {self.spec.world_size} rank(s) on {', '.join(sorted({p['ip'] for p in places}))}",
                  file=console, flush=True)
            rc, failed, tails = self.stream(ray, places, self.rank_envs(places), console)
        except Exception as e:  # noqa: BLE001 - any failure (placement, a dead node, a bug) is recorded
            reason = str(e) if isinstance(e, TrainkitError) else f"{type(e).__name__}: {e}"
            self.stop_all()
            write_status(self.paths, "failed", exit_reason=reason)
            print(f"error: {reason}", file=console, flush=True)
            return 1
        self.stop_all(fetch=True, console=console)
        if self.stopping:
            asked = (read_json(self.paths.status, {}) or {}).get("cancel_requested")
            mark_cancelled(self.paths, ("cancelled by `trainkit jobs cancel`" if asked else f"cancelled ({self.stopping})")
                           + "; ranks stopped and their actors killed through Ray")
            return 130
        if rc != 0:
            place = places[failed]
            how = f"exit code {rc}" if rc > 0 else "its Ray actor died (node lost or killed)"
            st = read_json(self.paths.status, {}) or {}
            if st.get("chief_error"):
                how += f" (the chief reported: {st['chief_error'].splitlines()[0]})"
            reason = f"rank {failed} on node {place['ip']} failed: {how}"
            write_status(self.paths, "failed", exit_reason=reason, failed_rank=failed, last_log_lines=tails[failed][-10:])
            print(f"job failed: {reason}", file=console, flush=True)
            return 1
        return self.finish(console)

    def place(self, ray) -> list[dict]:
        """A placement group for the ranks, one actor per bundle; where each landed."""
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from .ray_node import RankActor

        n, c = self.spec.world_size, self.c
        bundle = {"CPU": c.num_cpus, **({"GPU": c.num_gpus} if c.num_gpus else {})}
        pg = placement_group([bundle] * n, strategy=c.placement, name=f"{self.spec.run_id}-ranks")
        ready, _ = ray.wait([pg.ready()], timeout=c.start_timeout_s)
        if not ready:
            raise TrainkitError(f"compute.placement: the Ray cluster at {c.address!r} could not place {n} ranks of "
                                f"{bundle} ({c.placement}) within {c.start_timeout_s:g} s; it has "
                                f"{ray.available_resources()} available")
        actor = ray.remote(RankActor)
        self.actors = [actor.options(name=f"{self.spec.run_id}-rank{r}", max_concurrency=2, num_cpus=c.num_cpus,
                                     num_gpus=c.num_gpus, scheduling_strategy=PlacementGroupSchedulingStrategy(
                                         placement_group=pg, placement_group_bundle_index=r)).remote()
                       for r in range(n)]
        places = ray.get([a.place.remote(c.workdir, self.spec.run_id) for a in self.actors], timeout=c.start_timeout_s)
        seen: dict[str, int] = {}
        for p in places:   # local rank: order on its node
            p["local_rank"] = seen[p["ip"]] = seen.get(p["ip"], -1) + 1
        self.check_versions(places)
        return places

    def check_versions(self, places: list[dict]) -> None:
        from ..envinfo import version_mismatches

        problems = [m for p in places for m in version_mismatches(self.spec.config["environment"], p["versions"],
                                                                   f"node {p['ip']}")]
        if problems:
            raise TrainkitError("; ".join(problems))

    def rank_envs(self, places: list[dict]) -> list[dict]:
        """Each rank's variables: its place (TF_CONFIG from the nodes' addresses and ports), env_vars
        and secrets, and for Horovod its slot in the Gloo rendezvous this supervisor runs."""
        from ..distributions import describe
        from ..topology import horovod_envs, rank_envs

        dist, env_cfg = self.spec.config["distribution"], self.spec.cfg.environment
        layout = [(p["ip"], p["local_rank"]) for p in places]
        common = {**CLUSTER_WORKER_ENV, **{k: str(v) for k, v in env_cfg.env_vars.items()},
                  **{k: os.environ[k] for k in env_cfg.secret_env if k in os.environ}}
        envs = rank_envs(dist, layout, [f"{p['ip']}:{p['port']}" for p in places])
        if describe(dist).horovod:
            from .hostinfo import route_to
            from .rendezvous import start_rendezvous

            address = route_to(places[0]["ip"])[1] or socket.gethostbyname(socket.gethostname())
            self.rendezvous, port = start_rendezvous(layout)
            envs = [{**e, **h} for e, h in zip(envs, horovod_envs(layout, address, port))]
        return [{**common, **e} for e in envs]

    def shipment(self, ray) -> dict:
        """What every node needs, in Ray's object store: the project's files, the dataset blobs
        and the run record (a resumed run's checkpoints with it)."""
        from ..launch.project import snapshot_root
        from ..launch.snapshot import project_files

        root = Path(self.spec.project_root)
        shipped = project_files(root, self.spec.workspace) if snapshot_root(self.spec.config, root) is not None else []
        code = _tar({f: root / f for f in shipped})
        record = _tar({str(p.relative_to(self.paths.root)): p for p in self.paths.root.rglob("*")
                       if p.is_file() and not p.is_symlink()
                       and p.relative_to(self.paths.root).parts[0] not in ("source", "logs", self.c.name)})
        blobs = {}
        for units in self.spec.dataset["files"].values():
            for u in units:
                blobs[blob_relpath(u["path"])] = (ray.put(Path(u["path"]).read_bytes()), u["sha256"])
        return {"code": ray.put(code), "record": ray.put(record), "blobs": blobs}

    def stream(self, ray, places: list[dict], envs: list[dict], console) -> tuple[int, int | None, dict]:
        """Start every rank and copy its output here until all ended or one failed."""
        from .output import RankSink

        ship = self.shipment(ray)
        n = self.spec.world_size
        sinks = {r: RankSink(r, self.paths, n, None, prefix=f"[{p['ip']} rank {r}] ", consoles=(console, console),
                             verbose=self.spec.cfg.run.verbose) for r, p in enumerate(places)}
        codes: dict[int, int] = {}
        threads = [threading.Thread(target=self._pump, args=(ray, r, envs[r], ship, sinks[r], codes), daemon=True)
                   for r in range(n)]
        for t in threads:
            t.start()
        from ..topology import roles

        servers = {r for r, role in enumerate(roles(self.spec.config["distribution"])) if role.server}
        try:
            while True:
                if self.stopping:
                    return 130, None, {r: s.tail for r, s in sinks.items()}
                bad = [r for r, code in sorted(codes.items()) if code != 0]
                if bad:
                    return codes[bad[0]], bad[0], {r: s.tail for r, s in sinks.items()}
                if all(codes.get(r) == 0 for r in range(n) if r not in servers):
                    return 0, None, {r: s.tail for r, s in sinks.items()}
                time.sleep(0.2)
        finally:
            self.stop_ranks()
            for t in threads:
                t.join(timeout=GRACE_S)
            for s in sinks.values():
                s.close()

    def _pump(self, ray, rank: int, env: dict, ship: dict, sink, codes: dict) -> None:
        from .output import note_epoch

        try:
            for ref in self.actors[rank].run.remote(self.spec_dict(), rank, env, ship):
                item = ray.get(ref)
                for line in item.get("lines", []):
                    if rank == 0:
                        note_epoch(self.paths, line)
                    sink.write(line, item.get("err", False))
                if "exit" in item:
                    codes[rank] = item["exit"]
                    return
            codes.setdefault(rank, 1)
        except Exception as e:  # noqa: BLE001 - a dead actor or node: this rank failed
            sink.write(f"trainkit ray: rank {rank}: {type(e).__name__}: {str(e).splitlines()[0]}\n", True)
            codes.setdefault(rank, -1)

    def spec_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self.spec)

    def stop_ranks(self) -> None:
        """Ask every rank to stop its worker (SIGTERM, then SIGKILL after a grace period)."""
        import ray

        refs = [a.stop.remote(GRACE_S) for a in self.actors]
        try:
            ray.wait(refs, num_returns=len(refs), timeout=GRACE_S + 5)
        except Exception:  # noqa: BLE001 - a dead actor has nothing left to stop
            pass

    def stop_all(self, fetch: bool = False, console=None) -> None:
        """Bring the chief's record back (when asked), then kill every actor through Ray."""
        import ray

        if self.rendezvous is not None:
            self.rendezvous.stop()
            self.rendezvous = None
        if fetch and self.actors:
            try:
                self.merge(ray.get(self.actors[0].fetch.remote(), timeout=120))
            except Exception as e:  # noqa: BLE001 - the job's state says what happened; the record may be partial
                print(f"warning: fetching the chief's record back failed: {e}", file=console or sys.stderr, flush=True)
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []

    def merge(self, payload: bytes) -> None:
        """The chief's run-owned files into the local run; its status merged, not adopted."""
        import json

        status = {}
        with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
            for m in tar.getmembers():
                target = (self.paths.root / m.name).resolve()
                if not m.isfile() or self.paths.root.resolve() not in target.parents:
                    continue
                data = tar.extractfile(m).read()
                if m.name == "status.json":
                    status = json.loads(data)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        merged = {k: status[k] for k in ("epoch", "last_metrics", "final_metrics", "chief_error", "resumed",
                                         "script_exit_code") if k in status}
        local = (read_json(self.paths.status, {}) or {}).get("state", "running")
        write_status(self.paths, local, remote_state=status.get("state"), **merged)

    def finish(self, console) -> int:
        return finish_remote(self.paths, self.spec, console, lambda st: st.get("remote_state"))


def _tar(files: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, path in sorted(files.items()):
            tar.add(str(path), arcname=name, recursive=False)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    return owner_main(argv, "trainkit.compute.ray", lambda path: Supervisor(JobSpec.read(path)).run())


if __name__ == "__main__":
    sys.exit(main())
