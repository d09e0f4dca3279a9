"""Reading an Azure ML SDK v1 project: notebooks' cells and Python files, parsed with `ast`, never
imported or run.

Only what lies inside the SRC roots is read (a SRC directory, or the folder of a SRC file): a file
reached through a link that leaves them, or bigger than MAX_FILE_BYTES, is listed as refused, never
opened. In notebooks, line magics (`%pip ...`) and shell lines (`!...`) are left out (blank lines:
line numbers hold); `%%writefile PATH` cells become `Written` units (the file the notebook writes
when it runs); other cell magics that run Python (`%%time`, `%%capture`) keep their code; the rest
(`%%bash`, `%%html`, ...) are skipped. A cell or file that does not parse is one problem, the rest
is still read."""
from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 4_000_000       # larger notebooks and scripts are reported, not read (generated code, data)
PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun", "%%debug")
WRITEFILE = re.compile(r"^%%(?:writefile|file)\s+(?P<flags>(?:-a\s+|--append\s+)?)(?P<path>\S.*?)\s*$")
INTROSPECTION = re.compile(r"^[\w.]+\?\??\s*$")          # `obj?` / `obj??` lines
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", ".git", ".venv", "node_modules"}


@dataclass
class Unit:
    """One parsed cell or file: where it came from, its code, its syntax tree (None: it did not parse)."""

    path: Path
    cell: int | None
    code: str
    tree: ast.Module | None = None
    error: str | None = None
    written: "Written | None" = None      # a %%writefile cell: the file it writes (no code to follow)

    def where(self, line: int) -> str:
        cell = f" cell {self.cell}" if self.cell is not None else ""
        return f"{self.path}{cell}, line {line}"


@dataclass
class Written:
    """A `%%writefile [-a] PATH` cell: PATH (as written, relative to the notebook's folder) and text."""

    path: str
    text: str
    append: bool = False


@dataclass
class Source:
    """What the SRC arguments hold: the files to read (one at a time: `load`), the folders they may
    be read from, and what could not be read."""

    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)      # "path: why", nothing could be read there
    roots: list[Path] = field(default_factory=list)          # resolved folders the project may read from

    @property
    def base(self) -> Path:
        return self.roots[0] if self.roots else Path.cwd()

    def inside(self, path: str | Path) -> Path | None:
        """`path` resolved (links followed) when it lies inside a root, else None."""
        try:
            real = Path(os.path.realpath(path))
        except (OSError, ValueError):
            return None
        return real if any(real == r or r in real.parents for r in self.roots) else None

    def load(self, f: Path) -> list[Unit]:
        """The units of one file (parsed now; a problem reading it goes to `unreadable`)."""
        real = self.inside(f)
        if real is None:
            self.unreadable.append(f"{f}: refused: a link to {os.path.realpath(f)}, outside the folders given")
            return []
        try:
            size = real.stat().st_size
            if size > MAX_FILE_BYTES:
                self.unreadable.append(f"{f}: not read: {size / 1e6:.1f} MB, more than {MAX_FILE_BYTES / 1e6:.0f} MB")
                return []
            text = real.read_bytes().decode("utf-8", errors="replace")
            return read_notebook(f, text) if f.suffix == ".ipynb" else [parse(Unit(f, None, text))]
        except (OSError, ValueError, RecursionError, MemoryError) as e:
            self.unreadable.append(f"{f}: {type(e).__name__}: {str(e)[:200]}")
            return []


SHELL_FILES = re.compile(r"^!\s*(cp|mkdir|mv)\s")         # shell lines that copy files where a run needs them


def shell_line(line: str) -> str:
    """`!cp SRC {folder}/` as a call the analyzer follows (IPython's `{expr}` and `$name` kept for it
    to expand), on the same line; any other shell line is blank."""
    s = line.strip()
    if not SHELL_FILES.match(s) or '"""' in s or "\\" in s:
        return ""
    body = re.sub(r"\$(\w+)", r"{\1}", s[1:].strip())
    return f'__tk_shell__(f"""{body}""")'


def strip_magics(code: str) -> str:
    """A notebook cell without IPython line magics and shell escapes (kept as blank lines: line
    numbers hold; `!cp`/`!mkdir` become a call the analyzer follows); `x = !cmd` and `x = %magic`
    become `x = None`."""
    out = []
    for ln in code.splitlines():
        s = ln.lstrip()
        if s.startswith("!"):
            out.append(ln[:len(ln) - len(s)] + shell_line(s) if shell_line(s) else "")
        elif s.startswith("%") or INTROSPECTION.match(s):
            out.append("")
        else:
            out.append(re.sub(r"^(\s*[\w.\[\], ]+=\s*)[!%].*$", r"\1None", ln))
    return "\n".join(out)


def parse(unit: Unit) -> Unit:
    try:
        unit.tree = ast.parse(unit.code)
    except SyntaxError as e:
        unit.error = f"does not parse (line {e.lineno}: {e.msg})"
    except (RecursionError, MemoryError, ValueError) as e:
        unit.error = f"cannot be parsed ({type(e).__name__}: {str(e)[:120]})"
    return unit


def cell_unit(path: Path, index: int, code: str) -> Unit | None:
    """One notebook code cell as a Unit (None: a cell magic whose body is not Python)."""
    first, _, rest = code.partition("\n")
    head = first.strip()
    if head.startswith("%%"):
        m = WRITEFILE.match(head)
        if m:
            target = m.group("path").strip().strip("'\"")
            return Unit(path, index, "", written=Written(target, rest, bool(m.group("flags").strip())))
        if head.split()[0] not in PYTHON_CELL_MAGICS:
            return None
        code = "\n" + rest     # keep the line numbers of the body
    return parse(Unit(path, index, strip_magics(code)))


def read_notebook(path: Path, text: str) -> list[Unit]:
    nb = json.loads(text)
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("expected a notebook (a JSON object with a 'cells' list)")
    units = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code = cell.get("source", "")
        code = "".join(str(c) for c in code) if isinstance(code, list) else str(code)
        unit = cell_unit(path, i, code)
        if unit is not None:
            units.append(unit)
    return units


def walk(folder: Path) -> list[Path]:
    """Notebooks and Python files under `folder`, links not followed into other directories."""
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found += [Path(top) / f for f in sorted(files) if f.endswith((".ipynb", ".py"))]
    return found


def read(paths: list[Path]) -> Source:
    """The notebooks and Python files of the SRC arguments (directories searched), not yet read."""
    src = Source()
    for p in paths:
        if p.is_dir():
            src.roots.append(p.resolve())
            src.files += walk(p)
        elif p.exists():
            src.roots.append(p.resolve().parent)
            src.files.append(p)
        else:
            src.unreadable.append(f"{p}: no such file or directory")
    src.files = list(dict.fromkeys(src.files))
    return src
