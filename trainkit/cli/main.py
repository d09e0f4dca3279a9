"""The `trainkit` console script: one dispatcher over a module per command group.

Each command is `func(ctx, args)` and returns an exit code, or an `Output` (data and how to show
it): `--json` prints the data, and is handled here once. Errors map to exit codes in one place
(errors.EXIT_CODES: 2 bad input, 3 bad data, 4 not found); argparse's own errors exit 2. No Hydra
and, except in `models register/export`, no TensorFlow: commands answer in well under a second.
`trainkit train OVERRIDES...` is `python -m trainkit OVERRIDES...`."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from ..errors import TrainkitError, exit_code
from ..records.workspace import WorkspacePaths, default_root

GROUPS = ("runs", "jobs", "sweeps", "models", "datasets", "environments", "project", "ui", "migrate")   # cli/<group>.py


@dataclass
class Output:
    """A command's result: `data` (printed as JSON with --json) and how to show it as text."""

    data: Any
    show: Callable[[], None]
    code: int = 0


class Context:
    """What every command may use, made only when it does: the workspace, the model registry."""

    def __init__(self, args: argparse.Namespace):
        self.args = args

    @cached_property
    def ws(self) -> WorkspacePaths:
        return WorkspacePaths.at(self.args.workspace)

    @cached_property
    def registry(self):
        import os

        from ..registry.store import Registry

        url = getattr(self.args, "registry", None) or os.environ.get("TRAINKIT_REGISTRY") or str(self.ws.root / "models")
        return Registry(url)


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    p = argparse.ArgumentParser(prog="trainkit", description="Train, track and serve Keras models. "
                                "`trainkit train OVERRIDES...` (or `python -m trainkit OVERRIDES...`) starts a run.")
    p.add_argument("--workspace", default=None,
                   help=f"workspace root (default: $TRAINKIT_WORKSPACE or {default_root()})")
    sub = p.add_subparsers(dest="group", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="start a run: the Hydra overrides of `python -m trainkit` (-m: a sweep)")
    train.add_argument("overrides", nargs=argparse.REMAINDER, help="e.g. +experiment=fashion_mnist_dnn trainer.epochs=3")
    for group in GROUPS:
        import_module(f"{__package__}.{group}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:   # Hydra parses its own command line
        from .train import main as train

        train(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    try:
        out = args.func(Context(args), args)
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code(e)
    if isinstance(out, Output):
        if getattr(args, "json", False):
            from .fmt import print_json

            print_json(out.data)
        else:
            out.show()
        return out.code
    return out or 0


if __name__ == "__main__":
    sys.exit(main())
