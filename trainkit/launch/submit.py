"""The one library function behind `python -m trainkit`: config dict -> dataset -> run -> launch.

`prepare` creates the run (the dataset fetched and verified, the record written, nothing started);
`submit` prepares and hands the run to its compute backend; a sweep whose backend launches many
runs at once (a Slurm job array) prepares every run first, then calls `Backend.launch_many`."""
from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..compute import get_backend, job_for
from ..data.datasets import DatasetStore
from ..errors import EXIT_CODES, ConfigError
from ..fsutil import atomic_write_text, read_json
from ..records.runs import RunInfo, get_run, list_runs, new_run_id, write_status
from ..records.spec import JobSpec, config_hash
from ..records.workspace import RunPaths, WorkspacePaths
from ..topology import process_count
from .project import project_root, snapshot_root

CONFIG_ERROR = EXIT_CODES[ConfigError]   # 2


class _DownloadProgress:
    def __init__(self):
        self.bar = None
        self.tasks: dict[str, int] = {}

    def __call__(self, url: str, done: int, total: int | None) -> None:
        if self.bar is None:
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

            self.bar = Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                                transient=not sys.stderr.isatty())
            self.bar.start()
        if url not in self.tasks:
            self.tasks[url] = self.bar.add_task(url.rsplit("/", 1)[-1], total=total)
        self.bar.update(self.tasks[url], completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def prepare_dataset(ws: WorkspacePaths, dataset_cfg: dict) -> dict:
    from ..config.schema import DatasetConfig, from_dict

    progress = _DownloadProgress()
    ds = from_dict(DatasetConfig, dataset_cfg)
    store = DatasetStore(ws)
    try:
        return store.for_run(ds, progress, warn=lambda m: print(f"warning: {m}", file=sys.stderr, flush=True))
    finally:
        progress.close()


def find_resumable(ws: WorkspacePaths, experiment: str, chash: str) -> RunInfo | None:
    """The newest run of the same experiment and resolved config that ended without completing:
    failed, cancelled (Ctrl-C, `jobs cancel`) or interrupted (its owner died)."""
    for run in reversed(list_runs(ws, experiment)):
        if run.status.get("config_hash") != chash:
            continue
        state = job_for(run.path, run.status).state()
        if state.name in ("failed", "cancelled") and state.exit_code != CONFIG_ERROR:   # a config error: nothing to resume
            return run
    return None


def choose_run(ws: WorkspacePaths, cfg: dict, chash: str, echo=print) -> tuple[str, bool]:
    """(run id, resuming?) per run.resume: auto resumes an interrupted identical run, unless it is a
    script run whose code changed since (the rerun after a fix runs the fix, in a new run)."""
    resume = cfg["run"]["resume"]
    if resume not in ("auto", "never"):
        return get_run(ws, resume).id, True
    if resume == "auto" and (previous := find_resumable(ws, cfg["run"]["experiment"], chash)) is not None:
        why = cfg["entry"]["name"] == "script" and code_verdict(
            previous.id, *script_code(RunPaths(previous.path), script_source(cfg), ws.root))
        if not why:
            return previous.id, True
        echo(why)
    return new_run_id(), False


def code_verdict(run_id: str, snapshot: dict[str, str], current: dict[str, str]) -> str | None:
    """Why run `run_id` is not resumed automatically: its code snapshot's file hashes differ from
    the current code's (None: the same code, resume it)."""
    from .snapshot import code_changes

    changed = code_changes(snapshot, current)
    if not changed:
        return None
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return (f"not resuming {run_id}: its code changed ({shown}); starting a new run "
            f"(run.resume={run_id} resumes it with the current code)")


def script_source(cfg: dict) -> Path:
    """entry=script: the directory its code snapshot is taken from (null: the project)."""
    src = cfg["entry"]["source_dir"]
    return Path(os.path.expanduser(src)).resolve() if src else project_root()


def script_code(paths: RunPaths, source: Path, workspace) -> tuple[dict[str, str], dict[str, str]]:
    """(the file hashes of a run's code snapshot, those of what a snapshot of `source` holds now)."""
    from .snapshot import recorded_code, source_code

    current = source_code(source, workspace)
    return recorded_code(paths.code_info, paths.code, list(current)), current


def renew_code(paths: RunPaths, cfg: dict, workspace: str, echo=print) -> None:
    """A script run resumed by id: its code snapshot becomes the current code (outputs, logs,
    checkpoints and files the script wrote stay), and status.json records what changed."""
    from .snapshot import refresh_code, tree_hash, write_code_info

    if not paths.code.is_dir():   # a run that had no script before
        write_status(paths, "queued", code_hash=_snapshot_script(paths, cfg, workspace))
        return
    source = script_source(cfg)
    before, after = script_code(paths, source, workspace)
    changed = refresh_code(source, paths.code, before, after, cfg["run"]["snapshot_max_mb"])
    if not changed:
        return
    write_code_info(paths.code_info, source, after)
    history = (read_json(paths.status, {}) or {}).get("code_changes") or []
    write_status(paths, "queued", code_hash=tree_hash(after), code_changes=[
        *history, {"at": time.time(), "files": changed, "from": tree_hash(before), "to": tree_hash(after)}])
    echo(f"run {paths.root.name}: its code changed since its snapshot ({', '.join(changed)}); "
         "resuming it with the current code")


def create_run(cfg: dict, overrides: list[str], echo=print, built_env: dict | None = None) -> JobSpec:
    """Prepare the dataset (before any run directory exists), then create or reopen the run."""
    ws = WorkspacePaths.at(cfg["workspace"]["root"])
    root = project_root()
    if cfg["run"]["snapshot_source"] and snapshot_root(cfg) is not None:   # too big: refused before any fetch
        from .snapshot import check_size, project_files

        check_size(root, project_files(root, ws.root), cfg["run"]["snapshot_max_mb"], warn=echo)
    dataset = prepare_dataset(ws, cfg["dataset"])
    chash = config_hash(cfg)
    run_id, resuming = choose_run(ws, cfg, chash, echo)
    experiment = cfg["run"]["experiment"]
    if resuming:   # a run keeps its name
        cfg["run"]["name"] = (read_json(RunPaths(ws.run_dir(experiment, run_id)).status, {}) or {}).get("name") \
            or cfg["run"].get("name")
    else:
        cfg["run"]["name"] = cfg["run"].get("name") or numbered_name(ws, experiment)
    paths = RunPaths(ws.run_dir(experiment, run_id))
    spec = JobSpec(run_id=run_id, experiment=experiment, run_dir=str(paths.root), workspace=str(ws.root),
                   config=cfg, overrides=list(overrides), config_hash=chash, dataset=dataset,
                   project_root=str(root), world_size=process_count(cfg["distribution"]),
                   created=time.time(), built_env=built_env or {})
    tmp = paths.root.with_name(f".{run_id}.creating")
    target = paths.root if resuming else tmp
    try:
        _write_record(target, cfg, overrides, spec, root, resuming)
    except BaseException:
        if not resuming:
            shutil.rmtree(tmp, ignore_errors=True)  # no half-written run is ever visible
        raise
    if resuming:
        if cfg["entry"]["name"] == "script":
            renew_code(paths, cfg, spec.workspace, echo)
        write_status(paths, "queued", pid=os.getpid(), host=socket.gethostname(),
                     resumed=time.time(), exit_reason=None)
        echo(f"resuming run {run_id} (same experiment and config; run.resume=never starts afresh)")
    else:
        os.replace(tmp, paths.root)  # the run appears whole or not at all
    return spec


def numbered_name(ws: WorkspacePaths, experiment: str) -> str:
    """`<experiment>-<n>`, n this run's number in its experiment (Azure's run number): a counter in
    <workspace>/.run-numbers/<experiment>, taken under a lock, so a sweep's jobs never share one
    (kept outside experiments/, which holds run records only)."""
    import fcntl

    folder = ws.experiments / experiment
    counters = ws.root / ".run-numbers"
    counters.mkdir(parents=True, exist_ok=True)
    with open(counters / experiment, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        n = int(text) + 1 if text.isdigit() else sum(1 for _ in (folder / "runs").glob("*/status.json")) + 1
        f.seek(0)
        f.truncate()
        f.write(str(n))
    return f"{experiment}-{n}"


def _write_record(target: Path, cfg: dict, overrides: list[str], spec: JobSpec, root: Path,
                  resuming: bool) -> None:
    import yaml

    paths = RunPaths(target)
    target.mkdir(parents=True, exist_ok=True)
    for sub in (paths.logs, paths.outputs):
        sub.mkdir(exist_ok=True)
    atomic_write_text(paths.config, yaml.safe_dump(cfg, sort_keys=False))
    atomic_write_text(paths.overrides, yaml.safe_dump(list(overrides)))
    spec.write(paths.spec)
    if resuming:
        return
    if cfg["run"]["snapshot_source"]:
        from .snapshot import snapshot_source

        snapshot_source(snapshot_root(cfg), paths.source, cfg["run"]["snapshot_max_mb"], spec.workspace)
    code = {}
    if cfg["entry"]["name"] == "script":   # the script runs in its own snapshot, <run>/code
        code = {"code_hash": _snapshot_script(paths, cfg, spec.workspace)}
    write_status(paths, "queued", run_id=spec.run_id, experiment=spec.experiment, name=cfg["run"].get("name"),
                 config_hash=spec.config_hash,
                 dataset={k: spec.dataset[k] for k in ("name", "version", "digest")},
                 tags=cfg["run"].get("tags", {}), pid=os.getpid(), host=socket.gethostname(),
                 distribution=cfg["distribution"]["name"],
                 sweep=cfg["run"].get("sweep"), sweep_job=cfg["run"].get("sweep_job"),
                 overrides=list(overrides),
                 created=spec.created, **code)


def _snapshot_script(paths: RunPaths, cfg: dict, workspace: str) -> str:
    """<run>/code and its record of file hashes (code.json); returns the snapshot's hash."""
    from .snapshot import snapshot_code
    from .snapshot import file_hashes, project_files, write_code_info

    source = script_source(cfg)
    snapshot_code(source, paths.root, workspace, cfg["run"]["snapshot_max_mb"])
    hashes = file_hashes(paths.code, project_files(source, workspace))   # the copies, as they were taken
    return write_code_info(paths.code_info, source, hashes)["hash"]


@dataclass(frozen=True)
class Outcome:
    """What a launched run ended as (a sweep's job result)."""

    exit_code: int
    run_id: str
    state: str
    metrics: dict


def prepare(cfg: dict, overrides: list[str], echo=print, preflight: bool = True):
    """Check the target, build the environment and create the run: nothing is started yet.
    Returns (backend, spec). `preflight=False`: a sweep's first run checked the same target."""
    backend = get_backend(cfg["compute"])
    if preflight:
        backend.preflight(cfg)   # e.g. horovod missing: fail before any run directory exists
    built = backend.build_environment(cfg, echo)   # a bad requirement: fails here too, nothing created
    from ..compute.envs import without_credentials

    cfg, overrides = without_credentials(cfg, overrides)  # index URL credentials are never written down
    spec = create_run(cfg, overrides, echo, built)
    echo(f"run {spec.run_id} ({spec.experiment}) -> {spec.run_dir}")
    return backend, spec


def submit(cfg: dict, overrides: list[str], echo=print) -> Outcome:
    """Create the run and launch it on the configured compute target (blocking with compute.wait)."""
    backend, spec = prepare(cfg, overrides, echo)
    job = backend.launch(spec)
    if not backend.cfg.wait:   # detached: the backend printed the job id and the commands
        return Outcome(0, spec.run_id, job.state().name, {})
    return report(job, echo)


def report(job, echo=print) -> Outcome:
    """What the user sees at the end of a run they waited for; the run's outcome."""
    state, st = job.state(), job.status()
    final = st.get("final_metrics") or {}
    if state.name == "pruned":
        echo(f"run {job.id} pruned: {state.reason}")
    elif state.name == "completed":
        shown = [k for k in final if k.startswith("test_") and k != "test_count"][:3] or \
            [k for k, v in final.items() if isinstance(v, float) and k not in ("train_time_s", "peak_rss_mb")][:3]
        echo(f"run {job.id} completed: " + " ".join(f"{k}={final[k]:.4f}" for k in shown) + f" -> {job.paths.root}")
        echo(f"  trainkit runs show {job.id}")
        if st.get("registered_model"):
            echo(f"  trainkit models show {st['registered_model']}")
    elif state.exit_code == CONFIG_ERROR and not st.get("registered_model") and not any(job.paths.checkpoints.glob("*")):
        discard_run(job.paths)
        echo(f"error: {state.reason}")
        echo(f"  a config error: run {job.id} is not kept (nothing to resume); fix the config and run again")
    else:
        echo(f"run {job.id} {state.name}: {state.reason}")
        if st.get("registered_model"):
            echo(f"  the model is registered: trainkit models show {st['registered_model']}")
        if state.exit_code == CONFIG_ERROR:   # never resumed automatically (find_resumable)
            echo(f"  logs: trainkit runs logs {job.id}; a config error: fix it, and the next run starts afresh "
                 f"(this one is kept for its checkpoints)")
        else:
            echo(f"  logs: trainkit runs logs {job.id}; rerun the same command to resume")
    return Outcome(state.exit_code, job.id, state.name, final)


def discard_run(paths: RunPaths) -> None:
    """Remove a run that a config error ended before it saved anything, and its experiment's
    directories if it was their only run."""
    shutil.rmtree(paths.root, ignore_errors=True)
    for d in paths.root.parents[:3]:   # runs/, experiments/<name>/, experiments/
        try:
            d.rmdir()
        except OSError:
            break
