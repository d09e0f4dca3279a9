"""A directory tree under one fsspec root that many processes and hosts write at once (the model
registry's): paths, listings never served from a cache, whole-file writes (a temporary sibling,
then a rename), moves, hashed uploads, and numbered claims that two writers never both win."""
from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..names import SAFE_PATH, safe_rel_path

__all__ = ["EXCLUSIVE_CREATE", "RootFS"]

# fsspec protocols whose open(path, "xb") is an atomic create-if-absent: O_EXCL (local disks, NFS v3+).
# Every other filesystem claims numbers with bids (`RootFS._bid`): some object stores accept "xb"
# and overwrite, and memory:// checks and then creates (two threads can both pass).
EXCLUSIVE_CREATE = ("file", "local")


class RootFS:
    """One fsspec root: `fs` and `root` (the URL's filesystem and path), `local`, and `exclusive`
    (an exclusive create is atomic there)."""

    def __init__(self, root: str):
        import fsspec

        self.url = str(root)
        self.fs, self.root = fsspec.core.url_to_fs(os.path.expanduser(self.url))
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols
        self.exclusive = any(p in EXCLUSIVE_CREATE for p in protocols)

    def _p(self, *parts: Any) -> str:
        return "/".join([self.root.rstrip("/"), *map(str, parts)])

    def _leaves(self, path: str) -> list[str]:
        """Names in a directory, never from fsspec's listing cache (other processes write here)."""
        self.fs.invalidate_cache(path)
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False)]

    def _children(self, path: str) -> list[str]:
        try:
            return [p.rstrip("/") for p in self.fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []

    def _read_json(self, path: str) -> dict | None:
        try:
            return json.loads(self.fs.cat_file(path))
        except (OSError, ValueError):
            return None

    def _write_bytes(self, path: str, data: bytes) -> None:
        """Write via a temporary sibling and a rename, so readers never see half a file."""
        parent, leaf = path.rsplit("/", 1)
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.{leaf}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            self._move(tmp, path)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    def _write_json(self, path: str, obj: dict) -> None:
        self._write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())

    def _move(self, src: str, dst: str) -> None:
        """Move a file or tree into place; on a local root this is one atomic rename."""
        parent = dst.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if self.local:
            os.replace(src, dst)
        else:
            self.fs.mv(src, dst, recursive=True)

    def _rm(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass


    def _put_hashed(self, src: Path, base: str, dest: str) -> dict[str, dict]:
        """Upload a file or a tree to base/dest, returning {relative path: {sha256, size}}. Symbolic
        links are never followed: a link as the artifact is refused, links inside a tree are left out."""
        if src.is_symlink():
            raise UsageError(f"artifact {src}: expected a file or a directory, got a symbolic link "
                             f"(to {os.readlink(src)}); registration never follows links")
        files = [src] if src.is_file() else sorted(_walk_files(src))
        manifest = {}
        for f in files:
            rel = dest if f == src else f"{dest}/{f.relative_to(src).as_posix()}"
            if not safe_rel_path(rel):   # else the version could never be read back (check_manifest)
                raise UsageError(f"artifact file {f}: expected {SAFE_PATH}, got {rel!r}")
            h, size = hashlib.sha256(), 0
            target = f"{base}/{rel}"
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with open(f, "rb") as fin, self.fs.open(target, "wb") as fout:
                for chunk in iter(lambda: fin.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
                    fout.write(chunk)
            manifest[rel] = {"sha256": h.hexdigest(), "size": size}
        return manifest

    def _claim(self, name: str, owner: str) -> int:
        """Take the next never-used version number: with an exclusive create where the filesystem
        is known to do one (EXCLUSIVE_CREATE), else with a bid confirmed by listing (`_bid`)."""
        claims = self._p(name, "claims")
        self.fs.makedirs(claims, exist_ok=True)
        data = json.dumps({"owner": owner, "time": time.time()}).encode()
        take = self._create if self.exclusive else self._bid
        while True:
            n = max(self._numbers(claims), default=0) + 1
            if take(f"{claims}/{n}", data, owner):
                return n

    def _numbers(self, claims: str) -> list[int]:
        """Numbers taken by a claim (`N`) or a pending bid (`N.bid-OWNER`), listed afresh."""
        return [int(h) for h in (leaf.partition(".")[0] for leaf in self._leaves(claims)) if h.isdigit()]

    def _create(self, path: str, data: bytes, owner: str) -> bool:
        """claims/N by an exclusive create (O_EXCL); False if another registration has it."""
        try:
            with self.fs.open(path, "xb") as f:
                f.write(data)
            return True
        except FileExistsError:
            return False

    def _bid(self, path: str, data: bytes, owner: str) -> bool:
        """claims/N where "xb" may silently overwrite: write a bid under a name only this registration
        uses, then list; N is ours only if no other bid or claim for N is there. Two bidders cannot
        both see only their own bid on a store that lists every file written before the listing
        (local disks, S3, GCS, Azure): the later write precedes the later listing. A loser withdraws
        its bid and retries after a random pause; a bid left by a crash burns its number."""
        parent, n = path.rsplit("/", 1)
        mine = f"{n}.bid-{owner}"
        self.fs.pipe_file(f"{parent}/{mine}", data)
        won = not [leaf for leaf in self._leaves(parent) if leaf.partition(".")[0] == n and leaf != mine]
        if won:
            self._write_bytes(path, data)   # only the winner writes claims/N
        self._rm(f"{parent}/{mine}")
        if not won:
            time.sleep(random.uniform(0.0, 0.05))
        return won


def _walk_files(root: Path):
    """Regular files under root, not entering linked directories and leaving linked files out."""
    for dirpath, dirnames, filenames in os.walk(root):   # os.walk does not follow directory links
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink() and path.is_file():
                yield path
