"""`trainkit environments list/show/build/prune`: environments built with uv."""
from __future__ import annotations

from ..errors import NotFoundError, UsageError
from .fmt import table, ts
from .main import Output


def cmd_list(ctx, args) -> Output:
    from ..compute.envs import listing

    rows = listing(ctx.ws.root / "environments")
    return Output(rows, lambda: table(
        ["hash", "packages", "built", "build_s", "last used", "base"],
        [[r["hash"], r["packages"], ts(r["built"]), r["build_time_s"], ts(r["last_used"]), r["base"]] for r in rows],
        title=f"environments in {ctx.ws.root / 'environments'}"))


def cmd_show(ctx, args) -> Output:
    import json

    from ..compute.envs import record

    env = ctx.ws.root / "environments" / args.hash
    if not (env / "ready.json").exists():
        raise NotFoundError(f"environment {args.hash!r}: not built in {ctx.ws.root / 'environments'} "
                            f"(see `trainkit environments list`)")
    d = record(env, json.loads((env / "spec.json").read_text()))

    def show() -> None:
        print(f"environment {d['hash']}  built {ts(d['built'])} in {d['build_time_s']} s\n{d['path']}")
        print("requirements: " + (" ".join(d["spec"]["requirements"]) or "(none)"))
        print("lock:\n  " + "\n  ".join(d["lock"]))

    return Output(d, show)


def cmd_build(ctx, args) -> int:
    from ..compute.envs import build_here

    if not (args.requirements or args.requirements_file):
        raise UsageError("environments build: expected requirements (or -r FILE), got none")
    env_cfg = {"pip": args.requirements, "requirements_file": args.requirements_file, "python": args.python,
               "index_url": args.index_url, "find_links": args.find_links}
    d = build_here(ctx.ws.root / "environments", env_cfg)
    print(f"{d['path']}  (use: environment.pip=[...] with the same requirements)")
    return 0


def cmd_prune(ctx, args) -> int:
    from ..compute.envs import prune

    removed = prune(ctx.ws.root / "environments", args.older_than_days, args.dry_run)
    print(("would remove" if args.dry_run else "removed") + f" {len(removed)} environment(s) unused for "
          f"{args.older_than_days:g} days" + (": " + ", ".join(removed) if removed else ""))
    return 0


def add_parser(sub) -> None:
    from ..config.schema import EnvironmentConfig

    ev = sub.add_parser("environments", help="environments built with uv").add_subparsers(dest="cmd", required=True)
    e = ev.add_parser("list")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_list)
    e = ev.add_parser("show", help="one environment's requirements and resolved lock")
    e.add_argument("hash")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_show)
    e = ev.add_parser("build", help="build (or reuse) an environment, as a run with environment.pip would")
    e.add_argument("requirements", nargs="*", help="requirement lines, e.g. tabulate==0.9.0")
    e.add_argument("-r", "--requirements-file")
    e.add_argument("--python", default=EnvironmentConfig.python, help="recorded Python version (default %(default)s)")
    e.add_argument("--index-url")
    e.add_argument("--find-links", action="append", default=[])
    e.set_defaults(func=cmd_build)
    e = ev.add_parser("prune", help="remove environments not used for a while")
    e.add_argument("--older-than-days", type=float, default=30.0)
    e.add_argument("--dry-run", action="store_true")
    e.set_defaults(func=cmd_prune)
