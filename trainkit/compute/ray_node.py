"""compute=ray, on a Ray node: one rank of a job, as a Ray actor (compute/ray.py places it).

`place` reports where the actor landed (the node's address, a free port for TF_CONFIG, the
node's TensorFlow/Keras); `run` unpacks the code, the dataset blobs (each checked against its
sha256) and the run record under `compute.workdir`, starts `python -m trainkit.worker` for its rank
in a process group of its own (which dies with the actor) and yields its output in batches;
`stop` ends that process group; `fetch` returns the chief's run-owned files."""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from ..fsutil import sha256_file
from ..records.workspace import RunPaths

RUN_OWNED = ("outputs", "checkpoints", "metrics.jsonl", "environment.json", "curves.png", "tags.json", "pruned.json",
             "status.json", "logs/tensorboard", "logs/images")


class RankActor:
    """One rank of a Ray job (wrapped with ray.remote by the supervisor)."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.run_dir: Path | None = None

    def place(self, workdir: str, run_id: str) -> dict:
        from importlib import metadata

        import ray

        ip = ray.util.get_node_ip_address()
        with socket.socket() as s:
            s.bind((ip, 0))
            port = s.getsockname()[1]
        node = ray.get_runtime_context().get_node_id()[:12]
        self.base = Path(os.path.expanduser(workdir)) / "runs" / f"{run_id}-{node}"

        def version(*names):
            for n in names:
                try:
                    return metadata.version(n)
                except metadata.PackageNotFoundError:
                    pass

        return {"ip": ip, "port": port, "node": node, "hostname": socket.gethostname(),
                "versions": {"tensorflow": version("tensorflow", "tensorflow-cpu"), "keras": version("keras")}}

    def run(self, spec: dict, rank: int, env: dict, ship: dict):
        """Unpack, start the worker, yield {"lines": [...], "err": bool} batches, then {"exit": code}."""
        import ray

        workdir = self.base.parent.parent
        code, run_dir = self.base / "code", self.base / "run"
        self.run_dir = run_dir
        _unpack(ray.get(ship["code"]), code)
        _unpack(ray.get(ship["record"]), run_dir)
        blobs = workdir / "datasets" / "blobs"
        for rel, (ref, sha256) in ship["blobs"].items():
            _put_blob(blobs / rel, ref, sha256, ray)
        spec = _node_spec(spec, str(workdir), str(run_dir), str(code))
        RunPaths(run_dir).spec.write_text(json.dumps(spec))
        from ..records.runs import die_with_parent

        self.proc = subprocess.Popen([sys.executable, "-m", "trainkit.worker", str(RunPaths(run_dir).spec)],
                                     cwd=code, env={**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1",
                                                    **env},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=die_with_parent)
        lines: list[tuple[bool, str]] = []
        lock = threading.Lock()

        def pump(stream, err: bool) -> None:
            for raw in iter(stream.readline, b""):
                with lock:
                    lines.append((err, raw.decode(errors="replace")))

        pumps = [threading.Thread(target=pump, args=(s, e), daemon=True)
                 for s, e in ((self.proc.stdout, False), (self.proc.stderr, True))]
        for t in pumps:
            t.start()
        while True:
            done = self.proc.poll() is not None
            if done:
                for t in pumps:
                    t.join(timeout=5)
            with lock:
                batch, lines[:] = list(lines), []
            for err in (False, True):
                part = [line for e, line in batch if e is err]
                if part:
                    yield {"lines": part, "err": err}
            if done:
                rc = self.proc.returncode
                yield {"exit": rc if rc >= 0 else 128 - rc}
                return
            time.sleep(0.2)

    def stop(self, grace_s: float) -> None:
        """SIGTERM the worker's process group, SIGKILL it after `grace_s`."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue

    def fetch(self) -> bytes:
        """The chief's run-owned files (regular files only; never a link) as a tar."""
        buf = io.BytesIO()
        root = self.run_dir
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name in RUN_OWNED:
                path = root / name
                files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
                for f in files:
                    if f.is_file() and not f.is_symlink():
                        tar.add(str(f), arcname=str(f.relative_to(root)), recursive=False)
        return buf.getvalue()


def _unpack(payload: bytes, dest: Path) -> None:
    """A tar of regular files into dest: names that stay inside it only."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
        for m in tar.getmembers():
            target = (dest / m.name).resolve()
            if m.isfile() and dest.resolve() in target.parents:   # ranks on one node share dest: rename, never tear
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                tmp.write_bytes(tar.extractfile(m).read())
                os.replace(tmp, target)


def _put_blob(target: Path, ref, sha256: str, ray) -> None:
    """A dataset file into this node's cache, once: written to a temporary name, checked against
    its recorded sha256, then renamed into place."""
    from ..errors import DataError

    if target.exists() and target.stat().st_size and sha256_file(target) == sha256:
        return
    data = ray.get(ref)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataError(f"{target.name}: sha256 mismatch after shipping to this node: expected {sha256}, got {got}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)



def _node_spec(spec: dict, workdir: str, run_dir: str, code: str) -> dict:
    """The job spec as this node sees it: its own paths; registration happens on the submitter."""
    from ..records.workspace import blob_relpath

    d = json.loads(json.dumps(spec))
    d.update(run_dir=run_dir, workspace=workdir, project_root=code)
    for units in d["dataset"]["files"].values():
        for u in units:
            u["path"] = f"{workdir}/datasets/blobs/{blob_relpath(u['path'])}"
    d["config"]["registry"] = {**d["config"]["registry"], "enabled": False}
    d["config"]["workspace"] = {**d["config"]["workspace"], "root": workdir}
    return d
