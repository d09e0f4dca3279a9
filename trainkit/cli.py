"""The `trainkit` console script: management subcommands (runs, datasets, models). No Hydra and,
except in `models register/export`, no TensorFlow: commands answer in well under a second. Every
list/show accepts --json."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import TrainkitError
from .fmt import num, print_json as _print_json, table as _table, ts as _ts
from .fsutil import read_json
from .workspace import RunPaths, Workspace, default_root


# ------------------------------------------------------------------ runs
def cmd_runs_list(ws: Workspace, args) -> int:
    from .runs import list_runs

    runs = [r.summary() for r in list_runs(ws, args.experiment)]
    if args.json:
        _print_json(runs)
    else:
        _table(["id", "experiment", "status", "test_accuracy", "started"],
               [[r["id"], r["experiment"], r["status"],
                 f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "",
                 _ts(r["started"])] for r in runs], title=f"runs in {ws.root}")
    return 0


def run_details(ws: Workspace, run_id: str) -> dict:
    from .runs import get_run, read_history

    run = get_run(ws, run_id)
    paths = RunPaths(run.path)
    metrics = dict(run.status.get("final_metrics") or {})
    history = read_history(run.path)
    if not metrics and history:
        metrics = {k: v for k, v in history[-1].items() if k != "epoch_time_s"}
    return {**run.summary(), "status_detail": run.status, "metrics": metrics, "history": history,
            "dataset": run.status.get("dataset"), "exit_reason": run.status.get("exit_reason"),
            "overrides": read_json(paths.spec, {}).get("overrides", []),
            "tags": run.status.get("tags", {}),
            "files": sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*")
                            if p.is_file() and "source" not in p.parts)[:200]}


def cmd_runs_show(ws: Workspace, args) -> int:
    d = run_details(ws, args.run_id)
    if args.json:
        _print_json(d)
        return 0
    print(f"run {d['id']}  experiment {d['experiment']}  status {d['status']}")
    print(f"path      {d['path']}")
    print(f"started   {_ts(d['started'])}   ended {_ts(d['ended'])}")
    if d["dataset"]:
        print(f"dataset   {d['dataset']['name']} v{d['dataset']['version']} ({d['dataset']['digest'][:12]})")
    print(f"overrides {' '.join(d['overrides']) or '(none)'}")
    if d["exit_reason"]:
        print(f"reason    {d['exit_reason']}")
    if d["history"]:
        key = "epoch" if "epoch" in d["history"][0] else "step"
        keys = list(dict.fromkeys(k for h in d["history"] for k, v in h.items()
                                  if k not in ("epoch", "step", "epoch_time_s") and isinstance(v, (int, float))))
        _table([key, *keys, "time_s"],
               [[h[key], *(num(h.get(k)) for k in keys), f"{h.get('epoch_time_s', 0):.2f}"]
                for h in d["history"]])
    for k, v in d["metrics"].items():
        if k.startswith("test_") and k != "test_count":
            print(f"{k:<24} {num(v)}")
    return 0


def cmd_runs_logs(ws: Workspace, args) -> int:
    from .runs import get_run

    run = get_run(ws, args.run_id)
    paths = RunPaths(run.path)
    logs = paths.logs
    if args.stream in ("stdout", "stderr"):
        path = logs / f"{args.stream}.log"
    elif args.stream.isdigit():
        path = paths.rank_log(int(args.stream))
    else:
        raise TrainkitError(f"--stream: expected stdout, stderr or a rank number, got {args.stream!r}")
    if not path.exists():
        avail = sorted(p.name for p in logs.glob("*.log"))
        raise TrainkitError(f"{path}: no such log; available: {', '.join(avail) or 'none'}")
    sys.stdout.write(path.read_text())
    return 0


def cmd_runs_download(ws: Workspace, args) -> int:
    """Copy a run's files under --prefix, like the seeds' run.download_files(prefix, output_directory)."""
    import shutil

    from .runs import get_run

    run = get_run(ws, args.run_id)
    prefix = args.prefix.strip("/")
    files = sorted(p for p in _regular_files(run.path)   # symbolic links are never followed
                   if not prefix or (rel := p.relative_to(run.path).as_posix()) == prefix or rel.startswith(prefix + "/"))
    if not files:
        tops = sorted(p.name for p in run.path.iterdir())
        raise TrainkitError(f"run {run.id}: no files under prefix {args.prefix!r} (top level: {', '.join(tops)})")
    dest = Path(args.to)
    strip = prefix if args.strip_prefix else ""
    targets = [(f, dest / f.relative_to(run.path / strip)) for f in files]
    clash = [str(t) for _, t in targets if t.exists()]
    if clash and not args.overwrite:
        raise TrainkitError(f"{len(clash)} target file(s) exist, e.g. {clash[0]}; pass --overwrite or another --to")
    for src, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    print(f"downloaded {len(targets)} file(s) of run {run.id} to {dest}")
    return 0


def _regular_files(root: Path) -> list[Path]:
    import os

    return [Path(d) / n for d, _, names in os.walk(root) for n in names
            if not (Path(d) / n).is_symlink() and (Path(d) / n).is_file()]


def cmd_runs_compare(ws: Workspace, args) -> int:
    from .plots import plot_comparison
    from .runs import read_history
    from .sweeps import compare

    if len(args.run_ids) < 2:
        raise TrainkitError(f"runs compare: expected at least 2 run ids, got {len(args.run_ids)}")
    d = compare(ws, args.run_ids)
    plot = Path(args.plot or f"compare-{'-'.join(r['id'][-6:] for r in d['runs'])}.png")
    plot_comparison({r["id"]: read_history(Path(r["path"])) for r in d["runs"]}, plot,
                    title="runs " + ", ".join(r["id"] for r in d["runs"]))
    d["plot"] = str(plot)
    if args.json:
        _print_json(d)
        return 0
    ids = [r["id"] for r in d["runs"]]
    rows = [["differing overrides"] + [" ".join(r["differing_overrides"]) or "(none)" for r in d["runs"]],
            ["status"] + [r["status"] for r in d["runs"]]]
    rows += [[m] + ["" if r["metrics"][m] is None else f"{r['metrics'][m]:.4f}" for r in d["runs"]]
             for m in d["runs"][0]["metrics"]]
    rows += [[k] + [str(v) for v in vals] for k, vals in d["differing_config"].items()]
    _table(["", *ids], rows, title="runs compared (config rows: only keys that differ)")
    print(f"curves: {plot}")
    return 0


# ------------------------------------------------------------------ sweeps
def cmd_sweeps_list(ws: Workspace, args) -> int:
    from .sweeps import list_sweeps

    rows = list_sweeps(ws)
    if args.json:
        _print_json(rows)
    else:
        _table(["sweep", "jobs", "counts", "finished", "optuna study"],
               [[r["sweep"], r["jobs"], r["counts"], r["finished"], r["study"]] for r in rows],
               title=f"sweeps in {ws.root / 'sweeps'}")
    return 0


def cmd_sweeps_show(ws: Workspace, args) -> int:
    from .sweeps import find_sweep, write_summary

    sweep_dir = find_sweep(ws, args.sweep_id)
    summary = write_summary(ws, sweep_dir, args.metric, args.mode)   # refreshed from the run records
    if args.json:
        _print_json(summary)
        return 0
    from .fmt import print_sweep_summary

    print_sweep_summary(summary)
    return 0


def cmd_sweeps_wait(ws: Workspace, args) -> int:
    """Block until every job of a sweep ended (Slurm array tasks included), then print its summary."""
    from .fmt import print_sweep_summary
    from .launch.jobs import FINISHED_OR_GONE, job_state
    from .runs import list_runs
    from .sweeps import find_sweep, job_rows, write_summary

    sweep_dir = find_sweep(ws, args.sweep_id)
    seen = -1
    while True:
        runs = {r.id: r for r in list_runs(ws)}
        rows = job_rows(sweep_dir, runs)
        states = [job_state(runs[r["run_id"]]) if r["run_id"] in runs else r["status"] for r in rows]
        done = sum(s in FINISHED_OR_GONE for s in states)
        if done != seen:
            print(f"sweep {sweep_dir.name}: {done}/{len(rows)} jobs ended", flush=True)
            seen = done
        if done == len(rows):
            break
        time.sleep(args.poll)
    summary = write_summary(ws, sweep_dir, args.metric, args.mode)
    print_sweep_summary(summary)
    failed = sum(n for s, n in summary["counts"].items() if s not in ("completed", "pruned"))
    return 1 if failed else 0


# ------------------------------------------------------------------ datasets
def cmd_datasets_list(ws: Workspace, args) -> int:
    from .data.datasets import DatasetStore

    store = DatasetStore(ws)
    rows = [{"name": v.name, "version": v.version, "format": v.format, "digest": v.digest,
             "records": (v.info or {}).get("records"), "description": v.description,
             "sources": v.sources, "created": v.created}
            for name in store.names() for v in store.versions(name)]
    if args.json:
        _print_json(rows)
    else:
        _table(["name", "version", "format", "records", "digest", "created", "description"],
               [[r["name"], r["version"], r["format"], _records(r["records"]), r["digest"][:12], _ts(r["created"]),
                 r["description"][:50]] for r in rows], title=f"datasets in {ws.root}")
    return 0


def _records(records: dict | None) -> str:
    return " ".join(f"{role}={n}" for role, n in (records or {}).items())


def cmd_datasets_show(ws: Workspace, args) -> int:
    from .data.datasets import DatasetStore

    name, _, ver = args.name.partition(":")
    dv = DatasetStore(ws).get(name, int(ver) if ver else None)
    if args.json:
        _print_json(dv.to_json())
        return 0
    print(f"dataset {dv.name} v{dv.version}   format {dv.format}   digest {dv.digest}")
    print(f"created {_ts(dv.created)}")
    print(f"{dv.description}")
    info = dv.info or {}
    print(f"records {_records(info.get('records'))}   input shape {info.get('input_shape')}"
          + (f"   classes {info['classes']}" if info.get("classes") else ""))
    print("sources (in order):")
    for s in dv.sources:
        print(f"  {s}")
    rows = []
    for e in dv.entries:
        units = [u for u in dv.files[e["role"]] if u.get("entry") == e["name"]]
        rows.append([e["role"], e["name"], e["sha256"][:16], sum((u.get("info") or {}).get("records") or 0 for u in units),
                     sum(u.get("size") or 0 for u in units), units[0].get("source") if units else ""])
    _table(["role", "entry", "sha256", "records", "bytes", "fetched from"], rows)
    return 0


# ------------------------------------------------------------------ environments
def cmd_envs_list(ws: Workspace, args) -> int:
    from .envs import listing

    rows = listing(ws.root / "environments")
    if args.json:
        _print_json(rows)
    else:
        _table(["hash", "packages", "built", "build_s", "last used", "base"],
               [[r["hash"], r["packages"], _ts(r["built"]), r["build_time_s"], _ts(r["last_used"]), r["base"]]
                for r in rows], title=f"environments in {ws.root / 'environments'}")
    return 0


def cmd_envs_show(ws: Workspace, args) -> int:
    import json

    from .envs import record

    env = ws.root / "environments" / args.hash
    if not (env / "ready.json").exists():
        from .errors import NotFoundError

        raise NotFoundError(f"environment {args.hash!r}: not built in {ws.root / 'environments'} "
                            f"(see `trainkit environments list`)")
    d = record(env, json.loads((env / "spec.json").read_text()))
    if args.json:
        _print_json(d)
        return 0
    print(f"environment {d['hash']}  built {_ts(d['built'])} in {d['build_time_s']} s\n{d['path']}")
    print("requirements: " + (" ".join(d["spec"]["requirements"]) or "(none)"))
    print("lock:\n  " + "\n  ".join(d["lock"]))
    return 0


def cmd_envs_build(ws: Workspace, args) -> int:
    from .envs import build_here

    env_cfg = {"pip": args.requirements, "requirements_file": args.requirements_file, "python": args.python,
               "index_url": args.index_url, "find_links": args.find_links}
    if not (args.requirements or args.requirements_file):
        raise TrainkitError("environments build: expected requirements (or -r FILE), got none")
    d = build_here(ws.root / "environments", env_cfg)
    print(f"{d['path']}  (use: environment.pip=[...] with the same requirements)")
    return 0


def cmd_envs_prune(ws: Workspace, args) -> int:
    from .envs import prune

    removed = prune(ws.root / "environments", args.older_than_days, args.dry_run)
    print(("would remove" if args.dry_run else "removed") + f" {len(removed)} environment(s) unused for "
          f"{args.older_than_days:g} days" + (": " + ", ".join(removed) if removed else ""))
    return 0


# ------------------------------------------------------------------ init
def cmd_init(ws: Workspace, args) -> int:
    from .scaffold import init_project

    written = init_project(Path(args.directory), args.package)
    root = Path(args.directory).resolve()
    print(f"created a trainkit project in {root}:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(f"next:\n  cd {args.directory}\n  python -m trainkit +experiment=example")
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trainkit", description="Manage trainkit projects, runs, datasets, "
                                "models and jobs. Train with `python -m trainkit +experiment=...`.")
    p.add_argument("--workspace", default=None,
                   help=f"workspace root (default: $TRAINKIT_WORKSPACE or {default_root()})")
    sub = p.add_subparsers(dest="group", required=True)

    init = sub.add_parser("init", help="write a small, working project of your own into DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--package", help="Python package for your models (default: from DIR's name)")
    init.set_defaults(func=cmd_init)

    runs = sub.add_parser("runs", help="list, show and read logs of runs").add_subparsers(dest="cmd", required=True)
    r = runs.add_parser("list", help="all runs, oldest first")
    r.add_argument("--experiment")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_runs_list)
    r = runs.add_parser("show", help="one run's status, metrics and dataset")
    r.add_argument("run_id", help="run id (a unique prefix is enough)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_runs_show)
    r = runs.add_parser("logs", help="print a run's captured output")
    r.add_argument("run_id")
    r.add_argument("--stream", default="stdout", help="stdout | stderr | <rank> (default stdout)")
    r.set_defaults(func=cmd_runs_logs)
    r = runs.add_parser("download", help="copy a run's files (like run.download_files)")
    r.add_argument("run_id")
    r.add_argument("--prefix", default="outputs", help="only files under this path in the run (default outputs)")
    r.add_argument("--to", default=".", help="target directory (default .)")
    r.add_argument("--strip-prefix", action="store_true",
                   help="drop the prefix from target paths (the seeds' append_prefix=False)")
    r.add_argument("--overwrite", action="store_true")
    r.set_defaults(func=cmd_runs_download)
    r = runs.add_parser("compare", help="config differences, final metrics and a curves plot of runs")
    r.add_argument("run_ids", nargs="+")
    r.add_argument("--plot", help="where to write the curves PNG (default ./compare-<ids>.png)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_runs_compare)

    sw = sub.add_parser("sweeps", help="summaries of -m sweeps and Optuna searches").add_subparsers(dest="cmd", required=True)
    w = sw.add_parser("list")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_sweeps_list)
    w = sw.add_parser("wait", help="block until every job of a sweep ended; exits 1 if any failed")
    w.add_argument("sweep_id")
    w.add_argument("--metric", default="test_accuracy")
    w.add_argument("--mode", default="max", choices=["max", "min"])
    w.add_argument("--poll", type=float, default=5.0, help="seconds between checks")
    w.set_defaults(func=cmd_sweeps_wait)
    w = sw.add_parser("show", help="the summary table of one sweep (refreshed from its runs)")
    w.add_argument("sweep_id", help="sweep id (a unique prefix is enough)")
    w.add_argument("--metric", default="test_accuracy")
    w.add_argument("--mode", default="max", choices=["max", "min"])
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_sweeps_show)

    ev = sub.add_parser("environments", help="environments built with uv").add_subparsers(dest="cmd", required=True)
    e = ev.add_parser("list")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_envs_list)
    e = ev.add_parser("show", help="one environment's requirements and resolved lock")
    e.add_argument("hash")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_envs_show)
    e = ev.add_parser("build", help="build (or reuse) an environment, as a run with environment.pip would")
    e.add_argument("requirements", nargs="*", help="requirement lines, e.g. tabulate==0.9.0")
    e.add_argument("-r", "--requirements-file")
    e.add_argument("--python", default="3.11")
    e.add_argument("--index-url")
    e.add_argument("--find-links", action="append", default=[])
    e.set_defaults(func=cmd_envs_build)
    e = ev.add_parser("prune", help="remove environments not used for a while")
    e.add_argument("--older-than-days", type=float, default=30.0)
    e.add_argument("--dry-run", action="store_true")
    e.set_defaults(func=cmd_envs_prune)

    ds = sub.add_parser("datasets", help="registered dataset versions").add_subparsers(dest="cmd", required=True)
    d = ds.add_parser("list")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_datasets_list)
    d = ds.add_parser("show")
    d.add_argument("name", help="NAME or NAME:VERSION")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_datasets_show)

    from .jobs_cli import add_parser as add_jobs
    from .models_cli import add_parser

    add_parser(sub)
    add_jobs(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "uses_registry", False):
            from .models_cli import registry_root
            from .registry.store import Registry

            return args.func(Registry(registry_root(args)), args)
        return args.func(Workspace.at(args.workspace), args)
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
