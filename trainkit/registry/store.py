"""The model registry: named models with integer versions, aliases and sha256 manifests, on fsspec.

Layout under the root (any fsspec URL; default `<workspace>/models`):

    <name>/claims/<N>            exclusive-create markers: version N is taken, forever (never reused);
                                 <N>.bid-<owner> while a bid is pending (filesystems without O_EXCL)
    <name>/versions/<N>/         artifacts/ plus entry.json; visible only once entry.json exists
    <name>/aliases/<alias>       the version number an alias points at
    <name>/.staging/<owner>/     a registration in progress (owner = host__pid__start__namespace__id):
                                 artifacts/ and a heartbeat file its process rewrites every HEARTBEAT_S

Registration stages every artifact (hashing as it copies), claims the next free number with an
exclusive create, moves the staged tree into place, checks that every manifest file arrived and
writes entry.json last; only then does it remove its staging directory (and heartbeat). A crash at
any step leaves nothing visible. The next call removes leftovers whose registration can no longer
finish (`_gone`): proven dead in our own pid namespace, or silent for STALE_S. This module imports
no TensorFlow.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import IntegrityError, NotFoundError, UsageError
from ..fsutil import atomic_write_bytes
from ..names import SAFE_PATH, check_name, safe_rel_path, valid_name  # noqa: F401 (importers of the registry's names)
from .rootfs import RootFS

HEARTBEAT_S = 5.0  # a registration rewrites its heartbeat this often, from a thread
STALE_S = 600.0    # leftovers of another host or container go once their heartbeat is this old (> clock skew)


def check_manifest(entry: dict, where: str) -> dict:
    """An entry whose manifest paths are all safe; a tampered one is an IntegrityError."""
    bad = [rel for rel in entry.get("manifest", {}) if not safe_rel_path(rel)]
    if bad:
        raise IntegrityError(f"{where}: manifest path: expected {SAFE_PATH}, got {', '.join(map(repr, bad))}; "
                             "the entry was tampered with or corrupted, nothing was read or written")
    return entry


@dataclass(frozen=True)
class ModelRef:
    """`name`, `name:version` or `name@alias`."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> "ModelRef":
        if "@" in text:
            name, alias = text.split("@", 1)
            return cls(check_name(name), alias=check_name(alias, "alias"))
        name, sep, ver = text.partition(":")
        if sep and not ver.isdigit():
            raise UsageError(f"model reference {text!r}: expected NAME, NAME:VERSION (a positive "
                               f"integer) or NAME@ALIAS, got version {ver!r}")
        return cls(check_name(name), int(ver) if sep else None)

    def __str__(self) -> str:
        return self.name + (f":{self.version}" if self.version else "") + (f"@{self.alias}" if self.alias else "")


def _owner() -> str:
    """host__pid__start__namespace__id: who registers, where its pid means something, since when;
    unique. Leftovers are judged by this name until (and besides) their heartbeat."""
    return f"{socket.gethostname()}__{os.getpid()}__{int(time.time())}__{_namespace()}__{uuid.uuid4().hex[:8]}"


@functools.cache
def _namespace() -> str:
    """A digest of this kernel boot and pid namespace ('' where unknown): a pid names one process
    only inside one. Containers sharing a host name differ here."""
    try:
        ident = Path("/proc/sys/kernel/random/boot_id").read_text().strip() + os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def _pid_gone(pid: str) -> bool:
    """No such process in our pid namespace (a zombie counts as gone: it finishes nothing)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def _gone(owner: str, last_beat: float) -> bool:
    """Whether the registration `owner` can no longer finish: its process is dead in our own pid
    namespace (same boot, same namespace: the pid means the same process), or it has shown no sign
    of life (start, heartbeat) for STALE_S. A pid read in another container proves nothing."""
    parts = owner.rsplit("__", 4)   # legacy names (host__pid__id) have no time and no namespace
    pid, started, ns = (parts[1], parts[2], parts[3]) if len(parts) == 5 else ("", "", "")
    if ns and ns == _namespace() and _pid_gone(pid):
        return True
    return time.time() - max(last_beat, float(started) if started.isdigit() else 0.0) > STALE_S


class _Heartbeat:
    """Calls `beat` now and then every HEARTBEAT_S from a daemon thread until the block ends."""

    def __init__(self, beat: Callable[[], None]):
        self.beat, self.stop = beat, threading.Event()
        self.thread = threading.Thread(target=self._run, name="registry-heartbeat", daemon=True)

    def __enter__(self) -> "_Heartbeat":
        self.beat()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat only lets others clean up sooner; publish re-checks
                pass


class Registry(RootFS):
    """Versioned models under one fsspec root. Safe for many processes and hosts at once."""

    # ------------------------------------------------------------------ paths
    def url_of(self, name: str, version: int) -> str:
        path = self._p(name, "versions", version)
        return path if self.local else self.fs.unstrip_protocol(path)

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False)
                      if not p.rstrip("/").rsplit("/", 1)[-1].startswith("."))

    def versions(self, name: str) -> list[int]:
        """Visible (complete) versions of a model, ascending."""
        base = self._p(check_name(name), "versions")
        if not self.fs.exists(base):
            return []
        found = []
        for p in self.fs.ls(base, detail=False):
            leaf = p.rstrip("/").rsplit("/", 1)[-1]
            if leaf.isdigit() and self.fs.exists(f"{p.rstrip('/')}/entry.json"):
                found.append(int(leaf))
        return sorted(found)

    def aliases(self, name: str) -> dict[str, int]:
        base = self._p(check_name(name), "aliases")
        if not self.fs.exists(base):
            return {}
        out = {}
        for p in self.fs.ls(base, detail=False):
            leaf = p.rstrip("/").rsplit("/", 1)[-1]
            if not leaf.startswith("."):
                out[leaf] = int(self.fs.cat_file(p).decode().strip())
        return out

    def resolve(self, ref: ModelRef | str) -> tuple[str, int]:
        """(name, version) for a reference; a bare name means the latest version."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        have = self.versions(ref.name)
        if not have:
            known = ", ".join(self.names()) or "none"
            raise NotFoundError(f"model {ref.name!r}: no registered versions in {self.url} (models: {known})")
        if ref.alias:
            aliases = self.aliases(ref.name)
            if ref.alias not in aliases:
                raise NotFoundError(f"model {ref.name!r}: no alias {ref.alias!r} (aliases: "
                                    f"{', '.join(f'{a}->{v}' for a, v in sorted(aliases.items())) or 'none'})")
            version = aliases[ref.alias]
            if version not in have:
                raise NotFoundError(f"{ref}: alias points at version {version}, which no longer exists")
            return ref.name, version
        if ref.version is None:
            return ref.name, have[-1]
        if ref.version not in have:
            raise NotFoundError(f"{ref}: no such version (versions: {', '.join(map(str, have))})")
        return ref.name, ref.version

    def _load_entry(self, name: str, version: int) -> dict:
        """A version's entry.json, refused if a manifest path could leave the version directory."""
        path = self._p(name, "versions", version, "entry.json")
        return check_manifest(json.loads(self.fs.cat_file(path)), f"{name}:{version} ({path})")

    def entry(self, ref: ModelRef | str) -> dict:
        name, version = self.resolve(ref)
        entry = self._load_entry(name, version)
        entry["aliases"] = sorted(a for a, v in self.aliases(name).items() if v == version)
        entry["path"] = self.url_of(name, version)
        return entry

    # ------------------------------------------------------------------ writing
    def register(self, name: str, artifacts: dict[str, str | Path], metadata: dict,
                 aliases: list[str] = (), on_staged: Callable[[], None] | None = None) -> dict:
        """Register local files/directories as the next version of `name`; returns the entry.

        `artifacts` maps a name inside the version (e.g. "model.keras") to a local path.
        """
        check_name(name)
        for a in aliases:
            check_name(a, "alias")
        self._check_dests(artifacts)
        missing = [f"{k} ({v})" for k, v in artifacts.items() if not Path(v).exists()]
        if missing:
            raise NotFoundError(f"cannot register {name!r}: missing artifact(s) {', '.join(missing)}")
        self.clean_leftovers(name)
        with self._staging(name) as (staging, owner):
            manifest = {}
            for dest, src in artifacts.items():
                manifest.update(self._put_hashed(Path(src), f"{staging}/artifacts", dest))
            if on_staged:
                on_staged()
            version = self._claim(name, owner)
            final = self._p(name, "versions", version)
            self._move(f"{staging}/artifacts", f"{final}/artifacts")
            self._publish(final, {**metadata, "name": name, "version": version, "created": time.time(),
                                  "manifest": dict(sorted(manifest.items()))})
        for a in aliases:
            self.set_alias(name, a, version)
        return self.entry(ModelRef(name, version))

    def update(self, name: str, version: int, fields: dict, artifacts: dict[str, str | Path] = {}) -> dict:
        """Add or replace artifacts of an existing version and merge `fields` into its entry."""
        name, version = self.resolve(ModelRef(name, version))
        self._check_dests(artifacts)
        base = self._p(name, "versions", version)
        entry = self._load_entry(name, version)
        manifest = dict(entry.get("manifest", {}))
        self.clean_leftovers(name)
        for dest, src in artifacts.items():
            with self._staging(name) as (tmp, _):
                hashes = self._put_hashed(Path(src), f"{tmp}/artifacts", dest)
                if not Path(src).is_file():
                    self._rm(f"{base}/artifacts/{dest}")
                self._move(f"{tmp}/artifacts/{dest}", f"{base}/artifacts/{dest}")
            manifest = {k: v for k, v in manifest.items() if not (k == dest or k.startswith(dest + "/"))}
            manifest.update(hashes)
        entry.update(fields, manifest=dict(sorted(manifest.items())), updated=time.time())
        self._write_json(f"{base}/entry.json", entry)
        return self.entry(ModelRef(name, version))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        check_name(alias, "alias")
        if alias.isdigit():
            raise UsageError(f"alias: expected a name that is not a number (numbers are versions), got {alias!r}")
        self.resolve(ModelRef(name, version))
        self._write_bytes(self._p(name, "aliases", alias), f"{version}\n".encode())

    def remove_alias(self, name: str, alias: str) -> None:
        path = self._p(check_name(name), "aliases", check_name(alias, "alias"))
        if not self.fs.exists(path):
            raise NotFoundError(f"model {name!r}: no alias {alias!r}")
        self.fs.rm(path)

    def delete(self, name: str, version: int) -> None:
        """Delete one version (its number stays claimed) and the aliases that pointed at it."""
        name, version = self.resolve(ModelRef(name, version))
        for a, v in self.aliases(name).items():
            if v == version:
                self.fs.rm(self._p(name, "aliases", a))
        base = self._p(name, "versions", version)
        self.fs.rm(f"{base}/entry.json")  # invisible from here on
        self._rm(base)

    # ------------------------------------------------------------------ integrity
    def verify(self, name: str, version: int) -> list[str]:
        """Problems found re-hashing a version's artifacts against its manifest (empty = intact)."""
        entry = self.entry(ModelRef(name, version))
        base = f"{self._p(name, 'versions', version)}/artifacts"
        problems = []
        present = {p[len(base) + 1:] for p in self.fs.find(base)} if self.fs.exists(base) else set()
        for rel, want in entry["manifest"].items():
            if rel not in present:
                problems.append(f"{rel}: missing")
                continue
            h = hashlib.sha256()
            with self.fs.open(f"{base}/{rel}", "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != want["sha256"]:
                problems.append(f"{rel}: sha256 expected {want['sha256']}, got {h.hexdigest()}")
        problems += [f"{rel}: not in the manifest" for rel in sorted(present - set(entry["manifest"]))]
        return problems

    def require_intact(self, name: str, version: int) -> None:
        problems = self.verify(name, version)
        if problems:
            raise IntegrityError(f"{name}:{version} failed verification:\n" + "\n".join(f"  - {p}" for p in problems))

    def download(self, name: str, version: int, dest: Path, artifact: str | None = None) -> list[Path]:
        """Copy a version's artifacts (or one of them) into `dest`, verified against the manifest."""
        entry = self.entry(ModelRef(name, version))
        base = f"{self._p(name, 'versions', version)}/artifacts"
        wanted = {k: v for k, v in entry["manifest"].items()
                  if artifact is None or k == artifact or k.startswith(artifact + "/")}
        if not wanted:
            tops = sorted({k.split("/", 1)[0] for k in entry["manifest"]})
            raise NotFoundError(f"{name}:{version}: no artifact {artifact!r} (artifacts: {', '.join(tops)})")
        targets = {rel: _inside(Path(dest), rel) for rel in wanted}   # every path checked before any write
        for rel, want in wanted.items():
            data = self.fs.cat_file(f"{base}/{rel}")
            if hashlib.sha256(data).hexdigest() != want["sha256"]:
                raise IntegrityError(f"{name}:{version}/{rel}: sha256 mismatch while downloading; "
                                     f"run `trainkit models verify {name}:{version}`")
            atomic_write_bytes(targets[rel], data)
        return list(targets.values())

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _staging(self, name: str) -> Iterator[tuple[str, str]]:
        """(path, owner) of a staging directory whose heartbeat stays fresh until the block ends;
        then it is removed."""
        owner = _owner()
        path = self._p(name, ".staging", owner)
        try:
            with _Heartbeat(lambda: self._write_json(f"{path}/heartbeat", {"owner": owner, "time": time.time()})):
                yield path, owner
        finally:
            self._rm(path)

    def _publish(self, final: str, entry: dict) -> None:
        """Write entry.json (the version becomes visible) only if every manifest file is in place."""
        base = f"{final}/artifacts"
        found = {p[len(base) + 1:]: info.get("size") for p, info in self.fs.find(base, detail=True).items()}
        bad = [f"{rel} (expected {m['size']} bytes, got {found.get(rel, 'no file')})"
               for rel, m in entry["manifest"].items() if found.get(rel) != m["size"]]
        if bad:
            self._rm(final)
            raise IntegrityError(f"{entry['name']}:{entry['version']}: expected every manifest artifact in {base} "
                                 f"before publishing, missing or wrong size: {', '.join(bad)}; nothing was "
                                 "published (the version number stays used)")
        self._write_json(f"{final}/entry.json", entry)

    @staticmethod
    def _check_dests(artifacts: dict) -> None:
        bad = [dest for dest in artifacts if not safe_rel_path(dest)]
        if bad:
            raise UsageError(f"artifact name: expected {SAFE_PATH}, got {', '.join(map(repr, bad))}")

    def clean_leftovers(self, name: str) -> list[str]:
        """Remove staging trees and half-published versions whose registration can no longer finish."""
        removed = [p for p in self._children(self._p(name, ".staging")) if self._staging_gone(p)]
        removed += [p for p in self._children(self._p(name, "versions")) if self._abandoned(name, p)]
        for p in removed:
            self._rm(p)
        return removed

    def _staging_gone(self, path: str) -> bool:
        beat = self._read_json(f"{path}/heartbeat") or {}    # none yet: judged by the name alone
        return _gone(path.rsplit("/", 1)[-1], beat.get("time", 0))

    def _abandoned(self, name: str, path: str) -> bool:
        """A version directory without entry.json whose registration can no longer finish."""
        leaf = path.rsplit("/", 1)[-1]
        if not leaf.isdigit():
            return False
        claim = self._read_json(self._p(name, "claims", leaf)) or {}
        owner = claim.get("owner") if valid_name(claim.get("owner")) else "-"
        beat = self._read_json(self._p(name, ".staging", owner, "heartbeat")) or {}
        if self.fs.exists(f"{path}/entry.json"):   # looked at after the heartbeat: its owner removes
            return False                           # the heartbeat only once entry.json is written
        return _gone(owner, max(claim.get("time", 0), beat.get("time", 0)))

def _inside(dest: Path, rel: str) -> Path:
    """dest/rel, resolved (symlinks followed); an IntegrityError unless it stays inside dest."""
    root = dest.resolve()
    target = (root / rel).resolve()
    if not safe_rel_path(rel) or target == root or not target.is_relative_to(root):
        raise IntegrityError(f"{dest}: manifest path {rel!r} resolves to {target}, outside the destination; "
                             "nothing was written there")
    return target


def raise_if_failed(entry: dict) -> None:
    """Turn a failed ONNX export recorded in an entry into a clear non-zero exit."""
    onnx = entry.get("onnx") or {}
    if onnx.get("status") == "failed":
        from ..errors import ExportError

        raise ExportError(f"{entry['name']}:{entry['version']} is registered, but its ONNX export failed: "
                          f"{onnx.get('reason')}")


__all__ = ["ModelRef", "Registry", "check_name", "raise_if_failed", "valid_name"]
