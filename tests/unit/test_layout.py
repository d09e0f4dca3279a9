"""The package's shape, checked from its source: no import circles (module-level and lazy imports
alike), and no compute target named outside its own backend."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("trainkit", "hydra_plugins")


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of trainkit and its Hydra plugins."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imported_names(path: Path, module: str) -> set[str]:
    """Every module an import statement in the file names, wherever the statement stands."""
    is_pkg = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names.add(stem)
            names |= {f"{stem}.{a.name}" for a in node.names}   # `from pkg import module`
    return names


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph = {}
    for name, path in mods.items():
        targets = set()
        for imported in imported_names(path, name):
            while imported and imported not in mods:   # `from a.b import f`: the module is a.b
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    found = circles(import_graph())
    files = [[str(modules()[m].relative_to(ROOT)) for m in comp] for comp in found]
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(f) for f in files)


def _compute_names() -> re.Pattern:
    """Any backend's name in quotes ("local" only beside compute/backend: it is a common word),
    from the backend table, so a new backend is checked without editing this test."""
    from trainkit.compute import BACKENDS

    others = "|".join(re.escape(n) for n in sorted(BACKENDS) if n != "local")
    return re.compile(rf"""["']({others})["']|(compute|backend).*["']local["']|["']local["'].*(compute|backend)""")


COMPUTE_NAMES = _compute_names()


def test_no_compute_target_is_named_outside_its_backend():
    """Knowledge of a compute target lives in its backend module (trainkit/compute/<name>*.py) and
    its registration; nowhere else compares or spells its name ("local" is also fsspec's protocol
    name: it counts where the line speaks of a compute target or backend)."""
    allowed = {ROOT / "trainkit" / "compute" / "__init__.py"}
    found = []
    for path in modules().values():
        rel = path.relative_to(ROOT)
        if path in allowed or (rel.parts[:2] == ("trainkit", "compute") and path.stem != "base"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if COMPUTE_NAMES.search(code):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "compute target names outside their backends:\n" + "\n".join(found)


def test_the_name_check_catches_a_comparison(tmp_path):
    assert COMPUTE_NAMES.search('if status["job"]["backend"] == "slurm":')
    assert COMPUTE_NAMES.search('if c.get("compute.name") == "local":')
    assert not COMPUTE_NAMES.search('EXCLUSIVE_CREATE = ("file", "local")')


def test_every_test_that_starts_a_cluster_runs_in_that_clusters_process():
    """The suite runs in 2 processes; tests sharing a test cluster must be one group (tests/conftest.py),
    or a test taking an ssh host's link down breaks a Ray or ssh test running beside it."""
    from ..conftest import GROUPS, ROOT, group_of

    cluster_group = {"ssh_up.sh": "netns", "ray_up.sh": "netns", "slurm_up.sh": "slurm"}
    starts = 0
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        for scope in [tree, *[n for n in tree.body if isinstance(n, ast.ClassDef)]]:
            owner = rel if scope is tree else f"{rel}::{scope.name}"
            nodes = ast.walk(scope) if scope is not tree else [
                n for top in tree.body if not isinstance(top, ast.ClassDef) for n in ast.walk(top)]
            for node in nodes:
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "start" and node.args \
                        and isinstance(node.args[0], ast.Constant) and node.args[0].value in cluster_group:
                    starts += 1
                    assert group_of(f"{owner}::test_x") == cluster_group[node.args[0].value], (owner, GROUPS)
    assert starts >= 6


MAX_FUNCTION_LINES, MAX_CLASS_LINES = 60, 300


def oversized(tree: ast.AST) -> list[tuple[str, int]]:
    """(name, lines) of every function over MAX_FUNCTION_LINES and class over MAX_CLASS_LINES."""
    limits = {ast.FunctionDef: MAX_FUNCTION_LINES, ast.AsyncFunctionDef: MAX_FUNCTION_LINES, ast.ClassDef: MAX_CLASS_LINES}
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if type(node) in limits and node.end_lineno - node.lineno + 1 > limits[type(node)]]


def test_the_size_check_catches_a_long_function_and_a_long_class():
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    assert oversized(ast.parse(f"def f():\n{body}\n")) == [("f", 61)]
    methods = "".join(f"    def m{i}(self):\n        return {i}\n" for i in range(150))
    assert oversized(ast.parse(f"class C:\n{methods}")) == [("C", 301)]
    assert oversized(ast.parse("def g():\n    return 1\n")) == []


def test_no_function_over_60_lines_and_no_class_over_300():
    found = [f"{path.relative_to(ROOT)}: {name} ({n} lines)"
             for path in modules().values() for name, n in oversized(ast.parse(path.read_text()))]
    assert not found, "split these (functions <= 60 lines, classes <= 300):\n" + "\n".join(found)
