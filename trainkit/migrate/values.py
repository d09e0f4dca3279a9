"""The values `trainkit migrate`'s analyzer gives expressions: literals (bounded), `Sdk` objects (one
per Azure ML SDK call, or a view of one: `env.python.conda_dependencies`), paths, the folders of
mounted datasets, and `Unknown` for anything it does not evaluate."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_STR = 20_000      # longer strings are unknown (L3: `s = s + s` thirty times must not take gigabytes)
MAX_ITEMS = 2_000     # longer lists and dicts are unknown


class Unknown:
    """What the analyzer did not evaluate; its source text is made only when asked for (unparsing
    every unknown expression was most of the analyzer's time)."""

    __slots__ = ("_node", "_text")

    def __init__(self, text: "str | object"):
        self._node, self._text = (None, text) if isinstance(text, str) else (text, None)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = short(self._node)
            self._node = None
        return self._text

    def __str__(self) -> str:
        return f"<{self.text}>"

    def __repr__(self) -> str:
        return f"Unknown({self.text!r})"


def short(node, limit: int = 120) -> str:
    """An expression's source text, shortened."""
    import ast

    try:
        text = ast.unparse(node)
    except (Exception, RecursionError):   # noqa: B014
        text = type(node).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Derived(Unknown):
    """An unknown value computed from SDK objects (`best_of(sweep_1, n=3) + best_of(sweep_2)`): the
    objects are kept, so a warm start still knows which sweeps it came from."""

    __slots__ = ("sdks",)

    def __init__(self, text, sdks: list):
        super().__init__(text)
        self.sdks = sdks


class PathVal(str):
    """A `pathlib.Path` value: a string that joins with `/`."""

    def join(self, *parts: str) -> "PathVal":
        out = str(self)
        for p in parts:
            out = p if p.startswith("/") else (f"{out.rstrip('/')}/{p}" if out else p)
        return PathVal(out)


@dataclass(eq=False)
class Sdk:
    """The value of an SDK call: `name` (e.g. Dataset.File.from_files), its arguments, where. A view
    (`view=True`) is an attribute of one (`env.python`), not a call of its own."""

    name: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    where: str = ""
    parent: "Sdk | None" = None
    attrs: dict = field(default_factory=dict)      # settings assigned later (env.python.conda_dependencies = ...)
    var: str | None = None                          # the variable it was first assigned to
    home: Any = None                                # the folder of the file it stands in (relative paths start there)
    view: bool = False

    def __repr__(self) -> str:
        return f"<{self.name} at {self.where}>"

    def arg(self, key: str, pos: int | None = None, default: Any = None) -> Any:
        """An argument of the call, or a setting assigned to the object afterwards (`rc.node_count = 2`)."""
        if key in self.attrs:
            return self.attrs[key]
        if key in self.kwargs:
            return self.kwargs[key]
        if pos is not None and pos < len(self.args):
            return self.args[pos]
        return default

    @property
    def method(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def root(self) -> "Sdk":
        """The object a chain of views and dataset method calls started from
        (ds.as_named_input(..).as_mount() -> ds; env.python.conda_dependencies -> env)."""
        if self.parent is not None and (self.view or self.method in CHAIN):
            return self.parent.root()
        return self

    def owner(self) -> "Sdk | None":
        """The object this call is a method of (through views): cd.add_pip_package -> cd."""
        node = self.parent
        while node is not None and node.view:
            node = node.parent
        return node


CHAIN = {"as_named_input", "as_mount", "as_download", "as_hdfs", "to_path", "register"}


@dataclass(eq=False)
class DatasetPath:
    """`ds.as_mount()` / `as_named_input(...).as_mount()` / `as_download()`: the dataset's folder."""

    dataset: Sdk


@dataclass(eq=False)
class FileHandle:
    """`open(PATH, 'w')`: writes go to the files the project's code makes."""

    path: str


@dataclass(eq=False)
class Func:
    """A function defined in the project's code: its body is followed once (its SDK calls listed);
    a call to it gives the value its `return` gave then."""

    node: Any
    scope: Any
    returns: Any = None
    followed: bool = False


@dataclass(frozen=True)
class Module:
    """An imported module (or a name imported from one that is not the SDK's): `qualname`."""

    qualname: str


def bounded(value: Any) -> Any:
    """The value, or Unknown when it is too big to keep."""
    if isinstance(value, str) and len(value) > MAX_STR:
        return Unknown(f"a string of {len(value)} characters")
    if isinstance(value, (list, dict)) and len(value) > MAX_ITEMS:
        return Unknown(f"a {type(value).__name__} of {len(value)} items")
    return value


def literal_text(value: Any) -> str | None:
    """A literal as text (what may be written into a config); None for anything else."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def kind(sdk: Sdk) -> str:
    """What an object is, for naming its methods (Dataset.File.from_files(...).register -> Dataset.register)."""
    if sdk.view:
        return f"{kind(sdk.parent)}.{sdk.method}" if sdk.parent is not None else sdk.name
    name, head = sdk.name, sdk.name.split(".")[0]
    for test, result in KINDS:
        if test(name, head):
            return result
    return head


KINDS = [
    (lambda n, h: n.endswith(".submit") or n.endswith(".get_best_run_by_primary_metric") or h in ("Run", "ScriptRun")
     or n.endswith(".get_children") or n.endswith(".get_children_sorted_by_primary_metric") or n == "HyperDriveRun",
     "Run"),
    (lambda n, h: h in ("Dataset", "FileDataset", "TabularDataset"), "Dataset"),
    (lambda n, h: n.endswith(".deploy") or h in ("Webservice", "AciWebservice", "AksWebservice", "LocalWebservice")
     and not n.endswith("deploy_configuration"), "Webservice"),
    (lambda n, h: n.endswith("deploy_configuration"), "DeploymentConfiguration"),
    (lambda n, h: n.endswith("get_default_datastore") or h == "Datastore", "Datastore"),
    (lambda n, h: n.endswith("provisioning_configuration"), "ProvisioningConfiguration"),
    (lambda n, h: h in ("ComputeTarget", "AmlCompute", "ComputeInstance"), "ComputeTarget"),
    (lambda n, h: n in ("Model.register",) or h == "Model" and not n.endswith(".deploy"), "Model"),
]


def view_path(sdk: Sdk) -> tuple[Sdk, list[str]]:
    """The object a view belongs to and the attribute path to it (env.python -> (env, ['python']))."""
    path = []
    while sdk.view and sdk.parent is not None:
        path.insert(0, sdk.method)
        sdk = sdk.parent
    return sdk, path
