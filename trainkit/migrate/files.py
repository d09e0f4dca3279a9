"""The files a v1 project's code makes when it runs, followed without running it: `%%writefile`
cells, `open(PATH, 'w').write(...)`, `os.makedirs`, and `shutil.copy/copy2/copyfile/copytree` of the
notebook's own files into a `source_directory`. A migration copies them where the run needs them.

Paths are kept as normalised absolute strings (links not resolved). Only files inside the SRC roots
are ever read or copied: a path outside them (absolute, `..`, or through a link) is refused and
reported, never opened."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .source import Source


@dataclass
class Made:
    """One file the code makes: its text, or the file on disk it is a copy of."""

    where: str
    text: str | None = None
    disk: Path | None = None
    url: str | None = None        # downloaded there from this URL when the notebook runs


@dataclass
class Files:
    src: Source
    made: dict[str, Made] = field(default_factory=dict)      # absolute path -> what the code put there
    dirs: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)         # "where: path: why"

    @staticmethod
    def absolute(path: str, cwd: Path) -> str:
        return os.path.normpath(path if os.path.isabs(path) else os.path.join(str(cwd), path))

    # ------------------------------------------------------------------ what the code does
    def mkdir(self, path: str) -> None:
        self.dirs.add(path)

    def write(self, path: str, text: str | None, where: str, append: bool = False) -> None:
        old = self.made.get(path)
        if append and old is not None and old.text is not None and text is not None:
            text = old.text + text
        self.made[path] = Made(where, text=text)
        self.dirs.add(os.path.dirname(path))

    def download(self, url: str, path: str, where: str) -> None:
        """`urllib.request.urlretrieve(URL, PATH)`: PATH will hold URL's file."""
        self.made[path] = Made(where, url=url)
        self.dirs.add(os.path.dirname(path))

    def copy(self, source: str, dest: str, where: str) -> str:
        """`shutil.copy(source, dest)`: dest may be a folder. Returns the file's new path."""
        if dest in self.dirs or dest.endswith(os.sep) or os.path.isdir(dest) or not os.path.splitext(dest)[1]:
            dest = os.path.join(dest, os.path.basename(source))
        if source in self.made:
            old = self.made[source]
            self.made[dest] = Made(where, text=old.text, disk=old.disk, url=old.url)
        else:
            disk = self.readable(source, where)
            if disk is not None and disk.is_file():
                self.made[dest] = Made(where, disk=disk)
        self.dirs.add(os.path.dirname(dest))
        return dest

    def copytree(self, source: str, dest: str, where: str) -> str:
        for path, made in list(self.made.items()):
            if path.startswith(source.rstrip(os.sep) + os.sep):
                self.made[os.path.join(dest, os.path.relpath(path, source))] = made
        disk = self.readable(source, where)
        if disk is not None and disk.is_dir():
            for rel, f in self.tree_on_disk(disk).items():
                self.made[os.path.join(dest, rel)] = Made(where, disk=f)
        self.dirs.add(dest)
        return dest

    # ------------------------------------------------------------------ what the migration reads
    def readable(self, path: str, where: str) -> Path | None:
        """The file or folder at `path` when it may be read (inside the SRC roots), else None (reported)."""
        real = self.src.inside(path)
        if real is None:
            self.refused.append(f"{where}: {path}: outside the folders given to migrate (not read, not copied)")
        return real

    def read_text(self, path: str, where: str) -> str | None:
        """What the project holds at `path` when its code has run: a written file, or one on disk."""
        made = self.made.get(path)
        if made is not None:
            return made.text if made.text is not None else _read(made.disk)
        real = self.readable(path, where)
        return _read(real) if real is not None and real.is_file() else None

    def tree(self, folder: str, where: str) -> dict[str, Made]:
        """Every file in `folder` once the code has run: on disk (inside the roots) and made by it."""
        out: dict[str, Made] = {}
        if os.path.isdir(folder):
            real = self.readable(folder, where)
            if real is not None:
                out.update({rel: Made(where, disk=f) for rel, f in self.tree_on_disk(real).items()})
        prefix = folder.rstrip(os.sep) + os.sep
        out.update({os.path.relpath(p, folder): m for p, m in self.made.items() if p.startswith(prefix)})
        return out

    def exists(self, folder: str) -> bool:
        return folder in self.dirs or os.path.isdir(folder) or any(p.startswith(folder.rstrip(os.sep) + os.sep)
                                                                  for p in self.made)

    def tree_on_disk(self, folder: Path) -> dict[str, Path]:
        from .source import SKIP_DIRS

        out = {}
        for top, dirs, names in os.walk(folder, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for n in sorted(names):
                f = Path(top) / n
                if self.src.inside(f) is None:
                    self.refused.append(f"{f}: a link to {os.path.realpath(f)}, outside the folders given (not copied)")
                elif f.is_file():
                    out[os.path.relpath(f, folder)] = f
        return out


def _read(path: Path | None) -> str | None:
    from .source import MAX_FILE_BYTES

    if path is None or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        return None
    return path.read_bytes().decode("utf-8", errors="replace")
