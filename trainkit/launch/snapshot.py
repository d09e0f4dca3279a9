"""The source snapshot of a run: a copy of the project's files in `<run>/source/files/`, plus the git
commit and uncommitted diff when the project is a git repository.

One selection decides what the snapshot holds and what `compute=ssh` ships: in a git repository
the files git knows (tracked, and untracked ones not in .gitignore), otherwise every file; then
minus trainkit's defaults and the patterns in `.trainkitignore` and, as Azure ML reads them,
`.amlignore` or (without one) `.gitignore` (fnmatch patterns, one a line, `#` comments; `!`
negations are not supported). Symbolic links are never followed or copied. More than 10 MB is
copied with a warning; more than `run.snapshot_max_mb` is refused (as Azure ML refuses snapshots
over 300 MB): put data in a dataset, not the project. A run whose code is all trainkit's (no
project, and nothing of the working directory named in its config) snapshots nothing
(launch/project.py snapshot_root).

An entry=script run's own snapshot, `<run>/code`, is recorded with each file's content hash
(`<run>/code.json`): a rerun compares it with what the same selection of `entry.source_dir` holds
now, so a fixed script is never resumed with its old copy (launch/submit.py)."""
from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigError, TrainkitError
from ..fsutil import atomic_write_json, read_json

SOURCE_INFO = "source.json"   # RunPaths.source_info: what the snapshot holds

DEFAULT_IGNORE = [".git", ".venv", "venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".cache",
                  "workspace", "outputs", "multirun", "*.whl", ".ipynb_checkpoints", ".mypy_cache", ".ruff_cache",
                  # secrets by name: never snapshotted, never shipped to a host, even when no ignore file lists them
                  ".env", ".env.*", "*.pem", "*.key", ".netrc", ".pgpass", "id_rsa*", "id_ed25519*", "id_ecdsa*",
                  ".ssh", ".aws", ".gnupg", "credentials.json", ".trainkit",
                  ".git-credentials", ".pypirc", ".npmrc", "*.docker/config.json", "*.kube/config", "*.config/gcloud",
                  "application_default_credentials.json", "*.p12", "*.pfx", ".vault-token", ".s3cfg", ".boto",
                  "*.tfvars", "id_dsa*"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def git_commit(root: Path) -> str | None:
    try:
        return _git(root, "rev-parse", "HEAD").strip() or None
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        return None


def read_ignore(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [ln.strip() for ln in path.read_text(errors="replace").splitlines()
            if ln.strip() and not ln.startswith(("#", "!"))]      # negations are not supported: left out


def ignore_files(root: Path) -> list[Path]:
    """The ignore files a project's snapshot honours: `.trainkitignore`, and Azure ML's rule for the
    others: `.amlignore` when there is one, else `.gitignore`."""
    aml = root / ".amlignore"
    return [root / ".trainkitignore", aml if aml.exists() else root / ".gitignore"]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether `rel` (a POSIX path under the root) matches a pattern: one without a slash matches
    any part of the path, one with a slash the path or a folder it is in (`/x` anchors at the root)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for q in patterns:
        p = q.strip().rstrip("/")
        p = p[3:] if p.startswith("**/") else p
        if not p:
            continue
        if "/" in p:
            if any(fnmatch.fnmatch(prefix, p.lstrip("/")) for prefix in prefixes):
                return True
        elif any(fnmatch.fnmatch(part, p) for part in parts):
            return True
    return False


def _walk(root: Path, patterns: list[str]) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):   # os.walk does not follow directory links
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel = (lambda n: n) if rel_dir == "." else (lambda n: f"{rel_dir}/{n}")
        dirnames[:] = sorted(d for d in dirnames if not ignored(rel(d), patterns))
        out += [rel(n) for n in filenames if not ignored(rel(n), patterns)]
    return out


WORKSPACE_DIRS = ["datasets", "experiments", "models", "environments", "sweeps", "serving-cache"]


def workspace_ignore(root: Path, workspace: Path | str | None) -> list[str]:
    """Patterns that keep a workspace inside the project (or the project used as the workspace)
    out of its snapshot: its data blobs and runs are not source code."""
    if workspace is None:
        return []
    root, ws = Path(root).resolve(), Path(workspace).expanduser().resolve()
    if ws == root:
        return [f"{d}/*" for d in WORKSPACE_DIRS]
    return [ws.relative_to(root).as_posix() + "/*"] if root in ws.parents else []


def project_files(root: Path, workspace: Path | str | None = None) -> list[str]:
    """The project's files as sorted relative POSIX paths: regular files only, ignores applied
    (and the `workspace`'s own directories when it lies inside the project)."""
    root = Path(root)
    patterns = DEFAULT_IGNORE + [p for f in ignore_files(root) for p in read_ignore(f)] + workspace_ignore(root, workspace)
    try:
        listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        candidates = [f for f in listed if f and not ignored(f, patterns)]
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        candidates = _walk(root, patterns)
    return sorted(f for f in candidates if (root / f).is_file() and not (root / f).is_symlink()
                  and not any(p.is_symlink() for p in (root / f).parents if root in p.parents))


WARN_MB = 10.0      # a snapshot bigger than this is copied with a warning naming its biggest files


def biggest(sizes: dict[str, int], n: int = 5) -> str:
    return ", ".join(f"{f} ({s / 1e6:.1f} MB)" for f, s in sorted(sizes.items(), key=lambda kv: -kv[1])[:n])


def check_size(root: Path, files: list[str], max_mb: float, warn=None) -> int:
    """Total bytes of `files`; refuses more than max_mb, naming the biggest files; `warn(text)`
    is told about more than WARN_MB."""
    sizes = {f: (root / f).stat().st_size for f in files}
    total = sum(sizes.values())
    if warn is not None and WARN_MB * 1e6 < total <= max_mb * 1e6:
        warn(f"warning: the source snapshot of {root} holds {total / 1e6:.1f} MB in {len(files)} files "
             f"(biggest: {biggest(sizes, 3)}); keep data and outputs out of it with .trainkitignore, "
             ".amlignore or .gitignore")
    if total > max_mb * 1e6:
        raise ConfigError([f"run.snapshot_max_mb: the project {root} holds {total / 1e6:.1f} MB in {len(files)} files, "
                           f"more than the {max_mb:g} MB allowed; biggest: {biggest(sizes)}. Add them to "
                           f"{root / '.trainkitignore'} (data belongs in a dataset) or raise run.snapshot_max_mb"])
    return total


def snapshot_source(project_root: Path | None, dest: Path, max_mb: float = 300.0,
                    workspace: Path | str | None = None) -> dict:
    """Copy the project's files to dest/files/, write dest/source.json (+ diff.patch in git).
    `project_root` None: the run's code is all trainkit's; the record says so and holds no files."""
    if project_root is None:
        dest.mkdir(parents=True, exist_ok=True)
        info = {"kind": "none", "project_root": None, "files": 0, "bytes": 0,
                "reason": "no project and no code of the working directory in the config: "
                          "the run's code is trainkit's own"}
        atomic_write_json(dest / SOURCE_INFO, info)
        return info
    root = Path(project_root)
    files = project_files(root, workspace)
    total = check_size(root, files, max_mb)
    for rel in files:
        target = dest / "files" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target, follow_symlinks=False)
    dest.mkdir(parents=True, exist_ok=True)
    info = {"project_root": str(root), "files": len(files), "bytes": total,
            "ignore": [p for f in ignore_files(root) for p in read_ignore(f)]}
    commit = git_commit(root)
    if commit:
        diff = _git(root, "diff", "HEAD", "--binary")
        (dest / "diff.patch").write_text(diff)
        untracked = _git(root, "ls-files", "--others", "--exclude-standard").splitlines()
        info.update(kind="git", commit=commit, dirty=bool(diff.strip() or untracked), untracked=untracked)
    else:
        info["kind"] = "copy"
    atomic_write_json(dest / SOURCE_INFO, info)
    return info


# ------------------------------------------------------------------ a script's code snapshot, by content
def file_hashes(root: Path, files: list[str]) -> dict[str, str]:
    """The sha256 of each of `files` (relative POSIX paths under `root`), by path."""
    out = {}
    for rel in files:
        h = hashlib.sha256()
        with open(Path(root) / rel, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[rel] = h.hexdigest()
    return out


def tree_hash(hashes: dict[str, str]) -> str:
    """One digest of a set of files: their paths and contents (not their times)."""
    h = hashlib.sha256()
    for rel in sorted(hashes):
        h.update(f"{rel}\0{hashes[rel]}\n".encode())
    return h.hexdigest()[:16]


def code_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The files that differ between two snapshots' hashes, sorted: 'a.py' (changed),
    'b.py (new)', 'c.py (removed)'."""
    label = lambda f: f if f in before and f in after else f"{f} (new)" if f in after else f"{f} (removed)"  # noqa: E731
    return [label(f) for f in sorted(before.keys() | after.keys()) if before.get(f) != after.get(f)]


def source_code(source_dir: Path, workspace: Path | str | None = None) -> dict[str, str]:
    """What a snapshot of `source_dir` would hold now, as file hashes (the same selection)."""
    return file_hashes(source_dir, project_files(source_dir, workspace))


def write_code_info(info_path: Path, source_dir: Path, hashes: dict[str, str]) -> dict:
    """Record a code snapshot: its source directory, hash and each file's hash."""
    info = {"source_dir": str(source_dir), "hash": tree_hash(hashes), "files": hashes}
    atomic_write_json(info_path, info)
    return info


def recorded_code(info_path: Path, code_dir: Path, names: list[str]) -> dict[str, str]:
    """The file hashes a run's code snapshot was recorded with; for a run recorded before they
    were (no code.json), the hashes of its copies of `names` (the files the source holds now)."""
    info = read_json(info_path)
    if info is not None:
        return dict(info["files"])
    return file_hashes(code_dir, [n for n in names if (code_dir / n).is_file() and not (code_dir / n).is_symlink()])


RUN_LINKS = ("outputs", "logs")   # <run>/code's links to the run's own folders, never source files


def refresh_code(source_dir: Path, code_dir: Path, before: dict[str, str], after: dict[str, str],
                 max_mb: float = 300.0) -> list[str]:
    """Bring an existing code snapshot to the source's current files in place: changed and new
    files copied, removed ones deleted; anything else there (files the script wrote, the run's
    outputs and logs) is left alone. Returns what changed (code_changes)."""
    changed = code_changes(before, after)
    if not changed:
        return changed
    check_size(source_dir, list(after), max_mb)
    for rel in after:
        if rel.split("/")[0] in RUN_LINKS:
            raise ConfigError([f"entry.source_dir: {source_dir / rel} is inside '{rel.split('/')[0]}'; expected "
                               f"no '{rel.split('/')[0]}' there (./{rel.split('/')[0]} of a script is the run's own)"])
    for rel in before.keys() - after.keys():
        target = code_dir / rel
        if target.is_file() and not target.is_symlink():
            target.unlink()
    for rel in (r for r in after if before.get(r) != after[r]):
        target = code_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():   # never write through a link the script left
            target.unlink()
        shutil.copy2(source_dir / rel, target, follow_symlinks=False)
    return changed


def snapshot_code(source_dir: Path, run_dir: Path, workspace: str | None = None, max_mb: float = 300.0) -> Path:
    """<run>/code: the script's source directory as the snapshot selection holds it, plus
    `outputs` and `logs` links to the run's own (relative, so they survive shipping). More than
    `max_mb` (run.snapshot_max_mb) is refused, as the source snapshot."""
    from ..records.workspace import RunPaths

    code = RunPaths(run_dir).code
    files = project_files(source_dir, workspace)
    check_size(source_dir, files, max_mb)
    for rel in files:
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_dir / rel, code / rel, follow_symlinks=False)
    code.mkdir(parents=True, exist_ok=True)
    for name in ("outputs", "logs"):
        link = code / name
        if link.exists() or link.is_symlink():
            raise TrainkitError(f"entry.source_dir: {source_dir / name} exists; expected no '{name}' there "
                                f"(./{name} of a script is the run's own)")
        link.symlink_to(Path("..") / name)
    return code
