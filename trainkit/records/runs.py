"""Run records: ids, status.json, listing and finding the run to resume."""
from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError, UsageError
from ..fsutil import atomic_write_json, read_json
from .workspace import RunPaths, WorkspacePaths

STATES = ("queued", "running", "completed", "failed", "cancelled", "pruned")
FINISHED = ("completed", "failed", "cancelled", "pruned")


def run_tags(run_dir: Path | str, status: dict) -> dict:
    """A run's tags: its config's run.tags (in status.json) and, over them, what its script or a
    tracking client added later (tags.json). The API, the CLI and the dashboard all read this."""
    return {**(status.get("tags") or {}), **(read_json(RunPaths(Path(run_dir)).tags) or {})}


def new_run_id(now: float | None = None) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(3)


def process_identity(pid: int) -> str | None:
    """`<boot id>:<start time>` of a live process on this host, which tells it from a later process
    that got the same pid (None when there is no such process)."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() + ":" + start
    except (OSError, IndexError):
        return None


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGKILL this child if its parent dies, so a killed supervisor leaves no orphans."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def write_status(paths: RunPaths, state: str, **fields) -> dict:
    """Merge `fields` into status.json atomically and set the state. A recorded `pid` (of this
    host) gets its `pid_id`, so a later check never mistakes a reused pid for it."""
    assert state in STATES, state
    if fields.get("pid") and "pid_id" not in fields:
        fields["pid_id"] = process_identity(fields["pid"])
    status = read_json(paths.status, {}) or {}
    status.update(fields, state=state, updated=time.time())
    if state == "running":
        status.setdefault("started", time.time())
    if state in FINISHED:
        status["ended"] = time.time()
    atomic_write_json(paths.status, status)
    return status


def pid_alive(pid: int | None, host: str | None, pid_id: str | None = None) -> bool:
    """Whether the process that owns a run still exists (another host's process is assumed alive);
    with `pid_id`, only if it is that very process (not a later one that reused the pid)."""
    if host is not None and host != socket.gethostname():
        return True
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return pid_id is None or process_identity(pid) == pid_id


@dataclass(frozen=True)
class RunInfo:
    """One run's record as found on disk, with its raw status.json (the Job handle,
    `trainkit.compute.job_for`, tells its state)."""

    id: str
    experiment: str
    path: Path
    status: dict


def list_runs(ws: WorkspacePaths, experiment: str | None = None) -> list[RunInfo]:
    out = []
    if not ws.experiments.is_dir():
        return out
    for exp_dir in sorted(ws.experiments.iterdir()):
        if experiment and exp_dir.name != experiment:
            continue
        runs_dir = exp_dir / "runs"
        if not runs_dir.is_dir():
            continue
        for run_dir in runs_dir.iterdir():
            status = read_json(RunPaths(run_dir).status) if run_dir.is_dir() else None   # a stray file is no run
            if status is not None:
                out.append(RunInfo(run_dir.name, exp_dir.name, run_dir, status))
    return sorted(out, key=lambda r: r.id)


def get_run(ws: WorkspacePaths, run_id: str, runs: list[RunInfo] | None = None) -> RunInfo:
    """The run whose id is (or starts with) `run_id`; pass `runs` to look up many without rescanning."""
    matches = [r for r in (list_runs(ws) if runs is None else runs) if r.id == run_id or r.id.startswith(run_id)]
    if len(matches) != 1:
        what = "no run" if not matches else f"{len(matches)} runs"
        raise NotFoundError(f"{what} matching {run_id!r} in workspace {ws.root}; "
                            "see `trainkit runs list`")
    return matches[0]


def metric_rows(path: Path) -> list[dict]:
    """The rows of a metrics.jsonl; a torn or partly written line (a writer killed mid-line, a
    reader racing a writer) is skipped, never an error."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_history(run_dir: Path) -> list[dict]:
    """metrics.jsonl of a run: one dict per finished epoch (trainkit's loop), or per step a script
    logged values at (`trainkit.run`; the chief's, merged by step, images left out)."""
    rows = metric_rows(RunPaths(run_dir).metrics)
    if not rows or "epoch" in rows[0]:
        return rows
    by_step: dict[int, dict] = {}
    for row in rows:
        if "rank" not in row and "image" not in row and "step" in row:
            by_step.setdefault(row["step"], {"step": row["step"]}).update(
                {k: v for k, v in row.items() if k not in ("time",)})
    return [by_step[s] for s in sorted(by_step)]


def run_files(root: Path) -> list[Path]:
    """A run's regular files; symbolic links are never followed (nor listed)."""
    import os

    out = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [n for n in dirs if not (Path(d) / n).is_symlink()]
        out += [Path(d) / n for n in names if not (Path(d) / n).is_symlink() and (Path(d) / n).is_file()]
    return out


def download(run_root: Path, run_id: str, prefix: str, dest: Path, strip_prefix: bool = False,
             overwrite: bool = False, hint: str = "pass --overwrite or another --to") -> list[Path]:
    """Copy a run's files under `prefix` to `dest`, like the seeds' run.download_files(prefix,
    output_directory); returns the files written."""
    import shutil

    prefix = prefix.strip("/")
    files = sorted(p for p in run_files(run_root)
                   if not prefix or (rel := p.relative_to(run_root).as_posix()) == prefix or rel.startswith(prefix + "/"))
    if not files:
        tops = sorted(p.name for p in run_root.iterdir())
        raise NotFoundError(f"run {run_id}: no files under prefix {prefix!r} (top level: {', '.join(tops)})")
    strip = prefix if strip_prefix else ""
    base = run_root / strip
    targets = [(f, dest / (f.relative_to(base) if f != base else f.name)) for f in files]
    clash = [str(t) for _, t in targets if t.exists()]
    if clash and not overwrite:
        raise UsageError(f"{len(clash)} target file(s) exist, e.g. {clash[0]}; {hint}")
    for src, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return [t for _, t in targets]
