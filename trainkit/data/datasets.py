"""FileDataset: fetch from ordered mirrors, verify checksum and format, cache by content, register a
version. Nothing unverified is ever cached and nothing is held whole in memory.

An entry of `dataset.files` is a file, a directory (`train/`) or a glob (`train-*.tfrecord`). Its
`sha256` is that of the file (as served, or of its gunzipped content, which survives mirrors that
re-compress), or for a directory or glob a digest over its sorted `path<TAB>sha256` manifest;
`sha256: null` means "compute it on first fetch and record it": the dataset is then versioned by
that digest (new content, new version). Cached entries live in `blobs/<sha256>-<name key>/` with a marker that
records their size and mtime, so a later run checks them without re-reading gigabytes. For local
sources a stat cache (size, mtime) avoids re-hashing unchanged files of `null` entries.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ChecksumError, DataError, MirrorsExhaustedError, NotFoundError
from ..fsutil import atomic_write_json, read_json
from ..records.workspace import WorkspacePaths
from . import fetch, mirrors

OFFLINE_HINT = ("hint: offline, use dataset=fashion_mnist (or +experiment=fashion_mnist_dnn) after "
                "`apt-get install dataset-fashion-mnist`, or add a reachable mirror to dataset.sources.")
SHA256 = re.compile(r"[0-9a-f]{64}")
Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    digest: str
    description: str
    sources: list[str]
    files: dict[str, list[dict]]   # role -> [{name, path, sha256, size, source, info}] (one per file, or per directory entry)
    created: float
    format: str = "idx"
    info: dict = field(default_factory=dict)       # format facts: input_shape, records per role, columns, classes...
    entries: list[dict] = field(default_factory=list)   # the config's entries with the sha256 each resolved to
    config: dict = field(default_factory=dict)    # the dataset config it was verified with (format keys, label, ...)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "DatasetVersion":
        files = {role: v if isinstance(v, list) else [v] for role, v in d["files"].items()}   # before 0.2: one dict
        known = set(cls.__dataclass_fields__)
        return cls(**{**{k: v for k, v in d.items() if k in known}, "files": files})


def safe_name(name: str) -> bool:
    """A file entry names something inside a source directory: a basename, a basename with a
    trailing '/', or a glob over basenames. Never a path that could leave the cache."""
    base = name[:-1] if name.endswith("/") else name
    return bool(base) and "/" not in base and "\\" not in base and base not in (".", "..") and "\0" not in base


class _StatCache:
    """(local path, size, mtime_ns) -> sha256 of files already hashed, so unchanged sources of
    `sha256: null` entries are not read again."""

    def __init__(self, path: Path):
        self.path, self.data = path, read_json(path, {}) or {}

    @staticmethod
    def local(url: str) -> Path | None:
        return Path(url[len("file://"):]) if url.startswith("file://") else Path(url) if "://" not in url else None

    def key(self, url: str) -> str | None:
        p = self.local(url)
        if p is None or not p.is_file():
            return None
        st = p.stat()
        return f"{p}\t{st.st_size}\t{st.st_mtime_ns}"

    def get(self, url: str) -> str | None:
        k = self.key(url)
        return self.data.get(k) if k else None

    def put(self, url: str, sha: str) -> None:
        self.put_many([(url, sha)])

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        keys = [(self.key(url), sha) for url, sha in pairs]
        self.data.update({k: sha for k, sha in keys if k})
        if any(k for k, _ in keys):
            atomic_write_json(self.path, self.data)


class DatasetStore:
    """The workspace's dataset cache and version registry."""

    def __init__(self, workspace: WorkspacePaths):
        self.ws = workspace
        self.stat_cache = _StatCache(workspace.datasets / "stat-cache.json")

    # ------------------------------------------------------------------ cache
    def _blob_dir(self, sha: str, name: str, kind: str) -> Path:
        """blobs/<sha256>-<16 hex digits of the entry's kind and name>: identical bytes listed under
        two names are two cache entries, so preparing one never touches the other's copy."""
        if not SHA256.fullmatch(sha):
            raise DataError(f"expected a sha256 of 64 lowercase hex digits, got {sha!r}")
        return self.ws.blobs / f"{sha}-{hashlib.sha256(f'{kind}/{name}'.encode()).hexdigest()[:16]}"

    def _cached(self, sha: str, name: str, kind: str) -> dict | None:
        """The cached entry's record (with its files' paths) when its marker and files are intact;
        a damaged copy (its own entry's, nobody else's) is removed."""
        d = self._blob_dir(sha, name, kind)
        marker = read_json(d / ".entry.json")
        if marker is None:
            return None
        if all(_same_stat(d / m["rel"], m) for m in marker["files"]) and (marker.get("name"), marker.get("kind")) == (name, kind):
            return _with_paths(marker, d)
        shutil.rmtree(d, ignore_errors=True)   # d is blobs/<sha256>-<hex>: always inside the cache
        return None

    def _publish(self, staging: Path, sha: str, record: dict) -> dict:
        """Move a verified staging directory into the cache (a concurrent twin may have won)."""
        for m in record["files"]:
            st = (staging / m["rel"]).stat()
            m.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        final = self._blob_dir(sha, record["name"], record["kind"])
        atomic_write_json(staging / ".entry.json", {**record, "path": str(final / record["root"])})
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, final)
        except OSError:   # already there (another run cached the same content first)
            shutil.rmtree(staging, ignore_errors=True)
        cached = read_json(final / ".entry.json")
        for m in cached["files"]:
            m["path"] = str(final / m["rel"])
        return cached

    # ------------------------------------------------------------------ fetching
    def fetch_entry(self, ds, entry, progress: Progress | None = None) -> dict:
        """A verified, cached copy of one `dataset.files` entry, trying each mirror in order."""
        if not safe_name(entry.name):   # also checked at compose time; this store never trusts a path
            raise DataError(f"dataset.files: expected a file name, a directory name ending in '/' or a glob inside "
                            f"the source, got {entry.name!r}")
        kind = fetch.kind_of(entry.name)
        if entry.sha256:
            hit = self._cached(entry.sha256, entry.name, kind)
            if hit is not None:
                return hit
        attempts: list[tuple[str, str]] = []
        unreachable = True    # no mirror delivered anything that then failed its checks
        for source in mirrors.expand(ds.sources, mirrors.configured(self.ws.root)):   # $TRAINKIT_MIRRORS first
            url = fetch.join(source, entry.name)
            staging = self.ws.blobs / f".staging-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                staging.mkdir(parents=True)
                if kind == "file":
                    return self._fetch_file(ds, entry, source, staging, progress)
                return self._fetch_many(ds, entry, source, staging, kind, progress)
            except DataError as e:
                unreachable = False
                attempts.append((url, str(e).replace(f"{staging}/", "downloaded ")))
            except Exception as e:  # noqa: BLE001 - network, HTTP status, missing file: try the next mirror
                attempts.append((url, f"{type(e).__name__}: {e}"))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        raise MirrorsExhaustedError(ds.name, entry.name, attempts, self._hint(ds) if unreachable else "",
                                    unreachable=unreachable)

    def _hint(self, ds) -> str:
        """What to do when every source is unreachable: the registered version in the cache, if any."""
        cached = self.offline_version(ds)
        if cached is None:
            return OFFLINE_HINT
        return (f"hint: the sources are unreachable; dataset.version={cached.version} trains on the registered "
                f"{ds.name} v{cached.version}, whose files are in the cache (dataset.offline=fallback does that by "
                f"itself for an unpinned dataset), or add a reachable mirror to dataset.sources.")

    def offline_version(self, ds) -> "DatasetVersion | None":
        """The newest registered version of `ds.name` that the config describes (same format, the same
        entries, any pinned sha256 equal) and whose files are all in the cache."""
        want = {(f.role, f.name): f.sha256 for f in ds.files}
        for dv in reversed(self.versions(ds.name)):
            got = {(e["role"], e["name"]): e["sha256"] for e in dv.entries}
            if (dv.format == ds.format and got.keys() == want.keys() and all(s in (None, got[k]) for k, s in want.items())
                    and all(self._cached(e["sha256"], e["name"], fetch.kind_of(e["name"])) for e in dv.entries)):
                return dv
        return None

    def _fetch_file(self, ds, entry, source: str, staging: Path, progress) -> dict:
        url = fetch.join(source, entry.name)
        known = None if entry.sha256 else self.stat_cache.get(url)
        if known:
            hit = self._cached(known, entry.name, "file")
            if hit is not None:
                return hit
        tmp = staging / entry.name
        raw, size = fetch.download(url, tmp, timeout=ds.download_timeout_s, deadline_s=ds.download_deadline_s,
                                   max_bytes=int(ds.max_file_mb * 1e6), progress=progress)
        info = ds.fmt.verify(tmp, entry.role, ds)   # streamed: a gzip bomb stops early here
        sha = self._check_sha(tmp, entry.sha256, raw, ds)
        record = {"name": entry.name, "kind": "file", "sha256": sha, "raw_sha256": raw, "source": url,
                  "root": entry.name, "size": size, "files": [{"rel": entry.name, "sha256": raw, "info": info}]}
        cached = self._publish(staging, sha, record)
        self.stat_cache.put(url, raw)
        return cached

    def _check_sha(self, path: Path, expected: str | None, raw: str, ds) -> str:
        """The sha256 the file is known by: `expected` when the bytes or their gunzipped content
        match it (raises ChecksumError otherwise), else (null) that of the bytes."""
        if not expected or expected == raw:
            return raw
        content = fetch.content_sha256(path, int(ds.max_file_mb * 1e6)) if fetch.is_gzip(path) else None
        if content != expected:
            raise ChecksumError(str(path), expected, [raw] + ([content] if content else []))
        return expected

    def _fetch_many(self, ds, entry, source: str, staging: Path, kind: str, progress) -> dict:
        members = fetch.list_members(source, entry.name)
        if not members:
            raise FileNotFoundError(f"{entry.name}: no files there")
        root = entry.name.rstrip("/") if kind == "dir" else "."
        dirs = fetch.list_dirs(source, entry.name) if kind == "dir" else []
        self._refuse_unsafe(ds, source, entry.name, [rel for rel, _ in members] + dirs, staging / root)
        known = [self.stat_cache.get(url) for _, url in members]
        if not entry.sha256 and all(known):   # unchanged local files: the digest without reading them
            digest = fetch.manifest_digest([{"path": rel, "sha256": s} for (rel, _), s in zip(members, known)])
            hit = self._cached(digest, entry.name, kind)
            if hit is not None:
                return hit
        fmt = ds.fmt
        files, done = [], 0
        label = fetch.join(source, entry.name)
        for d in dirs:
            (staging / root / d).mkdir(parents=True, exist_ok=True)
        for rel, url in members:
            target = staging / root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            raw, size = fetch.download(url, target, timeout=ds.download_timeout_s, deadline_s=ds.download_deadline_s,
                                       max_bytes=int(ds.max_file_mb * 1e6))
            done += size
            if progress:   # one bar for the whole entry, not one per file
                progress(label, done, None)
            info = None if fmt.whole_entry else fmt.verify(target, entry.role, ds)
            files.append({"rel": str(Path(root) / rel), "path": rel, "sha256": raw, "info": info})
        digest = fetch.manifest_digest(files)
        if entry.sha256 and digest != entry.sha256:
            raise ChecksumError(f"{source.rstrip('/')}/{entry.name} (manifest of {len(files)} files)", entry.sha256, [digest])
        hit = self._cached(digest, entry.name, kind)
        if hit is not None:
            return hit
        info = fmt.verify(staging / root, entry.role, ds) if fmt.whole_entry else None
        self.stat_cache.put_many([(url, f["sha256"]) for (_, url), f in zip(members, files)])
        record = {"name": entry.name, "kind": kind, "sha256": digest, "source": fetch.join(source, entry.name),
                  "root": root, "size": sum((staging / f["rel"]).stat().st_size for f in files), "files": files,
                  "info": info}
        return self._publish(staging, digest, record)

    @staticmethod
    def _refuse_unsafe(ds, source: str, entry: str, names: list[str], under: Path) -> None:
        """A source's listing is not trusted (object stores allow keys like `a/../../x`): every
        member must be a plain relative path that stays inside the entry, checked before anything
        is written (a pinned sha256 is only checked after)."""
        from ..names import safe_rel_path

        base = under.resolve()
        for name in names:
            target = (under / name).resolve() if safe_rel_path(name) else None
            if target is None or (target != base and base not in target.parents):
                raise DataError(f"dataset {ds.name}: {source.rstrip('/')}/{entry} lists a member {name!r}: expected a "
                                "relative path inside the entry (no '..', absolute path, backslash or control "
                                "character); nothing was written")

    def clean_staging(self) -> None:
        """Remove what fetches on this host that died mid-way left behind."""
        from ..records.runs import pid_alive

        for d in self.ws.blobs.glob(".staging-*") if self.ws.blobs.is_dir() else []:
            host, pid = (d.name.split("-")[1:3] + ["", ""])[:2]
            if host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid), None):
                shutil.rmtree(d, ignore_errors=True)

    def prepare(self, ds, progress: Progress | None = None) -> DatasetVersion:
        """Fetch and verify every entry, then register (or reuse) the dataset version."""
        self.clean_staging()
        fmt = ds.fmt
        entries = [self.fetch_entry(ds, e, progress) for e in ds.files]
        files: dict[str, list[dict]] = {}
        for spec, got in zip(ds.files, entries):
            files.setdefault(spec.role, []).extend(_units(got, fmt))
        info = fmt.combine(files, ds)
        return self.register(ds, files, info, [{"role": s.role, "name": s.name, "sha256": g["sha256"]}
                                               for s, g in zip(ds.files, entries)])

    def for_run(self, ds, progress: Progress | None = None, warn: Callable[[str], None] = print) -> dict:
        """The version a run trains on, as recorded in its spec: the pinned one (dataset.version), else
        what the sources hold now; when every source of an unpinned dataset is unreachable and
        dataset.offline=fallback, its newest registered version in the cache (`warn` says so once, and
        the record keeps the failed attempts under "offline")."""
        from dataclasses import replace

        if ds.version is not None:
            return self.pinned(ds, progress).to_json()
        try:
            return self.prepare(ds, progress).to_json()
        except MirrorsExhaustedError as e:
            cached = self.offline_version(ds) if e.unreachable and ds.offline == "fallback" else None
            if cached is None:
                raise
            attempts = e.attempts
        warn(f"dataset {ds.name}: its sources are unreachable ({'; '.join(f'{u}: {r}' for u, r in attempts)}); "
             f"training on its newest registered version in the cache, {ds.name} v{cached.version} (digest "
             f"{cached.digest[:12]}, registered {time.strftime('%Y-%m-%d %H:%M', time.localtime(cached.created))}). "
             f"dataset.offline=error fails instead; dataset.version={cached.version} pins it")
        dv = self.pinned(replace(ds, version=cached.version), progress)
        return {**dv.to_json(), "offline": {"fallback": True, "attempts": [list(a) for a in attempts]}}

    def pinned(self, ds, progress: Progress | None = None) -> DatasetVersion:
        """dataset.version=N: exactly that version's files (each entry fetched again, if it left
        the cache, against the sha256 the version recorded); NotFound names the versions there are."""
        from dataclasses import replace

        from ..config.schema import DataFile

        dv = self.get(ds.name, ds.version)
        pinned = replace(ds, files=[DataFile(name=e["name"], sha256=e["sha256"], role=e["role"]) for e in dv.entries],
                         sources=list(ds.sources) or list(dv.sources))
        got = self.prepare(pinned, progress)
        if got.digest != dv.digest:   # the same entries and digests can only give the same version
            raise DataError(f"dataset {ds.name} v{ds.version}: expected digest {dv.digest}, got {got.digest}")
        return dv

    # ------------------------------------------------------------------ versions
    @staticmethod
    def digest(entries: list[dict]) -> str:
        lines = sorted(f"{e['role']}:{e['sha256']}" for e in entries)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def _versions_dir(self, name: str) -> Path:
        from ..names import valid_name

        if not valid_name(name):
            raise DataError(f"dataset.name: expected 1-128 letters, digits, '.', '_' or '-', got {name!r}")
        return self.ws.datasets / "registry" / name

    def register(self, ds, files: dict[str, list[dict]], info: dict, entries: list[dict]) -> DatasetVersion:
        """Same content -> same version; new content -> the next number, published atomically and
        exclusively (a crash leaves no partial version file; the number comes from the file names)."""
        digest = self.digest(entries)
        for existing in self.versions(ds.name):
            if existing.digest == digest:
                return existing
        vdir = self._versions_dir(ds.name)
        vdir.mkdir(parents=True, exist_ok=True)
        while True:
            version = max(_numbers(vdir), default=0) + 1
            dv = DatasetVersion(ds.name, version, digest, ds.description, list(ds.sources), files, time.time(),
                                ds.format, info, entries, asdict(ds))
            tmp = vdir / f".v{version}.json.tmp-{uuid.uuid4().hex[:8]}"
            tmp.write_text(json.dumps(dv.to_json(), indent=2))
            try:
                os.link(tmp, vdir / f"v{version}.json")   # exclusive and atomic: whole or absent
                return dv
            except FileExistsError:
                continue
            finally:
                tmp.unlink(missing_ok=True)

    def versions(self, name: str) -> list[DatasetVersion]:
        vdir = self._versions_dir(name)
        out = []
        for n in sorted(_numbers(vdir)):
            try:
                out.append(DatasetVersion.from_json(json.loads((vdir / f"v{n}.json").read_text())))
            except (OSError, ValueError, TypeError, KeyError):
                continue   # unreadable (a crash before this fix, a full disk): skipped, its number stays taken
        return out

    def names(self) -> list[str]:
        root = self.ws.datasets / "registry"
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        versions = self.versions(name)
        if version is not None:
            versions = [v for v in versions if v.version == version]
        if not versions:
            have = [v.version for v in self.versions(name)]
            known = (f"versions of {name}: {', '.join(map(str, have))}" if have else
                     "registered datasets: " + (", ".join(self.names()) or "none yet"))
            raise NotFoundError(f"dataset {name!r}" + (f" version {version}" if version else "") + f" not found; {known}")
        return versions[-1]


def _numbers(vdir: Path) -> list[int]:
    if not vdir.is_dir():
        return []
    return [int(m.group(1)) for p in vdir.iterdir() if (m := re.fullmatch(r"v(\d+)\.json", p.name))]


def _same_stat(path: Path, m: dict) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_size == m.get("size") and st.st_mtime_ns == m.get("mtime_ns") and not path.is_symlink()


def _with_paths(record: dict, blob: Path) -> dict:
    for m in record["files"]:
        m["path"] = str(blob / m["rel"])
    record["path"] = str(blob / record["root"])
    return record


def _units(entry: dict, fmt) -> list[dict]:
    """What a format reads: one unit per file, or (image folders) the entry's directory."""
    base = {"entry": entry["name"], "source": entry["source"]}
    if fmt.whole_entry:
        return [{**base, "path": entry["path"], "sha256": entry["sha256"], "size": entry["size"], "info": entry["info"]}]
    return [{**base, "path": f["path"], "sha256": f["sha256"], "size": f["size"], "info": f["info"]} for f in entry["files"]]
