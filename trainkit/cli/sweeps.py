"""`trainkit sweeps list/show/wait/best`: summaries of -m sweeps and Optuna searches."""
from __future__ import annotations

import time

from ..numfmt import number
from .fmt import counts_text, print_sweep_summary, table
from .main import Output


def cmd_list(ctx, args) -> Output:
    from ..api.sweeps import list_sweeps

    rows = list_sweeps(ctx.ws)
    return Output(rows, lambda: table(
        ["sweep", "jobs", "counts", "finished", "optuna study"],
        [[r["sweep"], r["jobs"], counts_text(r["counts"]), r["finished"], r["study"]] for r in rows],
        title=f"sweeps in {ctx.ws.root / 'sweeps'}"))


def cmd_show(ctx, args) -> Output:
    from ..api.sweeps import find_sweep, write_summary

    summary = write_summary(ctx.ws, find_sweep(ctx.ws, args.sweep_id), args.metric, args.mode)   # refreshed from the runs
    return Output(summary, lambda: print_sweep_summary(summary))


def cmd_wait(ctx, args) -> int:
    """Block until every job of a sweep ended (Slurm array tasks included), then print its summary."""
    from ..api.sweeps import find_sweep, job_rows, write_summary
    from ..compute import job_for
    from ..records.runs import list_runs

    sweep_dir = find_sweep(ctx.ws, args.sweep_id)
    seen = -1
    while True:
        runs = {r.id: r for r in list_runs(ctx.ws)}
        rows = job_rows(sweep_dir, runs)
        done = sum(job_for(runs[r["run_id"]].path).state().done if r["run_id"] in runs else True for r in rows)
        if done != seen:
            print(f"sweep {sweep_dir.name}: {done}/{len(rows)} jobs ended", flush=True)
            seen = done
        if done == len(rows):
            break
        time.sleep(args.poll)
    summary = write_summary(ctx.ws, sweep_dir, args.metric, args.mode)
    print_sweep_summary(summary)
    failed = sum(n for s, n in summary["counts"].items() if s not in ("completed", "pruned"))
    return 1 if failed else 0


def cmd_best(ctx, args) -> Output:
    """The sweep's best completed run by a metric; with --register, its model registered."""
    from ..api.sweeps import best_row, find_sweep, write_summary

    summary = write_summary(ctx.ws, find_sweep(ctx.ws, args.sweep_id), args.metric, args.mode)
    best = best_row(summary)
    metric, mode = summary["metric"], summary["mode"]
    out = {"sweep": summary["sweep"], "metric": metric, "mode": mode, "best": best}
    if args.register:
        from .models import register_from_run

        entry = register_from_run(ctx, best["run_id"], args.register, args.path, tags={}, aliases=args.alias)
        out["registered"] = f"{entry['name']}:{entry['version']}"

    def show() -> None:
        print(f"best run of sweep {summary['sweep']} by {metric} ({mode}): {best['run_id']} "
              f"{metric}={number(best.get(metric))}  ({best['swept'] or best['overrides']})")
        if "registered" in out:
            print(f"registered {out['registered']}")

    return Output(out, show)


def add_parser(sub) -> None:
    sw = sub.add_parser("sweeps", help="summaries of -m sweeps and Optuna searches").add_subparsers(dest="cmd", required=True)
    w = sw.add_parser("list")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_list)
    for name, func, help in (("show", cmd_show, "the summary table of one sweep (refreshed from its runs)"),
                             ("wait", cmd_wait, "block until every job of a sweep ended; exits 1 if any failed"),
                             ("best", cmd_best, "the best completed run of a sweep (--register NAME: register its model)")):
        w = sw.add_parser(name, help=help)
        w.add_argument("sweep_id", help="sweep id (a unique prefix is enough)")
        w.add_argument("--metric", help="rank by this metric (default: the sweep's objective, see `sweeps show`)")
        w.add_argument("--mode", choices=["max", "min"], help="default: the objective's, else min for a loss")
        if name == "wait":
            w.add_argument("--poll", type=float, default=5.0, help="seconds between checks")
        else:
            w.add_argument("--json", action="store_true")
        if name == "best":
            w.add_argument("--register", metavar="NAME", help="register the best run's model under NAME")
            w.add_argument("--path", default=None, help="the model file in the run (default: outputs/model/model.keras, "
                           "else the script's entry.model_path)")
            w.add_argument("--alias", action="append", default=[])
        w.set_defaults(func=func)
