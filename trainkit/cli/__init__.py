"""The `trainkit` command: one dispatcher (cli/main.py) over a module per command group."""
from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point (imports the commands only when called)."""
    from .main import main as run

    return run(argv)

__all__ = ['main']
