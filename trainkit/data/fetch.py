"""Reading dataset sources: stream a URL's bytes (requests for http(s), fsspec otherwise) into a
file while hashing them, with a size cap and an overall deadline per mirror; list the files under
a directory or matching a glob; gunzip as a capped stream. Nothing is ever held whole in memory."""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import os
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DataError, DataFormatError

CHUNK = 1 << 20
GLOB_CHARS = set("*?[")


class Deadline:
    def __init__(self, seconds: float, what: str):
        self.end, self.seconds, self.what = time.monotonic() + seconds, seconds, what

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise TimeoutError(f"{self.what}: not done within the {self.seconds:g} s deadline "
                               "(dataset.download_deadline_s)")


def kind_of(name: str) -> str:
    """file | dir (a name ending in '/') | glob (a pattern over the source directory's files)."""
    if name.endswith("/"):
        return "dir"
    return "glob" if GLOB_CHARS & set(name) else "file"


def open_source(url: str, timeout: float) -> tuple[Iterator[bytes], int | None]:
    """A URL's bytes as chunks, and its size when the server says."""
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


def download(url: str, dest: Path, *, timeout: float, deadline_s: float, max_bytes: int,
             progress: Callable[[str, int, int | None], None] | None = None) -> tuple[str, int]:
    """Copy `url` to `dest` (a new file), returning (sha256 of the bytes, size); refuses more than
    max_bytes and anything slower than the deadline. `dest` is removed on any failure."""
    deadline = Deadline(deadline_s, url)
    chunks, size = open_source(url, timeout)
    if size is not None and size > max_bytes:
        raise DataError(f"{url}: {size} bytes, more than dataset.max_file_mb allows ({max_bytes} bytes)")
    h, done = hashlib.sha256(), 0
    try:
        with open(dest, "xb") as out:
            for block in chunks:
                done += len(block)
                if done > max_bytes:
                    raise DataError(f"{url}: more than dataset.max_file_mb allows ({max_bytes} bytes); stopped")
                h.update(block)
                out.write(block)
                deadline.check()
                if progress:
                    progress(url, done, size)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return h.hexdigest(), done


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def gunzip_chunks(path: Path, max_bytes: int) -> Iterator[bytes]:
    """The decompressed content of a gzip file as chunks; a broken stream or more than max_bytes
    of content is a DataFormatError naming the file (a gzip bomb stops here, early)."""
    done = 0
    try:
        with gzip.open(path, "rb") as f:
            while block := f.read(CHUNK):
                done += len(block)
                if done > max_bytes:
                    raise DataFormatError(str(path), "decompressed size",
                                          f"at most {max_bytes} bytes (dataset.max_file_mb)", "more")
                yield block
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(str(path), "gzip stream", "a complete gzip stream", f"{type(e).__name__}: {e}") from None


def content_sha256(path: Path, max_bytes: int) -> str:
    h = hashlib.sha256()
    for block in gunzip_chunks(path, max_bytes):
        h.update(block)
    return h.hexdigest()


def join(source: str, name: str) -> str:
    return source.rstrip("/") + "/" + name


def list_members(source: str, name: str) -> list[tuple[str, str]]:
    """(relative path, URL) of every file of a directory entry (recursively) or glob entry
    (file names in the source directory), sorted; needs a source fsspec can list."""
    if source.startswith(("http://", "https://")):
        raise OSError("directories and globs need a source that can list files (file://, s3://, ...), not http(s)")
    import fsspec

    fs, _, [base] = fsspec.get_fs_token_paths(source.rstrip("/") + "/")
    base = base.rstrip("/")
    if kind_of(name) == "dir":
        root = f"{base}/{name.rstrip('/')}"
        if not fs.isdir(root):
            raise FileNotFoundError(f"{name}: no such directory")
        found = sorted(p for p in fs.find(root) if not fs.isdir(p))
        refuse_links(fs, found)
        return [(p[len(root) + 1:], fs.unstrip_protocol(p)) for p in found]
    found = sorted(p for p in fs.ls(base, detail=False) if fnmatch.fnmatch(p.rsplit("/", 1)[-1], name))
    found = [p for p in found if not fs.isdir(p)]
    refuse_links(fs, found)
    return [(p.rsplit("/", 1)[-1], fs.unstrip_protocol(p)) for p in found]


def refuse_links(fs, paths: list[str]) -> None:
    """Members of a local directory or glob entry must be regular files: a symbolic link could make
    any file this user can read (a key, /etc/shadow) part of a dataset, its cache and every host
    it is shipped to. (A single-file entry may be a link: its path is named explicitly.)"""
    from fsspec.implementations.local import LocalFileSystem

    if not isinstance(fs, LocalFileSystem):
        return
    links = [p for p in paths if os.path.islink(p)]
    if links:
        raise DataError(f"{links[0]}: expected a regular file in the dataset directory, got a symbolic link to "
                        f"{os.readlink(links[0])} ({len(links)} link(s) in all; trainkit never follows links in a "
                        f"dataset directory: copy the files in, or name the file as its own entry)")


def list_dirs(source: str, name: str) -> list[str]:
    """The subdirectories of a directory entry (relative), empty ones included: a format may care
    (an image class folder with no images is an error, not an absent class)."""
    import fsspec

    fs, _, [base] = fsspec.get_fs_token_paths(source.rstrip("/") + "/")
    root = f"{base.rstrip('/')}/{name.rstrip('/')}"
    return sorted(p[len(root) + 1:] for p in fs.find(root, withdirs=True) if fs.isdir(p) and p != root)


def manifest_digest(members: list[dict]) -> str:
    """The sha256 of a directory or glob entry: over its sorted `path<TAB>sha256` lines."""
    lines = "".join(f"{m['path']}\t{m['sha256']}\n" for m in sorted(members, key=lambda m: m["path"]))
    return hashlib.sha256(lines.encode()).hexdigest()
