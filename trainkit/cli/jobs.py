"""`trainkit jobs list/status/logs/cancel`: every run's job, on whatever compute target, through its
backend's Job handle. A job's id is its run id (a unique prefix is enough)."""
from __future__ import annotations

import sys
import time

from .fmt import num, table, ts
from .main import Output


def _job(ctx, job_id: str):
    from ..compute import job_for
    from ..records.runs import get_run

    run = get_run(ctx.ws, job_id)
    return job_for(run.path, run.status)


def cmd_list(ctx, args) -> Output:
    from ..compute import job_for
    from ..records.runs import list_runs

    runs = list_runs(ctx.ws)
    runs = runs if args.all else runs[-args.limit:]
    rows = [job_for(r.path, r.status).describe() for r in runs]
    return Output(rows, lambda: table(
        ["job", "backend", "backend id", "state", "epoch", "submitted", "test_acc"],
        [[r["id"], r["backend"], r["backend_id"] or ",".join(r["hosts"] or []), r["state"], r["epoch"],
          ts(r["submitted"]), num(r["test_accuracy"])] for r in rows], title=f"jobs in {ctx.ws.root}"))


def cmd_status(ctx, args) -> Output:
    d = _job(ctx, args.job_id).describe()

    def show() -> None:
        for key, value in d.items():
            if value not in (None, [], "", {}):
                print(f"{key:>16}: {ts(value) if key in ('submitted', 'started', 'ended') else value}")

    return Output(d, show)


def cmd_logs(ctx, args) -> int:
    job = _job(ctx, args.job_id)
    if not args.follow:
        path = job.log_path(args.rank)
        if not path.exists():
            print(f"(no output yet: job {job.id} is {job.state().name})", file=sys.stderr)
            return 0
        sys.stdout.write(path.read_text(errors="replace"))
        return 0
    try:
        for text in job.logs(rank=args.rank, follow=True):
            sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    state = job.state()
    print(f"job {job.id} {state}")
    return state.exit_code


def cmd_cancel(ctx, args) -> int:
    job = _job(ctx, args.job_id)
    state = job.state()
    if state.done:
        print(f"job {job.id} already {state.name}; nothing to cancel")
        return 0
    t0 = time.time()
    state = job.cancel()
    print(f"job {job.id} {state.name} in {time.time() - t0:.1f} s: {state.reason}")
    return 0


def add_parser(sub) -> None:
    jp = sub.add_parser("jobs", help="every run's job on any compute target: status, logs, cancel")
    js = jp.add_subparsers(dest="cmd", required=True)
    j = js.add_parser("list", help="jobs, oldest first")
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
    j.add_argument("--rank", type=int, default=None, help="only this rank's own output")
    j.set_defaults(func=cmd_logs)
    j = js.add_parser("cancel", help="stop a queued or running job and all its processes")
    j.add_argument("job_id")
    j.set_defaults(func=cmd_cancel)
