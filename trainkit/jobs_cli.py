"""`trainkit jobs list/status/logs/cancel`: detached cluster jobs (compute=slurm|ssh).

A job's id is its run id (a unique prefix is enough). State comes from the run's status.json,
which trainkit's driver and workers write; Slurm's queue is asked only to show why a job waits."""
from __future__ import annotations

import sys
import time

from .fsutil import read_json
from .workspace import RunPaths, Workspace


def _jobs(ws: Workspace):
    from .runs import list_runs

    return [r for r in list_runs(ws) if r.status.get("job")]


def _get(ws: Workspace, job_id: str):
    from .errors import NotFoundError
    from .runs import get_run

    run = get_run(ws, job_id)
    if not run.status.get("job"):
        raise NotFoundError(f"run {run.id} is not a cluster job (compute={run.status.get('compute', 'local')}); "
                            f"see `trainkit runs show {run.id}`")
    return run


def describe(run) -> dict:
    if run.status["job"]["backend"] == "slurm":
        from .launch.slurm import reconcile

        from dataclasses import replace

        run = replace(run, status=reconcile(RunPaths(run.path), run.status))
    st, job = run.status, run.status["job"]
    out = {"id": run.id, "experiment": run.experiment, "backend": job["backend"], "state": run.state,
           "backend_id": job.get("id"), "hosts": job.get("nodes") or job.get("hosts"),
           "submitted": job.get("submitted"), "started": st.get("started"), "ended": st.get("ended"),
           "epoch": st.get("epoch"), "restarts": job.get("restarts", 0), "exit_reason": st.get("exit_reason"),
           "test_accuracy": (st.get("final_metrics") or {}).get("test_accuracy"),
           "registered_model": st.get("registered_model"), "path": str(run.path)}
    if job["backend"] == "slurm" and run.state in ("queued", "running"):
        from .launch.slurm import queue_state

        out["queue"] = queue_state(job["id"])
    return out


def cmd_list(ws: Workspace, args) -> int:
    from .fmt import print_json as _print_json, table as _table, ts as _ts

    rows = [describe(r) for r in _jobs(ws)]
    if not args.all:
        rows = rows[-args.limit:]
    if args.json:
        _print_json(rows)
        return 0
    _table(["job", "backend", "backend id", "state", "epoch", "submitted", "test_acc"],
           [[r["id"], r["backend"], r["backend_id"] or ",".join(r["hosts"] or []), r["state"], r["epoch"],
             _ts(r["submitted"]), "" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"]
            for r in rows], title=f"jobs in {ws.root}")
    return 0


def cmd_status(ws: Workspace, args) -> int:
    from .fmt import print_json as _print_json, ts as _ts

    d = describe(_get(ws, args.job_id))
    if args.json:
        _print_json(d)
        return 0
    for key, value in d.items():
        if value not in (None, [], ""):
            print(f"{key:>16}: {_ts(value) if key in ('submitted', 'started', 'ended') else value}")
    return 0


def cmd_logs(ws: Workspace, args) -> int:
    from .launch import jobs

    run = _get(ws, args.job_id)
    paths = RunPaths(run.path)
    if not args.follow:
        log = jobs.console_log(paths)
        if not log.exists():
            print(f"(no output yet: job {run.id} is {run.state})", file=sys.stderr)
            return 0
        sys.stdout.write(log.read_text(errors="replace"))
        return 0
    try:
        status = jobs.follow(paths, stop=lambda: _gone(run, paths))
    except KeyboardInterrupt:
        return 130
    print(f"job {run.id} {status.get('state')}: {status.get('exit_reason') or ''}".rstrip(": "))
    return jobs.exit_code(status)


def _gone(run, paths: RunPaths) -> bool:
    """Stop following a job that ended without writing a final state (its owner died)."""
    from .launch.jobs import is_done
    from .runs import effective_state

    status = read_json(paths.status, {}) or {}
    if run.status["job"]["backend"] == "slurm":
        from .launch.slurm import reconcile

        return is_done(reconcile(paths, status))
    return effective_state(status) == "interrupted"


def cmd_cancel(ws: Workspace, args) -> int:
    from importlib import import_module

    run = _get(ws, args.job_id)
    if run.state in ("completed", "failed", "cancelled", "pruned"):
        print(f"job {run.id} already {run.state}; nothing to cancel")
        return 0
    backend = run.status["job"]["backend"]
    t0 = time.time()
    import_module(f"trainkit.launch.{backend}").cancel(RunPaths(run.path), run.status)
    st = read_json(RunPaths(run.path).status, {}) or {}
    print(f"job {run.id} {st.get('state')} in {time.time() - t0:.1f} s: {st.get('exit_reason')}")
    return 0


def add_parser(sub) -> None:
    jp = sub.add_parser("jobs", help="detached cluster jobs (compute=slurm|ssh): status, logs, cancel")
    js = jp.add_subparsers(dest="cmd", required=True)
    j = js.add_parser("list", help="cluster jobs, oldest first")
    j.add_argument("--json", action="store_true")
    j.add_argument("--all", action="store_true", help="every job (default: the last --limit)")
    j.add_argument("--limit", type=int, default=20)
    j.set_defaults(func=cmd_list)
    j = js.add_parser("status", help="one job's state, where it runs and why it stopped")
    j.add_argument("job_id", help="job id = run id (a unique prefix is enough)")
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=cmd_status)
    j = js.add_parser("logs", help="the job's console: every rank, prefixed")
    j.add_argument("job_id")
    j.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends; exit with its status")
    j.set_defaults(func=cmd_logs)
    j = js.add_parser("cancel", help="stop a queued or running job and all its processes")
    j.add_argument("job_id")
    j.set_defaults(func=cmd_cancel)
