"""FileDataset: download from ordered mirrors, verify sha256 and format, cache, register a version.

A file's expected sha256 may be that of the bytes as served or of their gunzipped content; the
latter survives mirrors that re-compress (Debian's Fashion-MNIST package does). A cached file is
content-addressed by its expected sha256, so nothing unverified is ever cached.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ChecksumError, DataError, MirrorsExhaustedError, NotFoundError
from ..workspace import Workspace
from .idx import gunzip, parse_idx

CHUNK = 1 << 20
OFFLINE_HINT = ("hint: offline, use dataset=fashion_mnist (or +experiment=fashion_mnist_dnn) after "
                "`apt-get install dataset-fashion-mnist`, or add a reachable mirror to dataset.sources.")


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    digest: str
    description: str
    sources: list[str]
    files: dict[str, dict]   # role -> {name, sha256, path, size, source}
    created: float

    def to_json(self) -> dict:
        return asdict(self)


def _kind(role: str) -> str:
    return "images" if role.endswith("images") else "labels"


def _open_source(url: str, timeout: float) -> tuple[Iterator[bytes], int | None]:
    """Stream a URL's bytes: requests for http(s), fsspec for every other protocol."""
    if url.startswith(("http://", "https://")):
        import requests

        resp = requests.get(url, stream=True, timeout=timeout)
        if resp.status_code != 200:
            resp.close()
            raise OSError(f"HTTP {resp.status_code} {resp.reason}")
        size = int(resp.headers.get("Content-Length") or 0) or None
        return resp.iter_content(CHUNK), size
    import fsspec

    f = fsspec.open(url, "rb").open()
    size = getattr(f, "size", None)

    def chunks() -> Iterator[bytes]:
        with f:
            while block := f.read(CHUNK):
                yield block

    return chunks(), size


def verify_file(path: Path, expected_sha: str, role: str, num_classes: int,
                image_shape: tuple[int, ...]) -> str:
    """Check a downloaded file's checksum (raw or gunzipped) and its IDX format; return raw sha256."""
    raw = path.read_bytes()
    raw_sha = hashlib.sha256(raw).hexdigest()
    content = gunzip(raw, str(path)) if raw[:2] == b"\x1f\x8b" else raw
    if expected_sha != raw_sha:
        content_sha = hashlib.sha256(content).hexdigest() if content is not raw else raw_sha
        if expected_sha != content_sha:
            actual = [raw_sha] if content is raw else [raw_sha, content_sha]
            raise ChecksumError(str(path), expected_sha, actual)
    parse_idx(content, _kind(role), str(path), image_shape=image_shape,
              num_classes=num_classes if role.endswith("labels") else None)
    return raw_sha


def _fetch_one(url: str, dest_dir: Path, timeout: float,
               progress: Callable[[str, int, int | None], None] | None) -> Path:
    tmp = dest_dir / f".tmp-{uuid.uuid4().hex}"
    chunks, size = _open_source(url, timeout)
    done = 0
    try:
        with open(tmp, "wb") as out:
            for block in chunks:
                out.write(block)
                done += len(block)
                if progress:
                    progress(url, done, size)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


class DatasetStore:
    """The workspace's dataset cache and version registry."""

    def __init__(self, workspace: Workspace):
        self.ws = workspace

    def _blob(self, sha: str, name: str) -> Path:
        return self.ws.blobs / sha / name

    def fetch_file(self, dataset: dict, f: dict,
                   progress: Callable[[str, int, int | None], None] | None = None) -> dict:
        """Return a verified local copy of one file, trying each mirror in order."""
        blob = self._blob(f["sha256"], f["name"])
        image_shape = (28, 28)
        if blob.exists():
            marker = blob.with_name(blob.name + ".sha256")
            if marker.exists() and hashlib.sha256(blob.read_bytes()).hexdigest() == marker.read_text().strip():
                return {**f, "path": str(blob), "size": blob.stat().st_size,
                        "source": json.loads(blob.with_name(blob.name + ".json").read_text())["source"]}
            blob.unlink()  # damaged cache entry: fetch it again
        blob.parent.mkdir(parents=True, exist_ok=True)
        attempts: list[tuple[str, str]] = []
        for source in dataset["sources"]:
            url = source.rstrip("/") + "/" + f["name"]
            tmp = None
            try:
                tmp = _fetch_one(url, blob.parent, dataset.get("download_timeout_s", 30.0), progress)
                raw_sha = verify_file(tmp, f["sha256"], f["role"], dataset["num_classes"], image_shape)
            except DataError as e:
                attempts.append((url, str(e).replace(str(tmp), "downloaded file") if tmp else str(e)))
            except Exception as e:  # network, HTTP status, missing file: try the next mirror
                attempts.append((url, f"{type(e).__name__}: {e}"))
            else:
                blob.with_name(blob.name + ".json").write_text(json.dumps({"source": url}))
                blob.with_name(blob.name + ".sha256").write_text(raw_sha)
                os.replace(tmp, blob)
                return {**f, "path": str(blob), "size": blob.stat().st_size, "source": url}
            finally:
                if tmp is not None and tmp.exists():
                    tmp.unlink()
        raise MirrorsExhaustedError(dataset["name"], f["name"], attempts, OFFLINE_HINT)

    def prepare(self, dataset: dict,
                progress: Callable[[str, int, int | None], None] | None = None) -> DatasetVersion:
        """Fetch and verify every file, then register (or reuse) the dataset version."""
        files = {f["role"]: self.fetch_file(dataset, f, progress) for f in dataset["files"]}
        return self.register(dataset, files)

    @staticmethod
    def digest(files: dict[str, dict]) -> str:
        lines = sorted(f"{role}:{f['sha256']}" for role, f in files.items())
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def _versions_dir(self, name: str) -> Path:
        return self.ws.datasets / "registry" / name

    def register(self, dataset: dict, files: dict[str, dict]) -> DatasetVersion:
        """Same content -> same version; new content -> next version (claimed by exclusive create)."""
        digest = self.digest(files)
        for existing in self.versions(dataset["name"]):
            if existing.digest == digest:
                return existing
        vdir = self._versions_dir(dataset["name"])
        vdir.mkdir(parents=True, exist_ok=True)
        while True:
            version = max((v.version for v in self.versions(dataset["name"])), default=0) + 1
            dv = DatasetVersion(dataset["name"], version, digest, dataset.get("description", ""),
                                list(dataset["sources"]), files, time.time())
            try:
                with open(vdir / f"v{version}.json", "x") as out:
                    json.dump(dv.to_json(), out, indent=2)
                return dv
            except FileExistsError:
                continue

    def versions(self, name: str) -> list[DatasetVersion]:
        vdir = self._versions_dir(name)
        if not vdir.is_dir():
            return []
        out = []
        for p in vdir.glob("v*.json"):
            try:
                out.append(DatasetVersion(**json.loads(p.read_text())))
            except (ValueError, TypeError):
                continue  # a version being written right now
        return sorted(out, key=lambda v: v.version)

    def names(self) -> list[str]:
        root = self.ws.datasets / "registry"
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        versions = self.versions(name)
        if version is not None:
            versions = [v for v in versions if v.version == version]
        if not versions:
            known = ", ".join(self.names()) or "none registered yet"
            raise NotFoundError(f"dataset {name!r}" + (f" version {version}" if version else "")
                                + f" not found; registered datasets: {known}")
        return versions[-1]
