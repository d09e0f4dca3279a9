"""`trainkit runs list/show/logs/download/compare`: run records, whatever the compute target."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import NotFoundError, UsageError
from .fmt import num, table, ts
from .main import Output


def summary(run, st: dict | None = None) -> dict:
    """One row of `runs list`: the run's state as its Job handle tells it. `run`: a record
    (records.runs.RunInfo) or the API's Run, with its status record `st`."""
    from ..compute import job_for
    from ..records.runs import run_tags

    st = run.status if st is None else st
    return {"id": run.id, "name": st.get("name") or "", "experiment": run.experiment,
            "status": job_for(run.path, st).state().name,
            "path": str(run.path), "started": st.get("started"), "ended": st.get("ended"),
            "test_accuracy": (st.get("final_metrics") or {}).get("test_accuracy"),
            "config_hash": st.get("config_hash"), "compute": job_for(run.path, st).kind.name,
            "tags": run_tags(run.path, st)}


COLUMNS = "id,name,status,metrics.test_accuracy,started"


def cmd_list(ctx, args) -> Output:
    """Runs newest first (the dashboard's order), or by --order-by; --filter in the Python API's
    filter language; --columns any filter keys (metrics.X, tags.X, config.a.b, status, ...)."""
    from ..api.workspace import Workspace

    try:
        found = Workspace(ctx.ws.root).runs(experiment=args.experiment, filter=args.filter,
                                             order_by=args.order_by or None)
    except ValueError as e:
        raise UsageError(f"runs list: {e}") from None
    if not args.order_by:
        found.reverse()                                   # runs() lists oldest first
    found = found[:args.limit] if args.limit is not None else found
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    rows = [{**summary(run, run.record), **{c: run.get(c) for c in columns if c not in ("id", "name", "experiment", "status")}}
            for run in found]
    cell = lambda c, v: ts(v) if c in ("started", "ended") else num(v) if isinstance(v, float) else (  # noqa: E731
        "" if v is None else str(v))
    return Output(rows, lambda: table(columns, [[cell(c, r.get(c)) for c in columns] for r in rows],
                                      title=f"runs in {ctx.ws.root}"))


def run_details(ws, run_id: str) -> dict:
    """Everything `runs show --json` prints (and the Python API's Run reads)."""
    from ..fsutil import read_json
    from ..records.runs import get_run, read_history, run_files
    from ..records.workspace import RunPaths

    run = get_run(ws, run_id)
    paths = RunPaths(run.path)
    metrics = dict(run.status.get("final_metrics") or {})
    history = read_history(run.path)
    if not metrics and history:
        metrics = {k: v for k, v in history[-1].items() if k != "epoch_time_s"}
    from ..compute import job_for

    state = job_for(run.path, run.status).state()
    return {**summary(run), "status": state.name, "status_detail": run.status, "metrics": metrics, "history": history,
            "dataset": run.status.get("dataset"), "exit_reason": state.reason if state.done else None,
            "overrides": read_json(paths.spec, {}).get("overrides", []),
            "code_changes": run.status.get("code_changes") or [],   # entry=script: resumed by id with changed code
            "params": read_json(paths.params, {}) or {},               # what the script logged (mlflow.log_param)
            "files": sorted(str(p.relative_to(run.path)) for p in run_files(run.path)
                            if "source" not in p.relative_to(run.path).parts)[:200]}


def cmd_show(ctx, args) -> Output:
    d = run_details(ctx.ws, args.run_id)

    def show() -> None:
        print(f"run {d['id']}  experiment {d['experiment']}  status {d['status']}")
        print(f"path      {d['path']}")
        print(f"started   {ts(d['started'])}   ended {ts(d['ended'])}")
        if d["dataset"]:
            print(f"dataset   {d['dataset']['name']} v{d['dataset']['version']} ({d['dataset']['digest'][:12]})")
        print(f"overrides {' '.join(d['overrides']) or '(none)'}")
        if d["exit_reason"]:
            print(f"reason    {d['exit_reason']}")
        if d["params"]:
            print("params    " + " ".join(f"{k}={v}" for k, v in sorted(d["params"].items())))
        for change in d["code_changes"]:
            print(f"code      changed when resumed {ts(change['at'])}: {', '.join(change['files'])}")
        if d["history"]:
            key = "epoch" if "epoch" in d["history"][0] else "step"
            keys = list(dict.fromkeys(k for h in d["history"] for k, v in h.items()
                                      if k not in ("epoch", "step", "epoch_time_s") and isinstance(v, (int, float))))
            table([key, *keys, "time_s"], [[h[key], *(num(h.get(k)) for k in keys), f"{h.get('epoch_time_s', 0):.2f}"]
                                           for h in d["history"]])
        for k, v in d["metrics"].items():
            if k.startswith("test_") and k != "test_count":
                print(f"{k:<24} {num(v)}")

    return Output(d, show)


def cmd_logs(ctx, args) -> int:
    from ..records.runs import get_run
    from ..records.workspace import RunPaths

    paths = RunPaths(get_run(ctx.ws, args.run_id).path)
    if args.stream in ("stdout", "stderr"):
        path = paths.stdout_log if args.stream == "stdout" else paths.stderr_log
    elif args.stream == "console":
        path = paths.console
    else:
        path = paths.stdout_log if args.stream == "0" else paths.rank_log(int(args.stream))
    if not path.exists():
        avail = sorted(p.name for p in paths.logs.glob("*.log"))
        raise NotFoundError(f"{path}: no such log; available: {', '.join(avail) or 'none'}")
    sys.stdout.write(path.read_text(errors="replace"))
    return 0


def cmd_download(ctx, args) -> int:
    from ..records.runs import get_run

    from ..records.runs import download

    run = get_run(ctx.ws, args.run_id)
    written = download(run.path, run.id, args.prefix, Path(args.to), args.strip_prefix, args.overwrite)
    print(f"downloaded {len(written)} file(s) of run {run.id} to {args.to}")
    return 0


def cmd_compare(ctx, args) -> Output:
    from ..api.sweeps import compare
    from ..plots import plot_comparison
    from ..records.runs import read_history

    if len(args.run_ids) < 2:
        raise UsageError(f"runs compare: expected at least 2 run ids, got {len(args.run_ids)}")
    d = compare(ctx.ws, args.run_ids)
    plot = Path(args.plot or f"compare-{'-'.join(r['id'][-6:] for r in d['runs'])}.png")
    plot_comparison({r["id"]: read_history(Path(r["path"])) for r in d["runs"]}, plot,
                    title="runs " + ", ".join(r["id"] for r in d["runs"]))
    d["plot"] = str(plot)

    def show() -> None:
        ids = [r["id"] for r in d["runs"]]
        rows = [["differing overrides"] + [" ".join(r["differing_overrides"]) or "(none)" for r in d["runs"]],
                ["status"] + [r["status"] for r in d["runs"]]]
        rows += [[m] + [num(r["metrics"][m]) for r in d["runs"]] for m in d["runs"][0]["metrics"]]
        rows += [[k] + [str(v) for v in vals] for k, vals in d["differing_config"].items()]
        table(["", *ids], rows, title="runs compared (config rows: only keys that differ)")
        print(f"curves: {plot}")

    return Output(d, show)


def cmd_export(ctx, args) -> Output:
    from ..api.workspace import Workspace

    ws = Workspace(ctx.ws.root)
    runs = [ws.get_run(run_id) for run_id in args.run_ids]   # every id checked before anything is sent
    done = [run.export_mlflow(args.tracking_uri) for run in runs]

    def show() -> None:
        for d in done:
            model = d["model_version"]
            print(f"run {d['run_id']} -> MLflow run {d['mlflow_run_id']} ({'created' if d['created'] else 'updated'}: "
                  f"{d['metrics']} metric points, {d['params']} params"
                  + (f", model {model['name']} version {model['version']}" if model else "") + f") {d['url']}")

    return Output(done, show)


def _stream(text: str) -> str:
    import argparse

    if text in ("stdout", "stderr", "console") or text.isdigit():
        return text
    raise argparse.ArgumentTypeError(f"expected stdout, stderr, console or a rank number, got {text!r}")


def add_parser(sub) -> None:
    runs = sub.add_parser("runs", help="list, show and read logs of runs").add_subparsers(dest="cmd", required=True)
    r = runs.add_parser("list", help="runs, newest first")
    r.add_argument("--experiment")
    r.add_argument("--filter", help="the Python API's filter language: 'metrics.test_accuracy > 0.85 and tags.team = \"x\"'")
    r.add_argument("--order-by", action="append", default=[], metavar="KEY [asc|desc]",
                   help="sort by a filter key (repeatable): 'metrics.val_accuracy desc'; default: newest first")
    r.add_argument("--limit", type=int, help="at most N runs (after ordering)")
    r.add_argument("--columns", default=COLUMNS, help=f"comma-separated filter keys to show (default {COLUMNS})")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_list)
    r = runs.add_parser("show", help="one run's status, metrics and dataset")
    r.add_argument("run_id", help="run id (a unique prefix is enough)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_show)
    r = runs.add_parser("logs", help="print a run's captured output")
    r.add_argument("run_id")
    r.add_argument("--stream", default="stdout", type=_stream, help="stdout | stderr | console | <rank> (default stdout)")
    r.set_defaults(func=cmd_logs)
    r = runs.add_parser("download", help="copy a run's files (like run.download_files)")
    r.add_argument("run_id")
    r.add_argument("--prefix", default="outputs", help="only files under this path in the run (default outputs)")
    r.add_argument("--to", default=".", help="target directory (default .)")
    r.add_argument("--strip-prefix", action="store_true",
                   help="drop the prefix from target paths (Azure's append_prefix=False)")
    r.add_argument("--overwrite", action="store_true")
    r.set_defaults(func=cmd_download)
    r = runs.add_parser("export", help="send runs to an MLflow tracking server (again: updates the same MLflow run)")
    r.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    r.add_argument("--to", required=True, choices=["mlflow"], help="where to (mlflow)")
    r.add_argument("--tracking-uri", required=True, help="the MLflow tracking server, e.g. http://127.0.0.1:5000")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_export)
    r = runs.add_parser("compare", help="config differences, final metrics and a curves plot of runs")
    r.add_argument("run_ids", nargs="+")
    r.add_argument("--plot", help="where to write the curves PNG (default ./compare-<ids>.png)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_compare)
