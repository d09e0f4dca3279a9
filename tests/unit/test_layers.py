"""The package's layers, written down and checked from the source, lazy imports included: a module
may import from its own layer and the layers below it. The imports that still run up are listed
in UPWARD, each with the reason it stays; a new one fails here, and so does a listed one that is
gone (the list stays true). See docs/explanation/architecture.md."""
from __future__ import annotations

import ast
from pathlib import Path

from .test_layout import ROOT, modules

# Lowest first. A name is a package or a module (dotted, under trainkit unless it is a Hydra
# plugin); a module belongs to the longest name that prefixes it. The first layer holds the leaves
# other packages share: each imports nothing above it, which this test checks like any other.
LAYERS = [
    "errors fsutil numfmt policies plots typed targets session tfquiet envinfo tbevents "
    "config.keras_api keras2_shim compute.envs launch.project registry.graphguard names "
    "azureml_shim shimpath",
    "records distributions topology launch.snapshot",
    "data",
    "compute",
    "launch config.schema",
    "train",
    "registry",
    "run tracking hpo keras_datasets warm_start",
    "worker",
    "config hydra_plugins",
    "serve",
    "api",
    "migrate",
    "azureml_shim.azureml azureml_shim.loaders azureml_shim.startup azureml",
    "ui",
    "cli docsgen",
    "trainkit __main__",
]

UPWARD = {
    ("trainkit.records.spec", "trainkit.config.schema"):
        "a JobSpec carries the typed config; the schema's own checks look a dataset format and a compute "
        "target up in their registries (data, compute), so it sits above them",
    ("trainkit.data.datasets", "trainkit.config.schema"):
        "the dataset store takes and returns the typed DatasetConfig (the same reason as above)",
    ("trainkit.serve.app", "trainkit"):
        "the server reports the package version; the package root imports nothing eagerly",
}


def _layer_table() -> dict[str, int]:
    table = {}
    for i, names in enumerate(LAYERS):
        for name in names.split():
            table[name if name.startswith("hydra_plugins") or name == "trainkit" else f"trainkit.{name}"] = i
    return table


def layer(module: str, table: dict[str, int] | None = None) -> int | None:
    table = _layer_table() if table is None else table
    best = max((n for n in table if module == n or module.startswith(n + ".")), key=len, default=None)
    return None if best is None else table[best]


def imports_of(source: str, module: str, is_pkg: bool, mods: set[str]) -> set[str]:
    """The trainkit modules an import statement anywhere in `source` loads: `from pkg import mod`
    counts as mod, `from pkg import name` as pkg."""
    out = set()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {owner(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for a in node.names:
                out.add(f"{stem}.{a.name}" if f"{stem}.{a.name}" in mods else owner(stem))
    return {m for m in out if m and m != module}


def upward_imports() -> set[tuple[str, str]]:
    mods, table = modules(), _layer_table()
    names = set(mods)
    found = set()
    for name, path in mods.items():
        here = layer(name, table)
        for target in imports_of(path.read_text(), name, path.name == "__init__.py", names):
            if layer(target, table) > here:
                found.add((name, target))
    return found


def test_every_module_has_a_layer():
    assert [m for m in modules() if layer(m) is None] == []


def test_no_import_runs_up_the_layers_but_the_listed_ones():
    found = upward_imports()
    new = sorted(found - set(UPWARD))
    assert not new, "imports against the layers (move the shared code down, or list it with its reason):\n" + \
        "\n".join(f"  {a} -> {b}" for a, b in new)
    assert sorted(set(UPWARD) - found) == [], "listed but gone: take them off UPWARD"
    assert all(reason.strip() for reason in UPWARD.values())


def test_a_planted_upward_import_inside_a_function_is_caught():
    mods = set(modules())
    source = "def helper():\n    from ..cli import fmt\n    return fmt\n"
    [target] = imports_of(source, "trainkit.records.runs", False, mods)
    assert target == "trainkit.cli.fmt" and layer(target) > layer("trainkit.records.runs")


def test_every_package_says_what_it_exports_and_exports_only_what_it_has():
    """`__all__` in every package marks its public surface ([] for internals); the Azure ML layer's
    own packages mirror the SDK's and are left out."""
    import importlib

    packages = [m for m, p in modules().items() if p.name == "__init__.py" and m.startswith("trainkit")
                and not m.startswith("trainkit.azureml_shim.azureml") and not m.endswith(".pythonpath")]
    assert len(packages) > 10
    missing = [m for m in packages if "__all__" not in modules()[m].read_text()]
    assert missing == [], f"packages without __all__: {missing}"
    for m in packages:
        module = importlib.import_module(m)
        assert all(hasattr(module, name) for name in module.__all__), m
