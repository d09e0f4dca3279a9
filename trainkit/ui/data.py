"""What the dashboard shows, as plain dicts (its JSON API returns exactly these): read through the
same code as `trainkit runs` and the Python API, and never written: a Slurm job that left its queue
is shown as failed without the record being changed, sweeps are summarised without summary files.

Run rows come from an index of every run's status.json that re-reads only the files whose size or
modification time changed, so a workspace of thousands of runs pages in well under a second. A
record that is not what trainkit writes is skipped with a warning (records.py): functions take the
request's `Warnings` and add to it."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from ..api.query import parse_filter, parse_order, sort_by
from ..compute import job_for
from ..errors import NotFoundError, TrainkitError, UsageError
from ..fsutil import read_json
from ..records.runs import FINISHED, run_files, run_tags
from ..records.workspace import RunPaths, WorkspacePaths
from . import history as history_file
from .records import ENTRY, STATUS, Warnings, checked

DEFAULT_METRICS = ("test_accuracy", "val_accuracy", "test_loss")
PAGE = 50


class RunIndex:
    """Every run's row, cached by (size, mtime) of its status.json and the mtime of its tags.json; a
    bad record is cached as its warning. The row of a run whose record says it ended is kept as it
    is until either changes (its state is final); a queued or running run's row is made afresh on
    every look, as its Job handle may find it ended meanwhile (a dead process, a Slurm job gone)."""

    def __init__(self, ws: WorkspacePaths):
        self.ws = ws
        self._cache: dict[Path, tuple[tuple[int, int], dict | None, str]] = {}
        self._rows: dict[Path, tuple[dict | None, str]] = {}
        self._lock = threading.Lock()

    def rows(self, warn: Warnings | None = None) -> list[dict]:
        """Newest first. Paths stay strings here (pathlib costs more than the stat at 50,000 runs)."""
        out, seen = [], set()
        with self._lock:
            for run, experiment in _run_paths(self.ws):
                status_path = os.path.join(run, "status.json")
                try:
                    st = os.stat(status_path)
                except OSError:
                    continue
                try:                         # a script or tracking client may tag an ended run
                    tagged = os.stat(os.path.join(run, "tags.json")).st_mtime_ns
                except OSError:
                    tagged = None
                key = (st.st_size, st.st_mtime_ns, tagged)
                cached = self._cache.get(status_path)
                if cached is None or cached[0] != key:
                    cached = self._cache[status_path] = (key, *_status(Path(status_path)))
                    self._rows.pop(status_path, None)
                seen.add(status_path)
                if cached[1] is None:
                    continue                 # gone between the listing and the read
                made = self._rows.get(status_path)
                if made is None:
                    made = _row_or_problem(Path(run), experiment, cached[1], cached[2])
                    if cached[1].get("state") in FINISHED:
                        self._rows[status_path] = made
                row, problem = made
                if problem:
                    (warn if warn is not None else Warnings()).skip(_relative(self.ws, status_path), [problem])
                else:
                    out.append(row)
            if len(seen) != len(self._cache):
                for gone in set(self._cache) - seen:
                    del self._cache[gone]
                    self._rows.pop(gone, None)
        out.sort(key=lambda r: r["id"], reverse=True)
        return out


def _run_paths(ws: WorkspacePaths):
    """(run directory, experiment) of every directory under experiments/*/runs/ (files there are
    not runs), as strings: the run index walks 50,000 of them."""
    if not ws.experiments.is_dir():
        return
    for exp in os.scandir(ws.experiments):
        runs = os.path.join(exp.path, "runs")
        if exp.is_dir() and os.path.isdir(runs):
            for entry in os.scandir(runs):
                if entry.is_dir(follow_symlinks=False):
                    yield entry.path, exp.name


def run_dirs(ws: WorkspacePaths):
    """_run_paths() as Paths."""
    for run, experiment in _run_paths(ws):
        yield Path(run), experiment


def _status(path: Path) -> tuple[dict | None, str]:
    """status.json checked: (its values coerced, problems); (None, '') when there is none."""
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as e:
        return {}, f"not readable as JSON ({e})"
    status, problems = checked(raw, STATUS)
    return status, "; ".join(problems)


def _row_or_problem(run: Path, experiment: str, status: dict, problem: str) -> tuple[dict | None, str]:
    if problem:
        return None, problem
    try:
        return row_of(run, experiment, status), ""
    except (TrainkitError, TypeError, ValueError, KeyError, AttributeError, OSError) as e:
        return None, f"not a run record trainkit can read ({type(e).__name__}: {e})"


def row_of(run_dir: Path, experiment: str, status: dict) -> dict:
    """One run as the runs table shows it (state through its Job handle, read-only)."""
    job = job_for(run_dir, status, write=False)
    state = job.state()
    ds = status.get("dataset") or {}
    started, ended = status.get("started"), status.get("ended")
    metrics = dict(status.get("final_metrics") or status.get("last_metrics") or {})
    return {"id": run_dir.name, "name": status.get("name") or "", "experiment": experiment, "status": state.name,
            "reason": state.reason,
            "started": started, "ended": ended,
            "duration": (ended or time.time()) - started if started else None, "compute": job.kind.name,
            "distribution": status.get("distribution"), "dataset": ds.get("name"), "dataset_version": ds.get("version"),
            "params": params_of(status.get("overrides")),
            "tags": run_tags(run_dir, status), "metrics": {k: v for k, v in metrics.items()
                                                          if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "epoch": status.get("epoch"), "sweep": status.get("sweep"), "registered_model": status.get("registered_model"),
            "path": str(run_dir)}


NOT_PARAMS = ("run.", "hydra.", "workspace.", "registry.", "compute.wait", "export.")


def params_of(overrides) -> dict:
    """The values a run was given on its command line ({key: value}), without bookkeeping (run.*,
    hydra.*, where it was written): what tells two runs, two sweep trials, apart."""
    out = {}
    for o in overrides if isinstance(overrides, list) else []:
        if isinstance(o, str) and "=" in o:
            key, value = o.split("=", 1)
            key = key.lstrip("+~")
            if not key.startswith(NOT_PARAMS):
                out[key] = value
    return out


def differing(rows: list[dict]) -> list[str]:
    """The parameters whose values differ among `rows` (missing counts as a value), first seen first."""
    keys = list(dict.fromkeys(k for r in rows for k in r["params"]))
    return [k for k in keys if len({r["params"].get(k) for r in rows}) > 1]


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
              order_by: str | None = None, page: int = 1, per_page: int = PAGE, metrics: list[str] | None = None,
              warn: Warnings | None = None, params: list[str] | None = None) -> dict:
    """One page of the runs table: rows, the metric and parameter columns, the total after
    filtering. Parameter columns: `params` when given, else those that differ among the page's rows."""
    try:
        keep = parse_filter(filter)
        order = parse_order(order_by) if order_by else [("id", True)]
    except ValueError as e:
        raise UsageError(str(e)) from None
    rows = index.rows(warn)
    if experiment or filter:
        rows = [r for r in rows if (not experiment or r["experiment"] == experiment) and keep(_getter(r))]
    if order != [("id", True)]:   # the index's own order otherwise
        rows = sort_by(rows, order, lambda r, k: _getter(r)(k))
    seen = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    columns = metrics or [m for m in DEFAULT_METRICS if m in seen] or seen[:3]
    page = max(1, int(page))
    start = (page - 1) * per_page
    shown = rows[start:start + per_page]
    every_param = list(dict.fromkeys(k for r in shown for k in r["params"]))
    return {"total": len(rows), "page": page, "per_page": per_page, "pages": max(1, -(-len(rows) // per_page)),
            "metrics": columns, "all_metrics": seen, "rows": shown,
            "params": differing(shown) if params is None else params, "all_params": every_param,
            "chosen": {"metrics": metrics is not None, "params": params is not None},
            "experiment": experiment, "filter": filter or "", "order_by": order_by or ""}


def experiments(index: RunIndex, warn: Warnings | None = None) -> list[dict]:
    out: dict[str, dict] = {}
    for r in index.rows(warn):
        e = out.setdefault(r["experiment"], {"name": r["experiment"], "runs": 0, "last": None, "states": {}})
        e["runs"] += 1
        e["last"] = max(e["last"] or 0, r["started"] or 0) or None
        e["states"][r["status"]] = e["states"].get(r["status"], 0) + 1
    return sorted(out.values(), key=lambda e: -(e["last"] or 0))


def run_dir(ws: WorkspacePaths, run_id: str) -> Path:
    """The run whose id is (or starts with) `run_id`, found by the run directories' names alone."""
    matches = []
    if run_id and "/" not in run_id and run_id not in (".", ".."):
        for run, _ in run_dirs(ws):
            if run.name == run_id:
                return run
            if run.name.startswith(run_id) and RunPaths(run).status.exists():
                matches.append(run)
    if len(matches) != 1:
        what = "no run" if not matches else f"{len(matches)} runs"
        raise NotFoundError(f"{what} matching {run_id!r} in workspace {ws.root}; see `trainkit runs list`")
    return matches[0]


def run_detail(ws: WorkspacePaths, registry, run_id: str, warn: Warnings | None = None) -> dict:
    """A run's page: its row, config, overrides, environment, source snapshot, lineage, files."""
    import yaml

    path = run_dir(ws, run_id)
    paths = RunPaths(path)
    status, problem = _status(paths.status)
    row, problem = _row_or_problem(path, path.parent.parent.name, status or {}, problem)
    if problem:
        raise UsageError(f"run {path.name}: {paths.status}: {problem}")
    spec = read_json(paths.spec, {}) or {}
    source = read_json(paths.source_info) or {}
    files = sorted(str(p.relative_to(path)) for p in run_files(path) if p.relative_to(path).parts[0] != "source")
    ds = status.get("dataset") or {}
    return {**row, "config_yaml": yaml.safe_dump(spec.get("config", {}), sort_keys=False),
            "overrides": spec.get("overrides", []), "environment": read_json(paths.environment) or {},
            "source": {**source, "files_list": sorted(str(p.relative_to(paths.source / "files"))
                                                      for p in run_files(paths.source / "files"))[:500]}
            if source else {},
            "lineage": {"dataset": {k: ds.get(k) for k in ("name", "version", "digest")} if ds else None,
                        "models": models_of_run(registry, row["id"], warn)},
            "files": files[:2000], "sizes": {f: _size(path / f) for f in files[:2000]}, "ranks": sorted(_ranks(paths)), "exit_reason": status.get("exit_reason"),
            "final_metrics": status.get("final_metrics") or {}}


def _size(p: Path) -> int | None:
    try:
        return p.stat().st_size
    except OSError:
        return None


def _ranks(paths: RunPaths) -> list[int]:
    ranks = [0] if paths.stdout_log.exists() else []
    return ranks + [int(p.stem.split("-")[1]) for p in paths.logs.glob("rank-*.log") if p.stem.split("-")[1].isdigit()]


def history(ws: WorkspacePaths, run_id: str, since: int = 0, elapsed: float = 0.0,
            points: int = history_file.POINTS) -> dict:
    """The run's metrics per epoch (or logged step) and the seconds of each, thinned for the charts,
    from byte `since` of its metrics.jsonl (history.py)."""
    return history_file.read(RunPaths(run_dir(ws, run_id)).metrics, since, elapsed, points)


def system(ws: WorkspacePaths, run_id: str) -> dict:
    """The run's system metrics (worker/system.py) over elapsed seconds, thinned as a history is."""
    return history_file.read(RunPaths(run_dir(ws, run_id)).system)


def compare(ws: WorkspacePaths, ids: list[str]) -> dict:
    from ..api.sweeps import compare as compare_runs

    if len(ids) < 2:
        raise UsageError(f"compare: expected at least 2 run ids, got {len(ids)}")
    d = compare_runs(ws, ids)
    d["histories"] = {r["id"]: history(ws, r["id"]) for r in d["runs"]}
    labels = [" ".join(r["differing_overrides"]) or r["id"] for r in d["runs"]]
    for r, label in zip(d["runs"], labels):   # a chart's legend names a run by what it was given
        r["label"] = label if labels.count(label) == 1 else f"{label} ({r['id']})"
    return d


def sweeps(ws: WorkspacePaths) -> list[dict]:
    from ..api.sweeps import list_sweeps

    return list_sweeps(ws)[::-1]


def sweep(ws: WorkspacePaths, sweep_id: str, metric: str | None = None, mode: str | None = None,
          warn: Warnings | None = None) -> dict:
    """A sweep's trials (pruned marked), its swept parameters per trial, the best trial."""
    from ..api.sweeps import find_sweep, summarize

    path = find_sweep(ws, sweep_id)
    s = summarize(ws, path, metric, mode)
    for where, problem in s.get("skipped", []):
        (warn if warn is not None else Warnings()).skip(_relative(ws, where), [problem])
    for r in s["rows"]:
        r["params"] = dict(o.split("=", 1) for o in r["swept"].split() if "=" in o)
    done = [r for r in s["rows"] if r["status"] == "completed" and r.get(s["metric"]) is not None]
    s["best"] = done[0]["run_id"] if done else None
    s["params"] = list(dict.fromkeys(k for r in s["rows"] for k in r["params"]))
    return s


def _relative(ws: WorkspacePaths, path) -> str:
    path = Path(path)
    return str(path.relative_to(ws.root)) if path.is_relative_to(ws.root) else str(path)


def models(registry, warn: Warnings | None = None) -> list[dict]:
    """Every registered model's versions; a name or version that is not a registry's own is skipped."""
    from ..registry.store import ModelRef

    warn = warn if warn is not None else Warnings()
    out = []
    for name in registry.names():
        try:
            numbers = registry.versions(name)
        except (TrainkitError, OSError, ValueError) as e:
            warn.skip(f"models/{name}", [str(e)])
            continue
        rows = []
        for number in numbers:
            try:
                entry, problems = checked(registry.entry(ModelRef(name, number)), ENTRY)
            except (TrainkitError, OSError, ValueError) as e:
                entry, problems = {}, [str(e)]
            if not problems and (entry.get("name"), entry.get("version")) != (name, number):
                problems = [f"name, version: expected {name!r}, {number} (where it is stored), got "
                            f"{entry.get('name')!r}, {entry.get('version')!r}"]
            if problems:
                warn.skip(f"models/{name}/versions/{number}/entry.json", problems)
            else:
                rows.append(model_row(entry))
        if rows:
            out.append({"name": name, "versions": rows})
    return out


def model_row(e: dict) -> dict:
    onnx = e.get("onnx") or {}
    return {"name": e["name"], "version": e["version"], "aliases": e.get("aliases") or [], "tags": e.get("tags") or {},
            "created": e.get("created"), "run_id": e.get("run_id"), "experiment": e.get("experiment"),
            "dataset": e.get("dataset"), "metrics": e.get("metrics") or {},
            "onnx": {k: onnx.get(k) for k in ("status", "opset", "max_abs_diff", "argmax_agreement", "samples",
                                              "parity_data", "reason")},
            "serve": f"trainkit models serve {e['name']}:{e['version']}"}


def models_of_run(registry, run_id: str, warn: Warnings | None = None) -> list[dict]:
    try:
        return [m for entry in models(registry, warn) for m in entry["versions"] if m["run_id"] == run_id]
    except OSError:
        return []


def jobs(index: RunIndex, limit: int = 200, warn: Warnings | None = None) -> list[dict]:
    warn = warn if warn is not None else Warnings()
    out = []
    for r in index.rows(warn)[:limit]:
        try:
            d = job_for(Path(r["path"]), write=False).describe()
        except (TrainkitError, TypeError, ValueError, KeyError, AttributeError, OSError) as e:
            warn.skip(_relative(index.ws, RunPaths(Path(r["path"])).status), [f"{type(e).__name__}: {e}"])
            continue
        out.append({**d, "experiment": r["experiment"]})
    return out
