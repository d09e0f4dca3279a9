"""What a v1 project's code does to files, as the analyzer follows it (`trainkit migrate`):
`shutil.copy` into a source_directory, `open(...).write`, `os.makedirs`, path arithmetic with
`os.path` and `pathlib`, and shell lines (`!cp`, `%%bash`). `FileEffects` is one part of
`analyze.Interpreter`; the files it records are `Files` (`files.py`)."""
from __future__ import annotations

import ast
import os
from typing import Any

from .files import Files
from .values import FileHandle, PathVal, Sdk, Unknown, bounded

__all__: list[str] = []   # internal: trainkit migrate's analyzer


class FileEffects:
    """File and path calls, for `analyze.Interpreter` (`self.out.files`, `self.cwd`, `self.where`)."""

    def file_call(self, name: str | None, owner: Any, func: ast.expr, args: list, kwargs: dict, node) -> Any:
        where = self.where(node)
        strs = [a for a in args if isinstance(a, str)]
        attr = func.attr if isinstance(func, ast.Attribute) else None
        files = self.out.files
        if isinstance(owner, FileHandle):
            if attr in ("write", "writelines") and args:
                text = args[0] if isinstance(args[0], str) else "".join(args[0]) if isinstance(args[0], list) and all(
                    isinstance(s, str) for s in args[0]) else None
                files.write(owner.path, text, where, append=owner.path in files.made)
            return Unknown(node)
        if isinstance(owner, PathVal):
            return self.path_method(owner, attr, args, where)
        if name in ("os.path.join",) and len(strs) == len(args) and args:
            return bounded(os.path.join(*strs))
        if name in ("os.path.dirname", "os.path.basename", "os.path.normpath") and strs:
            return getattr(os.path, name.rsplit(".", 1)[1])(strs[0])
        if name in ("os.path.abspath", "os.path.realpath") and strs:
            return Files.absolute(strs[0], self.cwd)
        if name == "os.getcwd":
            return str(self.cwd)
        if name == "pathlib.Path":
            return PathVal("").join(*strs) if len(strs) == len(args) else (PathVal(str(self.cwd)) if not args else
                                                                            Unknown(node))
        if name in ("str", "os.fspath"):
            if len(args) == 1 and isinstance(args[0], (str, Sdk)):
                return args[0] if isinstance(args[0], Sdk) else str(args[0])
            return Unknown(node)
        if name in ("os.makedirs", "os.mkdir") and strs:
            files.mkdir(Files.absolute(strs[0], self.cwd))
            return None
        if name in ("shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree"):
            src, dst = (args + [kwargs.get("src"), kwargs.get("dst")])[:2] if len(args) >= 2 else (
                kwargs.get("src", args[0] if args else None), kwargs.get("dst"))
            if isinstance(src, str) and isinstance(dst, str):
                a, b = Files.absolute(src, self.cwd), Files.absolute(dst, self.cwd)
                return files.copytree(a, b, where) if name.endswith("copytree") else files.copy(a, b, where)
            return Unknown(node)
        if name in ("urllib.request.urlretrieve", "urllib.urlretrieve"):
            url, path = args[0] if args else kwargs.get("url"), args[1] if len(args) > 1 else kwargs.get("filename")
            if isinstance(url, str) and isinstance(path, str):
                files.download(url, Files.absolute(path, self.cwd), where)
            return Unknown(node)
        if name == "__tk_shell__" and strs:
            return self.shell(strs[0], where)
        path = args[0] if args else kwargs.get("file")
        if name in ("open", "io.open") and isinstance(path, str):      # open(unknown, 'w'): not the file 'w'
            mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
            if isinstance(mode, str) and ("w" in mode or "a" in mode):
                return FileHandle(Files.absolute(path, self.cwd))
        return Unknown(node)

    def shell(self, command: str, where: str) -> None:
        """A notebook's `!cp [-r] SRC... DEST` / `!mkdir -p DIR` / `!mv`, its variables expanded."""
        import shlex

        try:
            words = shlex.split(command)
        except ValueError:
            return None
        flags = {w for w in words[1:] if w.startswith("-")}
        paths = [Files.absolute(w, self.cwd) for w in words[1:] if not w.startswith("-")]
        files = self.out.files
        if words[0] == "mkdir":
            for p in paths:
                files.mkdir(p)
        elif len(paths) >= 2:
            *sources, dest = paths
            for src in sources:
                tree = flags & {"-r", "-R", "-a", "--recursive"}
                if tree:
                    files.copytree(src, os.path.join(dest, os.path.basename(src)) if os.path.isdir(dest)
                                   or dest in files.dirs else dest, where)
                else:
                    files.copy(src, dest, where)
        return None

    def path_attr(self, base: PathVal, attr: str) -> Any:
        if attr == "parent":
            return PathVal(os.path.dirname(base.rstrip("/")) or ".")
        if attr == "name":
            return os.path.basename(base.rstrip("/"))
        if attr == "stem":
            return os.path.splitext(os.path.basename(base))[0]
        if attr == "suffix":
            return os.path.splitext(base)[1]
        return Unknown(f"{base}.{attr}")

    def path_method(self, base: PathVal, attr: str | None, args: list, where: str) -> Any:
        files = self.out.files
        if attr == "joinpath" and all(isinstance(a, str) for a in args):
            return base.join(*args)
        if attr in ("resolve", "absolute", "expanduser"):
            return PathVal(Files.absolute(base, self.cwd))
        if attr == "mkdir":
            files.mkdir(Files.absolute(base, self.cwd))
            return None
        if attr == "write_text" and args:
            files.write(Files.absolute(base, self.cwd), args[0] if isinstance(args[0], str) else None, where)
            return None
        if attr == "open":
            mode = args[0] if args and isinstance(args[0], str) else "r"
            return FileHandle(Files.absolute(base, self.cwd)) if ("w" in mode or "a" in mode) else Unknown("file")
        return Unknown(f"{base}.{attr}()")
