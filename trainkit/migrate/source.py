"""Reading an Azure ML SDK v1 project: notebooks' code cells and Python files, parsed with `ast`,
never imported or run. Notebook magics (`%...`, `%%cell`) and shell lines (`!...`) are left out; a
cell or file that does not parse is reported and the rest still read."""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Unit:
    """One parsed cell or file: where it came from, its code, its syntax tree (None: it did not parse)."""

    path: Path
    cell: int | None
    code: str
    tree: ast.Module | None = None
    error: str | None = None

    def where(self, line: int) -> str:
        cell = f" cell {self.cell}" if self.cell is not None else ""
        return f"{self.path}{cell}, line {line}"


@dataclass
class Source:
    """Everything read from the SRC arguments."""

    units: list[Unit] = field(default_factory=list)
    scripts: dict[Path, str] = field(default_factory=dict)   # every .py file seen, by resolved path
    unreadable: list[str] = field(default_factory=list)      # "path: why", nothing could be read there
    base: Path = Path(".")                                   # the folder relative paths in the code start from


def strip_magics(code: str) -> str:
    """A notebook cell without IPython magics and shell escapes (kept as blank lines: line numbers hold)."""
    lines = code.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return ""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)


def parse(unit: Unit) -> Unit:
    try:
        unit.tree = ast.parse(unit.code)
    except SyntaxError as e:
        unit.error = f"does not parse (line {e.lineno}: {e.msg})"
    return unit


def read_notebook(path: Path) -> list[Unit]:
    nb = json.loads(path.read_text())
    units = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        code = cell.get("source", "")
        code = "".join(code) if isinstance(code, list) else code
        units.append(parse(Unit(path, i, strip_magics(code))))
    return units


def read(paths: list[Path]) -> Source:
    """Every notebook and Python file of the SRC arguments (directories searched)."""
    src = Source(base=(paths[0] if paths[0].is_dir() else paths[0].parent).resolve() if paths else Path.cwd())
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".ipynb", ".py") and ".ipynb_checkpoints" not in f.parts)
        elif p.exists():
            files.append(p)
        else:
            src.unreadable.append(f"{p}: no such file or directory")
    for f in files:
        try:
            if f.suffix == ".ipynb":
                src.units += read_notebook(f)
            else:
                text = f.read_text()
                src.scripts[f.resolve()] = text
                src.units.append(parse(Unit(f, None, text)))
        except (OSError, ValueError) as e:
            src.unreadable.append(f"{f}: {type(e).__name__}: {e}")
    return src
