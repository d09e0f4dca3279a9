"""Source snapshot of a run: git commit + uncommitted diff, or a copy honouring .trainkitignore."""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from pathlib import Path

from .fsutil import atomic_write_json

DEFAULT_IGNORE = [".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info",
                  "workspace", "outputs", "multirun", "*.whl"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def snapshot_source(project_root: Path, dest: Path) -> dict:
    """Write dest/source.json (+ diff.patch or files/); return the summary stored with the run."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        commit = _git(project_root, "rev-parse", "HEAD").strip()
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        commit = None
    if commit:
        diff = _git(project_root, "diff", "HEAD", "--binary")
        untracked = _git(project_root, "ls-files", "--others", "--exclude-standard").splitlines()
        (dest / "diff.patch").write_text(diff)
        for rel in untracked:
            src = project_root / rel
            if src.is_file() and src.stat().st_size < 1 << 20:
                (dest / "untracked" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / "untracked" / rel)
        info = {"kind": "git", "commit": commit, "dirty": bool(diff.strip() or untracked),
                "untracked": untracked}
    else:
        patterns = DEFAULT_IGNORE + read_ignore(project_root / ".trainkitignore")
        copied = copy_tree(project_root, dest / "files", patterns)
        info = {"kind": "copy", "files": copied, "ignore": patterns}
    info["project_root"] = str(project_root)
    atomic_write_json(dest / "source.json", info)
    return info


def read_ignore(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    return any(fnmatch.fnmatch(rel, p) or any(fnmatch.fnmatch(part, p) for part in parts)
               for p in (q.rstrip("/") for q in patterns))


def copy_tree(root: Path, dest: Path, patterns: list[str]) -> int:
    """Copy every file under root that no pattern ignores; ignored directories are not entered."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel = (lambda n: n) if rel_dir == "." else (lambda n: f"{rel_dir}/{n}")
        dirnames[:] = sorted(d for d in dirnames if not ignored(rel(d), patterns))
        for name in sorted(filenames):
            if not ignored(rel(name), patterns):
                (dest / rel(name)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(dirpath) / name, dest / rel(name))
                count += 1
    return count
