"""Sweep summaries and run comparison, from the run records and each run's Job state. No Hydra,
no TensorFlow.

A sweep directory (`<workspace>/sweeps/<id>/`) holds `objective.json` (the metric and direction
that rank its trials, written as it starts), `jobs/<n>/job.json` (each job's overrides and result,
written as the job ends) and, once the sweep ends, `summary.json`, `summary.csv` and `curves.png`.
The Optuna search also keeps `study.db` there.

A sweep has one objective, used by its summary, the dashboard, `trainkit sweeps` and `best_run()`
alike: an Optuna search's `hydra.sweeper.metric` and `direction`, else
`hydra.callbacks.sweep_summary.metric` and `mode`; by default `val_accuracy`, max. Never a test
metric by default: the test split is for the final word on the chosen model, not for choosing it.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..compute import job_for
from ..errors import NotFoundError
from ..fsutil import atomic_write_json, atomic_write_text, read_json
from ..records.runs import RunInfo, get_run, list_runs, read_history
from ..records.workspace import RunPaths, WorkspacePaths

BOOKKEEPING = ("epochs_completed", "train_time_s", "resumed_at_epoch", "test_count", "peak_rss_mb", "steps_per_call",
               "job", "time_s")


DEFAULT_OBJECTIVE = ("val_accuracy", "max")


def objective(sweep_dir: Path) -> tuple[str, str]:
    """(metric, "max" | "min") that ranks this sweep's trials: what it was started with
    (objective.json), else what its summary was written with, else an Optuna trial's metric found in
    a job's overrides (sweeps from before objective.json), else DEFAULT_OBJECTIVE."""
    for name in ("objective.json", "summary.json"):
        saved = read_json(Path(sweep_dir) / name)
        if isinstance(saved, dict) and isinstance(saved.get("metric"), str):
            return saved["metric"], "min" if saved.get("mode") == "min" else "max"
    for job in sorted(Path(sweep_dir).glob("jobs/*/job.json")):
        record = read_json(job)
        overrides = record.get("overrides") if isinstance(record, dict) else None
        for o in overrides if isinstance(overrides, list) else []:
            if isinstance(o, str) and o.startswith("run.trial=") and "metric:" in o:
                return o.split("metric:", 1)[1].split(",", 1)[0].strip("}'\" "), "max"
    return DEFAULT_OBJECTIVE


def direction(metric: str) -> str:
    """The better way for a metric named without a mode: "min" for losses and errors, else "max"."""
    name = metric.lower()
    return "min" if any(w in name for w in ("loss", "error", "mse", "mae", "rmse")) else "max"


def state_of(run: RunInfo) -> str:
    """queued | running | completed | failed | cancelled | pruned, as the run's Job handle says."""
    return job_for(run.path, run.status).state().name


def metric_names(finals: list[dict]) -> list[str]:
    """Every numeric metric the runs recorded (test_* first), in first-seen order."""
    names = list(dict.fromkeys(k for f in finals for k, v in f.items()
                               if k not in BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool)))
    return sorted(names, key=lambda k: (not k.startswith("test_"), names.index(k)))


def job_problem(job) -> str | None:
    """What makes a job.json unusable ('KEY: expected X, got Y'), or None."""
    if not isinstance(job, dict):
        return f"expected a JSON object, got {type(job).__name__}"
    for key, ok, expected in (("job", lambda v: type(v) is int, "an integer"),
                              ("state", lambda v: isinstance(v, str), "a state"),
                              ("run_id", lambda v: isinstance(v, str), "a run id"),
                              ("overrides", lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v),
                               "a list of overrides")):
        if job.get(key) is not None and not ok(job[key]):
            return f"{key}: expected {expected}, got {job[key]!r}"
    return None


def job_rows(sweep_dir: Path, runs: dict[str, RunInfo], skipped: list | None = None) -> list[dict]:
    """One row per job: overrides, status, metrics, time, run id (jobs that never made a run too).
    `runs` maps run ids to the workspace's runs, listed once by the caller. A job.json that is not
    one is left out, and (file, problem) added to `skipped`."""
    rows = []
    for job_file in sorted((sweep_dir / "jobs").glob("*/job.json"), key=lambda p: (len(p.parent.name), p.parent.name)):
        job = read_json(job_file, {})
        problem = job_problem(job)
        if problem:
            (skipped if skipped is not None else []).append((str(job_file), problem))
            continue
        row = {"job": job.get("job"), "overrides": " ".join(job.get("overrides", [])),
               "status": job.get("state", "failed"), "run_id": job.get("run_id"),
               "error": job.get("error"), "time_s": None}
        run = runs.get(job.get("run_id"))
        if run is not None:
            final = run.status.get("final_metrics") or {}
            values = final or {k: v for k, v in ((read_history(run.path) or [{}])[-1]).items() if k != "epoch_time_s"}
            state = state_of(run)
            row.update(status=state, **{k: v for k, v in values.items() if k not in ("epoch",)})
            if run.status.get("started") and run.status.get("ended"):
                row["time_s"] = round(run.status["ended"] - run.status["started"], 1)
            row["error"] = row["error"] or (run.status.get("exit_reason") if state != "completed" else None)
        rows.append(row)
    return rows


def sort_rows(rows: list[dict], metric: str, mode: str = "max") -> list[dict]:
    """Completed runs by the metric (best first), then the rest in job order."""
    def key(r):
        v = r.get(metric)
        return (v is None, -(v or 0) if mode == "max" else (v or 0), r["job"] or 0)
    return sorted(rows, key=key)


def summarize(ws: WorkspacePaths, sweep_dir: Path, metric: str | None = None, mode: str | None = None,
              runs: dict | None = None) -> dict:
    """A sweep's summary from its jobs and their runs (nothing written): rows best first by `metric`
    (default: the sweep's objective)."""
    own_metric, own_mode = objective(sweep_dir)
    metric, mode = metric or own_metric, mode or (own_mode if metric in (None, own_metric) else direction(metric))
    runs = {r.id: r for r in list_runs(ws)} if runs is None else runs
    skipped: list[tuple[str, str]] = []
    rows = sort_rows(job_rows(sweep_dir, runs, skipped), metric, mode)
    metrics = metric_names(rows)
    common = set.intersection(*(set(r["overrides"].split()) for r in rows)) if rows else set()
    for r in rows:   # what this job varies, without the overrides every job shares
        r["swept"] = " ".join(o for o in r["overrides"].split() if o not in common and not o.startswith("run.trial="))
    counts = {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})}
    return {"sweep": sweep_dir.name, "path": str(sweep_dir), "metric": metric, "mode": mode,
            "metrics": metrics, "jobs": len(rows), "counts": counts, "rows": rows, "skipped": skipped}


def best_row(summary: dict) -> dict:
    """The best completed job of a summary by its metric; NotFound when none completed with it."""
    metric = summary["metric"]
    done = [r for r in summary["rows"] if r["status"] == "completed" and r.get(metric) is not None]
    if not done:
        raise NotFoundError(f"sweep {summary['sweep']}: no completed run reported {metric!r} "
                            f"(states: {summary['counts']}; metrics seen: {', '.join(summary['metrics']) or 'none'})")
    return done[0]


def register_best(ws: WorkspacePaths, summary: dict) -> str:
    """When the sweep has ended: its best trial's model registered once, under the trials' own
    registry settings (registry.model_name, else the experiment; their tags and aliases, plus
    `sweep`), with ONNX checked as a run's own registration is. Trials never register (the worker
    skips it for a run of a sweep). Returns what happened, one line for the sweep's output."""
    from ..registry.publish import register_from_run
    from ..registry.store import Registry, raise_if_failed

    if any(r["status"] in ("queued", "running") for r in summary["rows"]):
        return (f"trials still running: when they end, `trainkit sweeps best {summary['sweep']} --register NAME` "
                "registers the best")
    try:
        best = best_row(summary)
    except NotFoundError as e:
        return f"no model registered: {e}"
    run = get_run(ws, best["run_id"])
    spec = read_json(RunPaths(run.path).spec, {}) or {}
    reg = (spec.get("config") or {}).get("registry") or {}
    if not reg.get("enabled", True):
        return "no model registered (registry.enabled=false)"
    name = reg.get("model_name") or spec.get("experiment")
    registry = Registry(reg["root"])
    if name in registry.names():   # a resumed search whose best trial did not change: not again
        from ..registry.store import ModelRef

        for version in registry.versions(name):
            entry = registry.entry(ModelRef(name, version))
            if entry.get("run_id") == best["run_id"] and (entry.get("tags") or {}).get("sweep") == summary["sweep"]:
                return f"the best trial {best['run_id']} is registered already: {name}:{version}"
    import logging
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow loads here: its C++ notes stay out of the summary
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    try:
        entry = register_from_run(registry, run.path, name, None,
                                  tags={"sweep": summary["sweep"]}, aliases=list(reg.get("aliases") or []),
                                  description=f"best trial of sweep {summary['sweep']} by {summary['metric']} "
                                              f"({summary['mode']}): run {best['run_id']}")
    except NotFoundError as e:   # a script that saves no model: nothing to register, as for a single run
        return f"no model registered: {e}"
    onnx = entry["onnx"].get("status")
    raise_if_failed(entry)
    return (f"registered {entry['name']}:{entry['version']} from the best trial {best['run_id']} "
            f"({summary['metric']}={best[summary['metric']]:.4g}); ONNX: {onnx}")


def write_summary(ws: WorkspacePaths, sweep_dir: Path, metric: str | None = None, mode: str | None = None) -> dict:
    """summary.json, summary.csv and curves.png in the sweep directory; returns the summary."""
    from ..plots import plot_comparison

    runs = {r.id: r for r in list_runs(ws)}
    summary = summarize(ws, sweep_dir, metric, mode, runs)
    rows, metrics = summary["rows"], summary["metrics"]
    atomic_write_json(sweep_dir / "summary.json", summary)
    buf = io.StringIO()
    columns = ["job", "swept", "status", *metrics, "time_s", "run_id", "overrides", "error"]
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / "summary.csv", buf.getvalue())
    curves = {r["swept"] or r["run_id"]: read_history(runs[r["run_id"]].path)
              for r in rows if r["run_id"] in runs and r["status"] in ("completed", "pruned", "failed")}
    curves = {k: v for k, v in curves.items() if v}
    if curves:
        plot_comparison(curves, sweep_dir / "curves.png", title=f"sweep {sweep_dir.name}")
    return summary


def list_sweeps(ws: WorkspacePaths) -> list[dict]:
    root = ws.root / "sweeps"
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        s = read_json(d / "summary.json")
        out.append({"sweep": d.name, "path": str(d), "jobs": s["jobs"] if s else len(list(d.glob("jobs/*/job.json"))),
                    "counts": s["counts"] if s else {}, "finished": s is not None,
                    "study": (d / "study.db").exists()})
    return out


def find_sweep(ws: WorkspacePaths, sweep_id: str) -> Path:
    matches = [Path(s["path"]) for s in list_sweeps(ws) if s["sweep"] == sweep_id or s["sweep"].startswith(sweep_id)]
    if len(matches) != 1:
        raise NotFoundError(f"{'no sweep' if not matches else f'{len(matches)} sweeps'} matching {sweep_id!r} "
                            f"in {ws.root / 'sweeps'}; see `trainkit sweeps list`")
    return matches[0]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _config(run_dir: Path) -> dict:
    """A run's resolved config: its config.yaml, else the one in its job spec."""
    import yaml

    paths = RunPaths(run_dir)
    if paths.config.exists():
        return yaml.safe_load(paths.config.read_text()) or {}
    return (read_json(paths.spec) or {}).get("config", {})


def compare(ws: WorkspacePaths, run_ids: list[str]) -> dict:
    """Config keys that differ between runs, their overrides and their final metrics."""
    every = list_runs(ws)
    runs = [get_run(ws, r, every) for r in run_ids]
    configs = [_flatten(_config(r.path)) for r in runs]
    ignore = ("run.sweep", "run.sweep_job", "run.trial", "run.name")
    keys = sorted({k for c in configs for k in c if not k.startswith(ignore)})
    differing = {k: [c.get(k) for c in configs] for k in keys
                 if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1}
    finals = [r.status.get("final_metrics") or {} for r in runs]
    rows = [{"id": r.id, "experiment": r.experiment, "status": state_of(r), "path": str(r.path),
             "overrides": r.status.get("overrides") or read_json(RunPaths(r.path).spec, {}).get("overrides", []),
             "metrics": {m: f.get(m) for m in metric_names(finals)}} for r, f in zip(runs, finals)]
    common = set.intersection(*(set(r["overrides"]) for r in rows))
    for r in rows:
        r["differing_overrides"] = [o for o in r["overrides"] if o not in common]
    return {"runs": rows, "differing_config": differing}


class Sweep:
    """A -m sweep or Optuna search (HyperDrive's run): its trials, their states, the best one."""

    def __init__(self, workspace, path: Path, process=None, log: Path | None = None):
        """`process`: the sweep's own process when trainkit.sweep started it (wait() waits for it);
        `log`: the file its output goes to (wait(show_output=True) streams it)."""
        self.workspace, self.path, self.process, self.log = workspace, Path(path), process, log

    @property
    def id(self) -> str:
        return self.path.name

    def summary(self, metric: str | None = None, mode: str | None = None) -> dict:
        """Trials best first by `metric` (default: the sweep's objective, see objective())."""
        return summarize(self.workspace.paths, self.path, metric, mode)

    @property
    def objective(self) -> tuple[str, str]:
        """(metric, "max" | "min"): what ranks the trials, here, in the dashboard and the CLI."""
        return objective(self.path)

    def runs(self) -> list:
        """The trials' runs, in job order (jobs that never made a run are left out)."""
        rows = sorted(self.summary()["rows"], key=lambda r: r["job"] if r["job"] is not None else -1)
        return [run for run in (self.workspace.find_run(r["run_id"]) for r in rows) if run is not None]

    def best_run(self, metric: str | None = None, mode: str | None = None):
        """The completed trial with the best final `metric`, default the sweep's objective
        (HyperDrive's get_best_run_by_primary_metric)."""
        return self.workspace.get_run(best_row(self.summary(metric, mode))["run_id"])

    def done(self) -> bool:
        """Every trial ended, and the sweep's process (when this handle started it) exited."""
        if self.process is not None and self.process.poll() is None:
            return False
        return all(run.job.state().done for run in self.runs()) and bool(self.runs() or self.process)

    def wait(self, show_output: bool = False, timeout: float | None = None, poll_s: float = 1.0) -> "Sweep":
        """Block until every trial ended; TimeoutError after `timeout` seconds (the sweep keeps going)."""
        import sys
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        log = self.log
        offset = 0
        while not self.done():
            if show_output and log and Path(log).exists():
                with open(log, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"sweep {self.id} still running after {timeout:g} s; it keeps going")
            time.sleep(poll_s)
        if show_output and log and Path(log).exists():
            with open(log, "rb") as f:
                f.seek(offset)
                sys.stdout.write(f.read().decode(errors="replace"))
        return self

    def __repr__(self) -> str:
        return f"Sweep({self.id!r})"

    def _repr_html_(self) -> str:
        from .notebook import sweep_html

        return sweep_html(self)
