"""`python -I -m trainkit.migrate.check DIR EXPERIMENT...`: compose and validate each experiment of a
migrated project (the child process of `trainkit migrate --check`). The project's directory is not
on sys.path and targets are read from source only (TRAINKIT_TARGETS_SOURCE_ONLY), so nothing of the
project is imported or run. Prints {experiment: [problems]} as one JSON line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from ..config.compose import compose_job, in_project
    from ..errors import ConfigError

    dest, names = Path(argv[0]), argv[1:]
    os.environ["TRAINKIT_TARGETS_SOURCE_ONLY"] = "1"
    os.chdir(dest)    # a relative entry.source_dir resolves from the project, as when you run it there
    found: dict[str, list[str]] = {}
    for name in names:
        try:
            with in_project(dest, importable=False):
                compose_job([f"+experiment={name}"])
            found[name] = []
        except ConfigError as e:
            found[name] = list(e.problems)
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
