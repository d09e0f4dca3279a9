"""Downloads of a run's files, opened without a window between a check and the open: each
directory on the way is opened by name relative to the one before with O_NOFOLLOW (a link is
refused, not followed), the file is opened the same way, and what is sent is read from that very
descriptor. Whatever replaces a directory with a link meanwhile cannot redirect the download."""
from __future__ import annotations

import errno
import mimetypes
import os
import stat
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from ..errors import NotFoundError, UsageError

PIECE = 1 << 16
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC   # NONBLOCK: a FIFO does not hang the open


def parts_of(rel: str, run_id: str) -> list[str]:
    """The names of a path inside a run: '/'-separated, none empty, '.' or '..', no backslash or
    control character (checked as sent: the path is never normalised first)."""
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts) or "\\" in rel or any(ord(c) < 32 or ord(c) == 127 for c in rel):
        raise UsageError(f"file {rel!r}: expected a path inside run {run_id} ('/'-separated names; no empty, '.' "
                         "or '..' part, no backslash or control character)")
    return parts


def open_in(root: Path, rel: str, run_id: str) -> tuple[int, os.stat_result]:
    """A descriptor of the regular file `rel` inside `root` (a run's directory), reached through no link."""
    parts = parts_of(rel, run_id)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            try:
                opened = os.open(name, FILE_FLAGS if last else DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                raise _not_found(e, fd, name, rel, run_id) from None
            os.close(fd)
            fd = opened
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotFoundError(f"file {rel!r}: no such file in run {run_id} (not a regular file)")
        os.set_blocking(fd, True)
        fd, opened = -1, fd
        return opened, st
    finally:
        if fd >= 0:
            os.close(fd)


def _not_found(e: OSError, dir_fd: int, name: str, rel: str, run_id: str) -> NotFoundError:
    try:
        link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        link = False
    if link or e.errno == errno.ELOOP:
        return NotFoundError(f"file {rel!r} of run {run_id}: {name!r} is a link; links are never followed")
    return NotFoundError(f"file {rel!r}: no such file in run {run_id}")


def pieces(fd: int, size: int) -> Iterator[bytes]:
    """The file's first `size` bytes (its size when opened), from the descriptor; closes it."""
    with os.fdopen(fd, "rb") as f:
        left = size
        while left > 0:
            piece = f.read(min(PIECE, left))
            if not piece:
                return
            left -= len(piece)
            yield piece


def headers(name: str, size: int) -> dict[str, str]:
    quoted = quote(name)
    disposition = f'attachment; filename="{name}"' if quoted == name else f"attachment; filename*=utf-8''{quoted}"
    return {"content-length": str(size), "content-disposition": disposition,
            "content-type": mimetypes.guess_type(name)[0] or "application/octet-stream"}
