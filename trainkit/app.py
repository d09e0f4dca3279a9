"""`python -m trainkit`: the Hydra app. Hydra stays here; everything after composition is plain
dicts and the JobSpec. Exit codes: 0 ok, 1 run failed, 2 bad config/override, 3 bad data."""
from __future__ import annotations

import sys

from .errors import TrainkitError

_composed = False  # set once Hydra has composed a config: a later exit 1 is not a config error


def _task(cfg) -> None:
    global _composed
    _composed = True
    from hydra.core.hydra_config import HydraConfig

    from .config.validate import validate
    from .submit import submit

    try:
        data = validate(cfg)
        overrides = list(HydraConfig.get().overrides.task)
        code = submit(data, overrides)
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        code = e.exit_code
    if code:
        sys.exit(code)


def main() -> None:
    import hydra

    from .config.schema import register_configs
    from .submit import project_root

    register_configs()
    app = hydra.main(version_base="1.3", config_path=str(project_root() / "conf"),
                     config_name="config")(_task)
    try:
        app()
    except SystemExit as e:
        if e.code == 1 and not _composed:  # Hydra reports compose/override errors with exit 1
            sys.exit(2)
        raise
