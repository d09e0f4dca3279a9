"""What the dashboard shows, as plain dicts (its JSON API returns exactly these): read through the
same code as `trainkit runs` and the Python API, and never written: a Slurm job that left its queue
is shown as failed without the record being changed, sweeps are summarised without summary files.

Run rows come from an index of every run's status.json that re-reads only the files whose size or
modification time changed, so a workspace of thousands of runs pages in well under a second."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..api.query import parse_filter, parse_order, sort_by
from ..compute import job_for
from ..errors import NotFoundError, UsageError
from ..fsutil import read_json
from ..records.runs import read_history, run_files
from ..records.workspace import RunPaths, WorkspacePaths

DEFAULT_METRICS = ("test_accuracy", "val_accuracy", "test_loss")
PAGE = 50


class RunIndex:
    """Every run's status, cached by (size, mtime) of its status.json."""

    def __init__(self, ws: WorkspacePaths):
        self.ws = ws
        self._cache: dict[Path, tuple[tuple[int, int], dict]] = {}
        self._lock = threading.Lock()

    def rows(self) -> list[dict]:
        out = []
        exp_root = self.ws.experiments
        if not exp_root.is_dir():
            return out
        seen = set()
        with self._lock:
            for exp in os.scandir(exp_root):
                runs = Path(exp.path) / "runs"
                if not runs.is_dir():
                    continue
                for entry in os.scandir(runs):
                    status_path = RunPaths(Path(entry.path)).status
                    try:
                        st = status_path.stat()
                    except OSError:
                        continue
                    key = (st.st_size, st.st_mtime_ns)
                    cached = self._cache.get(status_path)
                    if cached is None or cached[0] != key:
                        status = read_json(status_path)
                        if status is None:
                            continue
                        cached = (key, status)
                        self._cache[status_path] = cached
                    seen.add(status_path)
                    out.append(row_of(Path(entry.path), exp.name, cached[1]))
            for gone in set(self._cache) - seen:
                del self._cache[gone]
        return sorted(out, key=lambda r: r["id"], reverse=True)


def row_of(run_dir: Path, experiment: str, status: dict) -> dict:
    """One run as the runs table shows it (state through its Job handle, read-only)."""
    job = job_for(run_dir, status, write=False)
    state = job.state()
    ds = status.get("dataset") or {}
    started, ended = status.get("started"), status.get("ended")
    metrics = dict(status.get("final_metrics") or status.get("last_metrics") or {})
    return {"id": run_dir.name, "experiment": experiment, "status": state.name, "reason": state.reason,
            "started": started, "ended": ended,
            "duration": (ended or time.time()) - started if started else None, "compute": job.kind.name,
            "distribution": status.get("distribution"), "dataset": ds.get("name"), "dataset_version": ds.get("version"),
            "tags": status.get("tags") or {}, "metrics": {k: v for k, v in metrics.items()
                                                          if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "epoch": status.get("epoch"), "sweep": status.get("sweep"), "registered_model": status.get("registered_model"),
            "path": str(run_dir)}


def _getter(row: dict):
    def get(key: str):
        head, _, rest = key.partition(".")
        if head == "metrics":
            return row["metrics"].get(rest)
        if head == "tags":
            return row["tags"].get(rest)
        if head in ("config", "params"):
            node = (read_json(RunPaths(Path(row["path"])).spec) or {}).get("config", {})
            for part in rest.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            return node
        if key == "dataset.version":
            return row["dataset_version"]
        return row.get(key)
    return get


def runs_page(index: RunIndex, experiment: str | None = None, filter: str | None = None,
              order_by: str | None = None, page: int = 1, per_page: int = PAGE, metrics: list[str] | None = None) -> dict:
    """One page of the runs table: rows, the metric columns, the total after filtering."""
    try:
        keep = parse_filter(filter)
        order = parse_order(order_by) if order_by else [("id", True)]
    except ValueError as e:
        raise UsageError(str(e)) from None
    rows = [r for r in index.rows() if (not experiment or r["experiment"] == experiment) and keep(_getter(r))]
    rows = sort_by(rows, order, lambda r, k: _getter(r)(k))
    seen = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    columns = metrics or [m for m in DEFAULT_METRICS if m in seen] or seen[:3]
    page = max(1, int(page))
    start = (page - 1) * per_page
    return {"total": len(rows), "page": page, "per_page": per_page, "pages": max(1, -(-len(rows) // per_page)),
            "metrics": columns, "all_metrics": seen, "rows": rows[start:start + per_page],
            "experiment": experiment, "filter": filter or "", "order_by": order_by or ""}


def experiments(index: RunIndex) -> list[dict]:
    out: dict[str, dict] = {}
    for r in index.rows():
        e = out.setdefault(r["experiment"], {"name": r["experiment"], "runs": 0, "last": None, "states": {}})
        e["runs"] += 1
        e["last"] = max(e["last"] or 0, r["started"] or 0) or None
        e["states"][r["status"]] = e["states"].get(r["status"], 0) + 1
    return sorted(out.values(), key=lambda e: -(e["last"] or 0))


def run_dir(ws: WorkspacePaths, run_id: str) -> Path:
    from ..records.runs import get_run

    return get_run(ws, run_id).path


def run_detail(ws: WorkspacePaths, registry, run_id: str) -> dict:
    """A run's page: its row, config, overrides, environment, source snapshot, lineage, files."""
    import yaml

    path = run_dir(ws, run_id)
    paths = RunPaths(path)
    status = read_json(paths.status, {}) or {}
    spec = read_json(paths.spec, {}) or {}
    row = row_of(path, path.parent.parent.name, status)
    source = read_json(paths.source_info) or {}
    files = sorted(str(p.relative_to(path)) for p in run_files(path) if p.relative_to(path).parts[0] != "source")
    ds = status.get("dataset") or {}
    return {**row, "config_yaml": yaml.safe_dump(spec.get("config", {}), sort_keys=False),
            "overrides": spec.get("overrides", []), "environment": read_json(paths.environment) or {},
            "source": {**source, "files_list": sorted(str(p.relative_to(paths.source / "files"))
                                                      for p in run_files(paths.source / "files"))[:500]}
            if source else {},
            "lineage": {"dataset": {k: ds.get(k) for k in ("name", "version", "digest")} if ds else None,
                        "models": models_of_run(registry, row["id"])},
            "files": files[:2000], "ranks": sorted(_ranks(paths)), "exit_reason": status.get("exit_reason"),
            "final_metrics": status.get("final_metrics") or {}}


def _ranks(paths: RunPaths) -> list[int]:
    ranks = [0] if paths.stdout_log.exists() else []
    return ranks + [int(p.stem.split("-")[1]) for p in paths.logs.glob("rank-*.log") if p.stem.split("-")[1].isdigit()]


def history(ws: WorkspacePaths, run_id: str) -> dict:
    """The run's metrics per epoch (or logged step), with the time of each, for the charts."""
    rows = read_history(run_dir(ws, run_id))
    x = "epoch" if rows and "epoch" in rows[0] else "step"
    keys = list(dict.fromkeys(k for r in rows for k, v in r.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "step")))
    t, elapsed = 0.0, []
    for r in rows:   # seconds since the start: epoch times summed (script steps carry their own time)
        t = t + r.get("epoch_time_s", 0.0) if "epoch_time_s" in r else (r.get("time") or t)
        elapsed.append(round(t, 3))
    return {"x": x, "steps": [r.get(x) for r in rows], "time": elapsed, "series": {k: [r.get(k) for r in rows] for k in keys}}


def logs(ws: WorkspacePaths, run_id: str, rank: int | None = None, offset: int = 0) -> dict:
    """The console (all ranks) or one rank's output from byte `offset`, and whether the run ended."""
    path = run_dir(ws, run_id)
    job = job_for(path, write=False)
    log = job.log_path(rank)
    text, end = "", offset
    if log.exists():
        with open(log, "rb") as f:
            f.seek(offset)
            data = f.read(4 << 20)
        cut = data.rfind(b"\n") + 1 if not job.state().done else len(data)   # whole lines while it runs
        text, end = data[:cut].decode(errors="replace"), offset + cut
    return {"text": text, "offset": end, "done": job.state().done, "status": job.state().name}


def file_path(ws: WorkspacePaths, run_id: str, rel: str) -> Path:
    """A file of the run's record to download: a regular file inside it, reached through no link."""
    root = run_dir(ws, run_id)
    parts = Path(rel).parts
    if not rel or Path(rel).is_absolute() or any(p in ("..", ".", "") for p in parts) or "\\" in rel \
            or any(ord(c) < 32 for c in rel):
        raise UsageError(f"file {rel!r}: expected a path inside run {run_id}")
    node = root
    for part in parts:
        node = node / part
        if node.is_symlink():
            raise NotFoundError(f"file {rel!r} of run {run_id}: a link; links are never followed")
    if not node.is_file() or root.resolve() not in node.resolve().parents:
        raise NotFoundError(f"file {rel!r}: no such file in run {run_id}")
    return node


def compare(ws: WorkspacePaths, ids: list[str]) -> dict:
    from ..api.sweeps import compare as compare_runs

    if len(ids) < 2:
        raise UsageError(f"compare: expected at least 2 run ids, got {len(ids)}")
    d = compare_runs(ws, ids)
    d["histories"] = {r["id"]: history(ws, r["id"]) for r in d["runs"]}
    return d


def sweeps(ws: WorkspacePaths) -> list[dict]:
    from ..api.sweeps import list_sweeps

    return list_sweeps(ws)[::-1]


def sweep(ws: WorkspacePaths, sweep_id: str, metric: str | None = None, mode: str | None = None) -> dict:
    """A sweep's trials (pruned marked), its swept parameters per trial, the best trial."""
    from ..api.sweeps import find_sweep, summarize

    path = find_sweep(ws, sweep_id)
    saved = read_json(path / "summary.json") or {}
    s = summarize(ws, path, metric or saved.get("metric") or _sweep_metric(path) or "test_accuracy",
                  mode or saved.get("mode") or "max")
    for r in s["rows"]:
        r["params"] = dict(o.split("=", 1) for o in r["swept"].split() if "=" in o)
    done = [r for r in s["rows"] if r["status"] == "completed" and r.get(s["metric"]) is not None]
    s["best"] = done[0]["run_id"] if done else None
    s["params"] = list(dict.fromkeys(k for r in s["rows"] for k in r["params"]))
    return s


def _sweep_metric(path: Path) -> str | None:
    """An Optuna search's metric (from its study), so its trials are ranked by what it optimised."""
    jobs = sorted(path.glob("jobs/*/job.json"))
    for job in jobs:
        for o in (read_json(job) or {}).get("overrides", []):
            if o.startswith("run.trial=") and "metric:" in o:
                return o.split("metric:", 1)[1].split(",", 1)[0].strip("}'\" ")
    return None


def models(registry) -> list[dict]:
    from ..registry.store import ModelRef

    out = []
    for name in registry.names():
        versions = [registry.entry(ModelRef(name, v)) for v in registry.versions(name)]
        out.append({"name": name, "versions": [model_row(e) for e in versions]})
    return out


def model_row(e: dict) -> dict:
    onnx = e.get("onnx") or {}
    return {"name": e["name"], "version": e["version"], "aliases": e.get("aliases") or [], "tags": e.get("tags") or {},
            "created": e.get("created"), "run_id": e.get("run_id"), "experiment": e.get("experiment"),
            "dataset": e.get("dataset"), "metrics": e.get("metrics") or {},
            "onnx": {k: onnx.get(k) for k in ("status", "opset", "max_abs_diff", "argmax_agreement", "samples",
                                              "parity_data", "reason")},
            "serve": f"trainkit models serve {e['name']}:{e['version']}"}


def models_of_run(registry, run_id: str) -> list[dict]:
    try:
        return [m for entry in models(registry) for m in entry["versions"] if m["run_id"] == run_id]
    except (OSError, NotFoundError):
        return []


def jobs(index: RunIndex, limit: int = 200) -> list[dict]:
    out = []
    for r in index.rows()[:limit]:
        job = job_for(Path(r["path"]), write=False)
        d = job.describe()
        out.append({**d, "experiment": r["experiment"]})
    return out
