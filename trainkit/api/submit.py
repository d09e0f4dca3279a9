"""`trainkit.submit` and `trainkit.sweep`: runs and sweeps started from Python (Azure ML's
`Experiment.submit(ScriptRunConfig(...))` and `HyperDriveConfig`)."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("trainkit")


def submit(*overrides, project: str | Path | None = ".", wait: bool = False, show_output: bool = True,
           workspace=None, name: str | None = None):
    """Start a run with the same overrides as the command line (strings like
    `"trainer.epochs=3"`, or dicts `{"trainer.epochs": 3}`), validated the same way: a bad one
    raises ConfigError naming the key before anything is written. It runs detached on any compute
    target (as `compute.wait=false`): the Run returns at once; `wait=True` waits for it here
    (`show_output` streams its console) and raises RunFailed if it failed.

    `project`: your project's directory (its conf/ overlays trainkit's configs, its modules
    import); None: $TRAINKIT_PROJECT or the working directory, as on the command line. `name`: the
    run's name (run.name; default <experiment>-<n>)."""
    from ..config.compose import compose_job, in_project, overrides_of
    from ..launch.submit import prepare
    from .run import Run
    from .workspace import Workspace

    args = overrides_of(overrides)
    if name is not None:
        args.append(f"run.name={json.dumps(str(name))}")   # quoted: any characters
    if workspace is not None:   # the Workspace object decides where the run goes
        args.append(f"workspace.root={workspace.root}")
    with in_project(project), contextlib.redirect_stdout(_ToLog()):   # a notebook cell shows the run, not hints
        cfg = compose_job(args)
        cfg["compute"]["wait"] = False
        backend, spec = prepare(cfg, args, echo=_quiet)   # the CLI's path: preflight, environment, the run
        backend.launch(spec)
    ws = workspace if workspace is not None else Workspace(cfg["workspace"]["root"])
    run = Run(ws, Path(spec.run_dir))
    return run.wait(show_output=show_output) if wait else run


def _quiet(message: str) -> None:
    """Where the command line prints progress, the API logs it (logger "trainkit", level INFO) and
    keeps stdout for the run's own output."""
    for line in message.splitlines():
        if line.strip():
            log.info(line.strip())


class _ToLog(io.TextIOBase):
    """stdout while a run is submitted from Python: what the command line would print (the job's
    id and the `trainkit jobs ...` hints) goes to the "trainkit" logger instead."""

    def write(self, text: str) -> int:
        _quiet(text)
        return len(text)


def sweep(*overrides, project: str | Path | None = ".", wait: bool = True, show_output: bool = False,
          workspace=None):
    """Start a -m sweep (`"trainer.learning_rate=0.001,0.003"`, or `+hparams_search=...` for an
    Optuna search) as `python -m trainkit -m ...` does, in its own process; returns the Sweep.
    `wait`: block until every trial ended (its output in the sweep's log, `show_output` streams it)."""
    from ..config.compose import in_project, overrides_of
    from .sweeps import Sweep
    from .workspace import Workspace

    ws = workspace if workspace is not None else Workspace()
    args = overrides_of(overrides)
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    root = ws.root / "sweeps"
    root.mkdir(parents=True, exist_ok=True)
    log = root / f".{stamp}.log"
    with in_project(project) as proj:
        env = {**os.environ, "TRAINKIT_WORKSPACE": str(ws.root), "TRAINKIT_PROJECT": str(proj)}
        cmd = [sys.executable, "-m", "trainkit", "-m", *args,
               f"hydra.sweep.dir={root}/{stamp}-${{run.experiment}}"]
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, cwd=proj, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=not wait)
    path = _sweep_dir(root, stamp, proc)
    handle = Sweep(ws, path, process=proc, log=log)
    if wait:
        handle.wait(show_output=show_output)
        if proc.wait() not in (0, 1) and not handle.runs():   # 1: some trial failed; else the sweep itself did
            from ..errors import ConfigError

            raise ConfigError([f"sweep {list(args)}: {_tail(log)}"])
    return handle


SWEEP_START_S = 300.0   # composing and validating every trial's config comes first; a loaded machine is slow


def _sweep_dir(root: Path, stamp: str, proc, limit_s: float = SWEEP_START_S) -> Path:
    """The directory Hydra created for the sweep (its name ends with the experiment). A sweep
    process that made none within `limit_s` is stopped, and the error names its log."""
    from ..errors import ConfigError

    log, deadline = root / f".{stamp}.log", time.monotonic() + limit_s
    while True:
        found = sorted(p for p in root.glob(f"{stamp}-*") if p.is_dir())
        if found:
            return found[0]
        if proc.poll() is not None:
            raise ConfigError([f"the sweep ended before it started: {_tail(log)}"])
        if time.monotonic() >= deadline:
            proc.kill()
            proc.wait()
            raise ConfigError([f"the sweep: expected its directory {root}/{stamp}-<experiment> within {limit_s:g} s, "
                               f"got none; its process was stopped (its output: {log}): {_tail(log)}"])
        time.sleep(0.2)


def _tail(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
    return " | ".join(lines[-4:]) or "no output"
