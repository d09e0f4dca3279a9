"""Following an Azure ML SDK v1 project's code without running it: statements in order, simple
assignments remembered (`script_folder = './tf'`, `args = ['--data-folder', ds.as_mount()]`), each
SDK call turned into an `Sdk` value (its name, arguments and where it stands) so the values reach
the calls that use them. Every SDK call is kept as a `Call` for the report."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .source import Source, Unit

# Names whose calls are the SDK's (what `from azureml... import` brings); anything else is not followed.
SDK_ROOTS = {
    "Workspace", "Experiment", "Dataset", "FileDataset", "TabularDataset", "Datastore", "Environment",
    "CondaDependencies", "ComputeTarget", "AmlCompute", "ScriptRunConfig", "RunConfiguration", "Estimator",
    "TensorFlow", "MpiConfiguration", "TensorflowConfiguration", "PyTorchConfiguration", "Mpi", "ParameterServer",
    "HyperDriveConfig", "RandomParameterSampling", "GridParameterSampling", "BayesianParameterSampling",
    "choice", "uniform", "loguniform", "quniform", "qloguniform", "normal", "lognormal", "qnormal", "randint",
    "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy", "NoTerminationPolicy", "PrimaryMetricGoal",
    "Model", "InferenceConfig", "AciWebservice", "AksWebservice", "LocalWebservice", "ResourceConfiguration",
    "RunDetails", "Run", "DatasetConsumptionConfig",
}


@dataclass
class Sdk:
    """The value of an SDK call: `name` (e.g. Dataset.File.from_files), its arguments, where."""

    name: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    where: str = ""
    parent: "Sdk | None" = None
    attrs: dict = field(default_factory=dict)      # settings assigned later (env.python.conda_dependencies = ...)
    var: str | None = None                          # the variable it was first assigned to
    home: Any = None                                # the folder of the file it stands in (relative paths start there)

    def arg(self, key: str, pos: int | None = None, default: Any = None) -> Any:
        if key in self.kwargs:
            return self.kwargs[key]
        if pos is not None and pos < len(self.args):
            return self.args[pos]
        return default

    def root(self) -> "Sdk":
        """The object a chain of method calls started from (ds.as_named_input(..).as_mount() -> ds)."""
        return self.parent.root() if self.parent is not None and self.name.split(".")[-1] in CHAIN else self


CHAIN = {"as_named_input", "as_mount", "as_download", "register", "as_hdfs", "to_path"}


@dataclass
class DatasetPath:
    """`ds.as_mount()` / `as_named_input(...).as_mount()` / `as_download()`: the dataset's folder."""

    dataset: Sdk


@dataclass
class Unknown:
    text: str

    def __str__(self) -> str:
        return f"<{self.text}>"


@dataclass
class Call:
    """One SDK call found: where, its text, and (filled in by the emitter) what it became."""

    where: str
    text: str
    sdk: Sdk
    became: str = ""
    unmapped: str = ""


class Interpreter:
    """One notebook's (or one file's) statements, in order, with its own variables."""

    def __init__(self, calls: list[Call]):
        self.env: dict[str, Any] = {}
        self.calls = calls
        self.unit: Unit | None = None

    # ------------------------------------------------------------------ statements
    def run(self, unit: Unit) -> None:
        self.unit = unit
        for stmt in unit.tree.body:
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            value = self.eval(node.value)
            if isinstance(node, ast.AugAssign):
                old = self.eval(node.target)
                value = old + value if isinstance(old, (list, str, int, float)) and type(old) is type(value) else value
            self.assign(node.target, value)
        elif isinstance(node, ast.Expr):
            self.eval(node.value)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                for s in block:
                    self.stmt(s)
        elif isinstance(node, (ast.If, ast.For, ast.While, ast.With)):
            for s in [*node.body, *getattr(node, "orelse", [])]:
                self.stmt(s)

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = value
            if isinstance(value, Sdk) and value.var is None:
                value.var = target.id
        elif isinstance(target, ast.Attribute):   # env.python.conda_dependencies = cd; env.docker.base_image = ...
            chain = []
            node = target
            while isinstance(node, ast.Attribute):
                chain.insert(0, node.attr)
                node = node.value
            owner = self.env.get(node.id) if isinstance(node, ast.Name) else None
            if isinstance(owner, Sdk):
                owner.attrs[".".join(chain)] = value
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (list, tuple)):
            for t, v in zip(target.elts, value):
                self.assign(t, v)

    # ------------------------------------------------------------------ expressions
    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k) if k is not None else None: self.eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            return self.env.get(node.id, Unknown(node.id))
        if isinstance(node, ast.JoinedStr):
            parts = [self.eval(v.value) if isinstance(v, ast.FormattedValue) else v.value for v in node.values]
            return "".join(str(p) for p in parts) if all(isinstance(p, (str, int, float)) for p in parts) \
                else Unknown(ast.unparse(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.eval(node.left), self.eval(node.right)
            if type(left) is type(right) and isinstance(left, (str, list, int, float)):
                return left + right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self.eval(node.operand)
            return -v if isinstance(v, (int, float)) else Unknown(ast.unparse(node))
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value)
            if isinstance(base, Sdk) and node.attr in base.attrs:
                return base.attrs[node.attr]
            name = dotted(node)
            if name and name.split(".")[0] in SDK_ROOTS:
                return Sdk(name, where=self.where(node))   # PrimaryMetricGoal.MAXIMIZE and the like
            return Unknown(ast.unparse(node))
        if isinstance(node, ast.Call):
            return self.call(node)
        return Unknown(ast.unparse(node))

    def where(self, node: ast.AST) -> str:
        return self.unit.where(getattr(node, "lineno", 0))

    def call(self, node: ast.Call) -> Any:
        args = [self.eval(a) for a in node.args if not isinstance(a, ast.Starred)]
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords if k.arg}
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = self.eval(func.value)
            if isinstance(owner, Sdk):   # a method of an SDK object: dataset.register(...), exp.submit(src)
                if func.attr in ("as_mount", "as_download", "to_path", "as_hdfs"):
                    sdk = Sdk(f"{owner.name}.{func.attr}", args, kwargs, self.where(node), parent=owner)
                    self.record(node, sdk)
                    return DatasetPath(owner.root())
                sdk = Sdk(f"{_kind(owner)}.{func.attr}", args, kwargs, self.where(node), parent=owner)
                self.record(node, sdk)
                return sdk
        name = dotted(func)
        if name and name.split(".")[0] in SDK_ROOTS:
            sdk = Sdk(name, args, kwargs, self.where(node))
            self.record(node, sdk)
            return sdk
        return Unknown(ast.unparse(node))

    def record(self, node: ast.Call, sdk: Sdk) -> None:
        sdk.home = self.unit.path.parent
        text = " ".join(ast.unparse(node).split())
        self.calls.append(Call(self.where(node), text if len(text) <= 140 else text[:137] + "...", sdk))


def _kind(sdk: Sdk) -> str:
    """What an object is, for naming its methods: Dataset.File.from_files(...).register -> Dataset.register."""
    head = sdk.name.split(".")[0]
    if head in ("Dataset", "FileDataset", "TabularDataset"):
        return "Dataset"
    if sdk.name in ("Experiment.submit",) or sdk.name.endswith(".submit"):
        return "Run"
    return head


def dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *parts])
    return None


def analyze(source: Source) -> list[Call]:
    """Every SDK call of every readable unit; a notebook's cells share one set of variables."""
    calls: list[Call] = []
    by_file: dict = {}
    for unit in source.units:
        if unit.tree is None:
            continue
        interp = by_file.setdefault(unit.path, Interpreter(calls))
        interp.run(unit)
    return calls
