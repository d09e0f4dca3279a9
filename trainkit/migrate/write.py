"""Writing the migrated project: every file is created inside DIR only. Each folder below DIR is
opened without following links (a link planted there is refused), and each file is created with
O_CREAT|O_EXCL|O_NOFOLLOW, so an existing file is kept as it was and nothing is written through a
link, dangling or not."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


@dataclass
class Written:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def open_dir(root_fd: int, parts: list[str]) -> int:
    """A descriptor of DIR/parts..., made as needed, never through a link (OSError naming the part)."""
    fd = os.dup(root_fd)
    for part in parts:
        try:
            os.mkdir(part, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        try:
            new = os.open(part, DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            os.close(fd)
            raise OSError(e.errno, f"{part}: a link or not a folder") from None
        os.close(fd)
        fd = new
    return fd


def create(root_fd: int, rel: str, data: bytes, mode: int = 0o644) -> bool:
    """Create DIR/rel with `data`; False when a file is already there (kept). OSError for a link
    or a path that leaves DIR."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OSError(f"{rel}: not a path inside the project")
    fd = open_dir(root_fd, parts[:-1])
    try:
        try:
            st = os.lstat(parts[-1], dir_fd=fd)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise OSError(f"{rel}: a link (not written through)")
            return False
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            f.write(data)
        return True
    finally:
        os.close(fd)


def write(project, dest: Path) -> Written:
    """Write the project's files and copies into dest, never over an existing file or through a link."""
    out = Written()
    dest.mkdir(parents=True, exist_ok=True)
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        items = [(rel, text.encode(), 0o644) for rel, text in sorted(project.files.items())]
        items += [(rel, *content(made)) for rel, made in sorted(project.copies.items()) if rel not in project.files]
        for rel, data, mode in items:
            if data is None:
                out.refused.append(f"{rel}: its content is not known (written by code the migration did not follow)")
                continue
            try:
                (out.written if create(root, rel, data, mode) else out.kept).append(dest / rel)
            except OSError as e:
                out.refused.append(f"{dest / rel}: refused: {e.strerror or e}")
    finally:
        os.close(root)
    return out


def content(made) -> tuple[bytes | None, int]:
    if made.text is not None:
        return made.text.encode(), 0o644
    if made.disk is None:
        return None, 0o644
    return made.disk.read_bytes(), (made.disk.stat().st_mode & 0o755) | 0o600


def replace_report(dest: Path, name: str, text: str) -> Path:
    """DIR/NAME (our own report: replaced when it is a regular file; never through a link)."""
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            st = os.lstat(name, dir_fd=root)
            if stat.S_ISREG(st.st_mode):
                os.unlink(name, dir_fd=root)
        except FileNotFoundError:
            pass
        if not create(root, name, text.encode()):
            raise OSError(f"{name}: exists and is not a regular file")
    finally:
        os.close(root)
    return dest / name
