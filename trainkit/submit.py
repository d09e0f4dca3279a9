"""The one library function behind `python -m trainkit`: config dict -> dataset -> run -> launch."""
from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .data.datasets import DatasetStore
from .fsutil import atomic_write_text, read_json
from .project import project_root
from .runs import find_resumable, get_run, new_run_id, write_status
from .spec import JobSpec, config_hash
from .topology import process_count
from .workspace import RunPaths, Workspace


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


def prepare_dataset(ws: Workspace, dataset_cfg: dict) -> dict:
    from .config.schema import DatasetConfig, from_dict

    progress = _DownloadProgress()
    try:
        return DatasetStore(ws).prepare(from_dict(DatasetConfig, dataset_cfg), progress).to_json()
    finally:
        progress.close()


def choose_run(ws: Workspace, cfg: dict, chash: str) -> tuple[str, bool]:
    """(run id, resuming?) per run.resume: auto resumes an interrupted identical run."""
    resume = cfg["run"]["resume"]
    if resume not in ("auto", "never"):
        return get_run(ws, resume).id, True
    if resume == "auto":
        previous = find_resumable(ws, cfg["run"]["experiment"], chash)
        if previous is not None:
            return previous.id, True
    return new_run_id(), False


def create_run(cfg: dict, overrides: list[str], echo=print, built_env: dict | None = None) -> JobSpec:
    """Prepare the dataset (before any run directory exists), then create or reopen the run."""
    ws = Workspace.at(cfg["workspace"]["root"])
    root = project_root()
    files = None
    if cfg["run"]["snapshot_source"]:   # a too-big project is refused before anything is fetched
        from .snapshot import check_size, project_files

        files = project_files(root, ws.root)
        check_size(root, files, cfg["run"]["snapshot_max_mb"])
    dataset = prepare_dataset(ws, cfg["dataset"])
    chash = config_hash(cfg)
    run_id, resuming = choose_run(ws, cfg, chash)
    experiment = cfg["run"]["experiment"]
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
        write_status(paths, "queued", pid=os.getpid(), host=socket.gethostname(),
                     resumed=time.time(), exit_reason=None)
        echo(f"resuming run {run_id} (same experiment and config; run.resume=never starts afresh)")
    else:
        os.replace(tmp, paths.root)  # the run appears whole or not at all
    return spec


def _write_record(target: Path, cfg: dict, overrides: list[str], spec: JobSpec, root: Path,
                  resuming: bool) -> None:
    import yaml

    target.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "outputs"):
        (target / sub).mkdir(exist_ok=True)
    atomic_write_text(target / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    atomic_write_text(target / "overrides.yaml", yaml.safe_dump(list(overrides)))
    spec.write(target / "job_spec.json")
    if resuming:
        return
    if cfg["run"]["snapshot_source"]:
        from .snapshot import snapshot_source

        snapshot_source(root, target / "source", cfg["run"]["snapshot_max_mb"], spec.workspace)
    if cfg["entry"]["name"] == "script":   # the script runs in its own snapshot, <run>/code
        from .script import snapshot_code

        src = cfg["entry"]["source_dir"]
        snapshot_code(Path(os.path.expanduser(src)).resolve() if src else root, target, spec.workspace)
    write_status(RunPaths(target), "queued", run_id=spec.run_id, experiment=spec.experiment,
                 config_hash=spec.config_hash,
                 dataset={k: spec.dataset[k] for k in ("name", "version", "digest")},
                 tags=cfg["run"].get("tags", {}), pid=os.getpid(), host=socket.gethostname(),
                 sweep=cfg["run"].get("sweep"), sweep_job=cfg["run"].get("sweep_job"),
                 overrides=list(overrides),
                 created=spec.created)


ARRAY: list | None = None   # set by trainkit's Hydra launcher: a Slurm sweep's runs, submitted as one job array


@dataclass(frozen=True)
class Outcome:
    """What a launched run ended as (a sweep's job result)."""

    exit_code: int
    run_id: str
    state: str
    metrics: dict


def submit(cfg: dict, overrides: list[str], echo=print) -> Outcome:
    """Create the run and launch it on the configured compute target."""
    from .launch import get_launcher

    launcher = get_launcher(cfg["compute"])
    if not ARRAY:   # a job array's runs share one preflight
        launcher.preflight(cfg)   # e.g. horovod missing: fail before any run directory exists
    built = launcher.build_environment(cfg, echo)   # a bad requirement: fails here too, nothing created
    spec = create_run(cfg, overrides, echo, built)
    echo(f"run {spec.run_id} ({spec.experiment}) -> {spec.run_dir}")
    if ARRAY is not None:   # submitted with the sweep's other runs, by trainkit's Hydra launcher
        ARRAY.append(spec)
        return Outcome(0, spec.run_id, "queued", {})
    rc = launcher.launch(spec)
    if not spec.config["compute"].get("wait", True):   # detached: the launcher printed the job id
        return Outcome(rc, spec.run_id, "queued" if rc == 0 else "failed", {})
    st = read_json(RunPaths(Path(spec.run_dir)).status, {}) or {}
    final = st.get("final_metrics") or {}
    if st.get("state") == "pruned":   # a pruned trial exits 0 too: checked first
        echo(f"run {spec.run_id} pruned: {st.get('exit_reason')}")
    elif rc == 0:
        shown = [k for k in final if k.startswith("test_") and k != "test_count"][:3] or \
            [k for k, v in final.items() if isinstance(v, float) and k not in ("train_time_s", "peak_rss_mb")][:3]
        echo(f"run {spec.run_id} completed: " + " ".join(f"{k}={final[k]:.4f}" for k in shown) + f" -> {spec.run_dir}")
        echo(f"  trainkit runs show {spec.run_id}")
        if st.get("registered_model"):
            echo(f"  trainkit models show {st['registered_model']}")
    else:
        echo(f"run {spec.run_id} {st.get('state', 'failed')}: {st.get('exit_reason')}")
        if st.get("registered_model"):
            echo(f"  the model is registered: trainkit models show {st['registered_model']}")
        echo(f"  logs: trainkit runs logs {spec.run_id}; rerun the same command to resume")
    return Outcome(rc, spec.run_id, st.get("state", "failed"), final)
