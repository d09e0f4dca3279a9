"""`trainkit migrate SRC... --to DIR [--check]`: an Azure ML SDK v1 project as a trainkit project."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def _mirror(text: str) -> tuple[str, str]:
    import argparse

    prefix, sep, url = text.partition("=")
    if not sep or not prefix or not url:
        raise argparse.ArgumentTypeError(f"expected URL_PREFIX=MIRROR_URL, got {text!r}")
    return prefix, url


def cmd_migrate(ctx, args) -> int:
    from ..migrate import migrate

    dest = Path(args.to)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--to {dest}: expected a directory, got a file")
    from ..data.mirrors import configured
    from ..records.workspace import WorkspacePaths

    mirrors = {**configured(WorkspacePaths.at().root), **dict(args.mirror)}   # $TRAINKIT_MIRRORS, workspace.yaml, --mirror
    result = migrate([Path(s) for s in args.sources], dest, args.compute, mirrors, args.check, args.fix)
    unmapped = sum(1 for c in result.calls if c.unmapped and not c.became)
    print(f"migrated {len(result.calls)} Azure ML SDK call(s) into {dest}: {len(result.experiments)} experiment(s), "
          f"{len(result.written)} file(s) written, {len(result.kept)} kept as they were, {unmapped} call(s) not mapped, "
          f"{len(result.not_understood)} construct(s) not understood, {len(result.findings)} compatibility finding(s)"
          + (f", {len(result.fixed)} fixed in the project's copies" if args.fix else ""))
    for p in result.problems + result.refused:
        print(f"warning: {p}")
    print(f"report: {result.report}")
    first = next((c for c in result.commands if c.kind == "smoke"), None)
    if first is not None:
        print(f"next (a short run on this machine first):\n  cd {dest}\n  {first.text}")
    return 2 if args.check and result.check_failed else 0


def add_parser(sub) -> None:
    from ..compute import DEFAULT_CLUSTER, cluster_targets

    p = sub.add_parser("migrate", help="turn Azure ML SDK v1 notebooks and scripts into a trainkit project")
    p.add_argument("sources", nargs="+", metavar="SRC", help=".ipynb notebooks, .py files or directories")
    p.add_argument("--to", required=True, metavar="DIR", help="the trainkit project to write (existing files are kept)")
    p.add_argument("--check", action="store_true", help="compose and validate every generated experiment (nothing runs)")
    p.add_argument("--fix", action="store_true",
                   help="apply the mechanical rewrites (numpy aliases, lr= ...) to the project's copies of the scripts")
    p.add_argument("--compute", choices=cluster_targets(), default=DEFAULT_CLUSTER,
                   help="what AmlCompute clusters become (default %(default)s)")
    p.add_argument("--mirror", type=_mirror, action="append", default=[], metavar="URL_PREFIX=MIRROR",
                   help="a mirror tried first for dataset files under URL_PREFIX (e.g. an offline copy); "
                        "$TRAINKIT_MIRRORS and the workspace's workspace.yaml `mirrors:` are added")
    p.set_defaults(func=cmd_migrate)
