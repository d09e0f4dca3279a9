"""`trainkit init DIR`: a small, working project of your own."""
from __future__ import annotations

from pathlib import Path


def cmd_init(ctx, args) -> int:
    from ..launch.scaffold import init_project

    written = init_project(Path(args.directory), args.package)
    root = Path(args.directory).resolve()
    print(f"created a trainkit project in {root}:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(f"next:\n  cd {args.directory}\n  trainkit train +experiment=example")
    return 0


def add_parser(sub) -> None:
    init = sub.add_parser("init", help="write a small, working project of your own into DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--package", help="Python package for your models (default: from DIR's name)")
    init.set_defaults(func=cmd_init)
