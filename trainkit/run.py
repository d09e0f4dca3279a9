"""`trainkit.run`: the run a training script (or a callback in trainkit's own loop) belongs to, as
Azure ML's `Run.get_context()`. Importable without TensorFlow.

    from trainkit import run as tk
    run = tk.get_context()
    run.log("val_accuracy", 0.91, step=epoch)     # metrics.jsonl, TensorBoard, runs show, sweeps, Optuna
    run.report(val_acc, step=epoch)               # Optuna pruning: stops a pruned trial (exit 0, state pruned)
    if run.should_stop(): ...                     # cancel / preemption asked: checkpoint and return
    model.save(run.output_dir / "model.keras")    # registered and exported to ONNX after a successful run

Inside a trainkit run (script mode, or trainkit's loop) it writes to the run's record; in a plain
`python train.py` it writes to a local run directory `./.trainkit/runs/<id>/`. Only the chief's
(rank 0's) values are recorded unless `all_ranks=True`.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

from .hpo import PRUNED_EXIT, Pruned
from .records.workspace import RunPaths

RUN_DIR_ENV = "TRAINKIT_RUN_DIR"
RUN_ID_ENV = "TRAINKIT_RUN_ID"
TRIAL_ENV = "TRAINKIT_TRIAL"

_current: "Run | None" = None

__all__ = ["Run", "Pruned", "get_context", "PRUNED_EXIT"]


class Run:
    """One run's record, as seen from one process (see the module docstring)."""

    def __init__(self, directory: Path, run_id: str, *, offline: bool = False, pending: dict | None = None,
                 trial: dict | None = None):
        from .topology import WorkerEnv

        env = WorkerEnv.detect()
        self.id, self.dir, self.offline = run_id, Path(directory), offline
        self.paths = RunPaths(self.dir)
        self.trial = trial if trial is not None else json.loads(os.environ.get(TRIAL_ENV) or "{}")
        self._live = None
        self.rank, self.world_size, self.is_chief = env.rank, env.world_size, env.is_chief
        self._pending = pending          # trainkit's loop: values wait for the epoch line
        self._steps: dict[str, int] = {}
        self._stop = False
        self._events = None

    # ------------------------------------------------------------------ where things go
    @property
    def output_dir(self) -> Path:
        """`./outputs` of the run: a model saved here (`model.keras`) is registered at the end."""
        path = Path.cwd() / "outputs" if self.offline else self.paths.outputs
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def checkpoint_dir(self) -> Path:
        """Kept across a resume: a rerun of an interrupted run gets this directory back."""
        path = self.paths.checkpoints
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tags(self) -> dict:
        status = _read_json(self.paths.status) or {}
        return {**status.get("tags", {}), **(_read_json(self.paths.tags) or {})}

    def tag(self, key: str, value: str) -> None:
        """Add a tag (kept with the run and its registered model)."""
        if self.is_chief:
            tags = _read_json(self.paths.tags) or {}
            tags[str(key)] = str(value)
            _write_json(self.paths.tags, tags)

    # ------------------------------------------------------------------ metrics
    def log(self, name: str, value: float, step: int | None = None, all_ranks: bool = False) -> None:
        """Record one value of a metric (step: defaults to one more than the last for this name)."""
        self.log_dict({name: value}, step, all_ranks)

    def log_dict(self, values: dict, step: int | None = None, all_ranks: bool = False) -> None:
        if not (self.is_chief or all_ranks):
            return
        values = {str(k): _number(k, v) for k, v in values.items()}
        if self._pending is not None and self.is_chief:
            self._pending.update(values)
            return
        if step is None:
            step = max(self._steps.get(k, -1) for k in values) + 1
        for k in values:
            self._steps[k] = step
        row = {"step": int(step), **values, "time": time.time()}
        if not self.is_chief:
            row["rank"] = self.rank
        _append_line(self.paths.metrics, row)
        if self.is_chief:
            for k, v in values.items():
                self._writer().scalar(k, v, int(step))

    def log_image(self, name: str, png_path: str | os.PathLike, step: int | None = None) -> Path | None:
        """Keep a PNG with the run (logs/images/<name>/<step>.png) and show it in TensorBoard."""
        if not self.is_chief:
            return None
        step = self._steps.get(f"image:{name}", -1) + 1 if step is None else step
        self._steps[f"image:{name}"] = step
        if not _safe_name(name):
            raise ValueError(f"run.log_image: expected a name like 'confusion' or 'plots/loss' (no absolute path, "
                             f"'..' or backslash), got {name!r}")
        target = self.paths.images / name / f"{step}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png_path, target)
        self._writer().image(name, target.read_bytes(), step)
        _append_line(self.paths.metrics, {"step": step, "image": name, "path": str(target.relative_to(self.dir))})
        return target

    def _writer(self):
        if self._events is None:
            from .tbevents import EventWriter

            self._events = EventWriter(self.paths.tensorboard / "run")
        return self._events

    # ------------------------------------------------------------------ control
    def should_stop(self) -> bool:
        """True once a cancel or a preemption asked this process to stop (SIGTERM): save a
        checkpoint and return; the run can be resumed by running the same command again."""
        return self._stop

    def report(self, value: float, step: int) -> None:
        """Report a value to this run's Optuna trial (when it is one); raises Pruned (the script
        exits cleanly) when the pruner stops the trial."""
        trial = self.trial
        if not trial.get("study"):
            return
        if self._live is None:
            from .hpo import live_trial

            self._live = live_trial(trial)
        self._live.report(float(value), step=int(step))
        if self._live.should_prune():
            message = f"pruned by optuna (trial {trial['number']}) at step {step}: {trial['metric']}={value:.4f}"
            if self.is_chief:
                _write_json(self.paths.pruned, {"reason": message})
            print(message, flush=True)
            raise Pruned(message)

    def _on_term(self, signum, frame) -> None:
        if self._stop:   # asked twice: stop now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self._stop = True


def get_context() -> Run:
    """The current run: the one this process was started for, else an offline local one."""
    global _current
    if _current is not None:
        return _current
    directory = os.environ.get(RUN_DIR_ENV)
    if directory:
        _current = Run(Path(directory), os.environ.get(RUN_ID_ENV, Path(directory).name))
    else:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        _current = Run(Path.cwd() / ".trainkit" / "runs" / run_id, run_id, offline=True)
        print(f"trainkit.run: not inside a trainkit run; logging to {_current.dir}", file=sys.stderr)
    try:
        signal.signal(signal.SIGTERM, _current._on_term)
    except ValueError:   # not the main thread
        pass
    return _current


def attach_loop(run_dir: Path, run_id: str, trial: dict | None = None) -> Run:
    """For trainkit's own loop: the run callbacks' `get_context()` returns; what they log waits in
    `run._pending` until the epoch recorder merges it into the epoch's metrics."""
    global _current
    _current = Run(run_dir, run_id, pending={}, trial=trial or {})
    return _current


def _safe_name(name: str) -> bool:
    """A relative name that stays inside the run (no absolute path, '..', backslash or control character)."""
    parts = str(name).split("/")
    return bool(name) and not str(name).startswith("/") and "\\" not in str(name) and \
        all(p and p not in (".", "..") for p in parts) and not any(ord(c) < 32 for c in str(name))


def _number(name, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"run.log({name!r}, ...): expected a number, got {value!r}") from None


def _append_line(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:   # one write of one line: lines of several processes do not interleave
        f.write(json.dumps(row) + "\n")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, obj) -> None:
    from .fsutil import atomic_write_json

    atomic_write_json(path, obj)
