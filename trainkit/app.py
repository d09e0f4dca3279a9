"""`python -m trainkit`: the Hydra app. Hydra stays here; everything after composition is plain
dicts and the JobSpec. Exit codes: 0 ok, 1 run failed, 2 bad config/override, 3 bad data."""
from __future__ import annotations

import os
import sys

from .errors import TrainkitError

_composed = False  # set once Hydra has composed a config: a later exit 1 is not a config error


def _task(cfg):
    """One job. A single run exits with its code; a sweep's job returns a result dict instead, so
    that one failing job does not stop the sweep."""
    global _composed
    _composed = True
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .config.validate import validate
    from .submit import submit

    hc = HydraConfig.get()
    sweeping = hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    try:
        data = validate(cfg)
        if sweeping:
            data["run"]["sweep"] = os.path.basename(hc.sweep.dir)
            data["run"]["sweep_job"] = hc.job.num
        outcome = submit(data, overrides)
        result = {"exit_code": outcome.exit_code, "run_id": outcome.run_id, "state": outcome.state,
                  "metrics": outcome.metrics}
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        result = {"exit_code": e.exit_code, "run_id": None, "state": "failed", "metrics": {},
                  "error": str(e)}
    if sweeping:
        return {**result, "overrides": overrides, "job": hc.job.num}
    if result["exit_code"]:
        sys.exit(result["exit_code"])
    return result


def main() -> None:
    import hydra

    from .config.schema import register_configs
    from .project import BUILTIN_CONF, project_root

    try:
        root = str(project_root())   # model builders, callbacks and loaders import from here
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    if root not in sys.path:
        sys.path.insert(0, root)
    register_configs()
    app = hydra.main(version_base="1.3", config_path=BUILTIN_CONF, config_name="config")(_task)
    try:
        app()
    except SystemExit as e:
        if e.code == 1 and not _composed:  # Hydra reports compose/override errors with exit 1
            sys.exit(2)
        raise
    from .config.callbacks import SWEEP_RESULT

    if SWEEP_RESULT.get("failed"):
        print(f"{SWEEP_RESULT['failed']} sweep job(s) failed (see the summary above)", file=sys.stderr)
        sys.exit(1)
