"""`python -m trainkit OVERRIDES...` and `trainkit train OVERRIDES...`: the Hydra app. Hydra stays
here; everything after composition is plain dicts and the JobSpec. Exit codes: 0 ok, 1 run
failed, 2 bad config/override, 3 bad data (errors.py)."""
from __future__ import annotations

import os
import sys

from ..session import SESSION
from ..errors import TrainkitError


def _job(cfg) -> tuple[dict, list[str], object]:
    """The validated config of this Hydra job (a sweep's job knows its sweep), its overrides, Hydra's."""
    SESSION.composed = True
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ..config.validate import validate

    hc = HydraConfig.get()
    data = validate(cfg, list(hc.overrides.task))
    if hc.mode == RunMode.MULTIRUN:
        data["run"]["sweep"] = os.path.basename(hc.sweep.dir)
        data["run"]["sweep_job"] = hc.job.num
    return data, list(hc.overrides.task), hc


def _failed(e: TrainkitError) -> dict:
    print(f"error: {e}", file=sys.stderr, flush=True)
    return {"exit_code": e.exit_code, "run_id": None, "state": "failed", "metrics": {}, "error": str(e)}


def _task(cfg):
    """One job. A single run exits with its code; a sweep's job returns a result dict instead, so
    that one failing job does not stop the sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ..launch.submit import submit

    try:
        data, overrides, hc = _job(cfg)
        outcome = submit(data, overrides)
        result = {"exit_code": outcome.exit_code, "run_id": outcome.run_id, "state": outcome.state,
                  "metrics": outcome.metrics}
    except TrainkitError as e:
        result = _failed(e)
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        return {**result, "overrides": list(hc.overrides.task), "job": hc.job.num}
    if result["exit_code"]:
        sys.exit(result["exit_code"])
    return result


def _prepare(cfg, preflight: bool = True):
    """A sweep job whose run its backend launches together with the others (trainkit's Hydra
    launcher calls this): validate and create the run; returns (spec or None, the job's result)."""
    from hydra.core.hydra_config import HydraConfig

    from ..launch.submit import prepare

    hc = HydraConfig.get()
    try:
        data, overrides, hc = _job(cfg)
        _, spec = prepare(data, overrides, preflight=preflight)
        result = {"exit_code": 0, "run_id": spec.run_id, "state": "queued", "metrics": {}}
    except TrainkitError as e:
        spec, result = None, _failed(e)
    return spec, {**result, "overrides": list(hc.overrides.task), "job": hc.job.num}


SESSION.prepare = _prepare   # trainkit's Hydra launcher creates a whole sweep's runs with it


def main(argv: list[str] | None = None) -> None:
    """Run the Hydra app on `argv` (default: this process's command line)."""
    import hydra

    from ..config.store import register_configs
    from ..launch.project import BUILTIN_CONF, project_root

    from ..config.compose import check_choices

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    try:
        root = str(project_root())   # model builders, callbacks and loaders import from here
        check_choices(sys.argv[1:])
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
        if e.code == 1 and not SESSION.composed:  # Hydra reports compose/override errors with exit 1
            sys.exit(2)
        raise
    if SESSION.failed_jobs:
        print(f"{SESSION.failed_jobs} sweep job(s) failed (see the summary above)", file=sys.stderr)
        sys.exit(1)
