"""The analyzer's expressions (`trainkit migrate`): each expression of a v1 project's code gets a
value (`values.py`), and each call is sorted: an SDK call becomes an `Sdk` value and a `Call` row, a
file call goes to `FileEffects`, a function of the code itself is followed. `Expressions` is one
part of `analyze.Interpreter`, whose statements, scopes and unit state it uses."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from .values import (DatasetPath, Derived, FileHandle, Func, Module, PathVal, Sdk, Unknown, bounded, hashable, kind,
                     short, view_path)

__all__: list[str] = []   # internal: trainkit migrate's analyzer

# Names whose calls are the SDK's (what `from azureml... import` brings).
SDK_ROOTS = {
    "Workspace", "Experiment", "Dataset", "FileDataset", "TabularDataset", "Datastore", "Environment",
    "CondaDependencies", "ComputeTarget", "AmlCompute", "ComputeInstance", "ScriptRunConfig", "RunConfiguration",
    "Estimator", "TensorFlow", "MpiConfiguration", "TensorflowConfiguration", "PyTorchConfiguration", "Mpi",
    "ParameterServer", "HyperDriveConfig", "HyperDriveRun", "RandomParameterSampling", "GridParameterSampling",
    "BayesianParameterSampling", "choice", "uniform", "loguniform", "quniform", "qloguniform", "normal", "lognormal",
    "qnormal", "qlognormal", "randint", "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy",
    "NoTerminationPolicy", "PrimaryMetricGoal", "Model", "InferenceConfig", "AciWebservice", "AksWebservice",
    "LocalWebservice", "Webservice", "ResourceConfiguration", "RunDetails", "Run", "DatasetConsumptionConfig",
    "ComputeTargetException", "UserErrorException", "WebserviceException", "DataPath", "DataReference",
    "PipelineData", "OutputFileDatasetConfig", "ContainerRegistry", "DockerConfiguration", "ScriptRun",
}
FILE_CALLS = {"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree", "os.makedirs", "os.mkdir",
              "open", "io.open", "os.path.join", "os.path.dirname", "os.path.basename", "os.path.abspath",
              "os.path.realpath", "os.path.normpath", "os.getcwd", "pathlib.Path", "str", "os.fspath", "__tk_shell__",
              "urllib.request.urlretrieve", "urllib.urlretrieve"}
DATA_METHODS = {"get_metrics", "get_details", "get_file_names", "get_status", "serialize", "get_keys", "get_logs",
                "get_tags", "get_properties", "to_path", "serialize_to_string", "get_details_with_logs",
                "get_children_sorted_by_primary_metric", "list", "get_portal_url", "get_token"}   # return plain data
MAX_STEPS = 400_000        # expression evaluations per file (a generated module is not followed further)


class TooMuch(Exception):
    """The analyzer's work budget for one file (`steps` expression evaluations) is spent."""

    def __init__(self, steps: int):
        super().__init__(f"more than {steps} steps")
        self.steps = steps


@dataclass
class Call:
    """One SDK call found: where, its text, and (filled in by the emitter) what it became."""

    where: str
    text: str
    sdk: Sdk
    became: str = ""
    unmapped: str = ""


class Scope:
    def __init__(self, parent: "Scope | None" = None):
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def has(self, name: str) -> bool:
        scope = self
        while scope is not None:
            if name in scope.vars:
                return True
            scope = scope.parent
        return False

    def get(self, name: str) -> Any:
        scope = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return None


class Expressions:
    """Expression evaluation and calls, for `analyze.Interpreter` (`self.scope`, `self.out`,
    `self.unit`, `self.steps` and the statement handlers are the interpreter's)."""

    def eval(self, node: ast.expr) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooMuch(MAX_STEPS)
        handler = getattr(self, "e_" + type(node).__name__, None)
        if handler is not None:
            return handler(node)
        for child in ast.iter_child_nodes(node):   # look inside: SDK calls in any expression are listed
            if isinstance(child, ast.expr):
                self.eval(child)
            elif isinstance(child, ast.comprehension):
                self.comprehension(child)
        return Unknown(node)

    def e_Constant(self, node: ast.Constant) -> Any:
        return bounded(node.value) if not isinstance(node.value, bytes) else Unknown("bytes")

    def e_List(self, node) -> Any:
        if len(node.elts) > 2_000:
            return Unknown(f"a literal of {len(node.elts)} items")
        return [self.eval(e) for e in node.elts]

    def e_Dict(self, node: ast.Dict) -> Any:
        if len(node.keys) > 2_000:
            return Unknown(f"a literal of {len(node.keys)} items")
        out = {}
        for k, v in zip(node.keys, node.values):
            key, value = (self.eval(k) if k is not None else None), self.eval(v)
            if k is None and isinstance(value, dict):
                out.update(value)
            elif k is not None and hashable(key):     # {X: batch_x}: a key with no value of its own is left out
                out[key] = value
        return out

    def e_Name(self, node: ast.Name) -> Any:
        if self.scope.has(node.id):
            return self.scope.get(node.id)
        if node.id in self.aliases:
            return Module(self.aliases[node.id])
        return Unknown(node.id)

    def e_JoinedStr(self, node: ast.JoinedStr) -> Any:
        parts = [self.eval(v.value) if isinstance(v, ast.FormattedValue) else v.value for v in node.values]
        if all(isinstance(p, (str, int, float)) and not isinstance(p, bool) for p in parts):
            return bounded("".join(str(p) for p in parts))
        return Unknown(node)

    def e_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        if isinstance(node.op, ast.Div) and isinstance(left, PathVal) and isinstance(right, str):
            return bounded(left.join(right))
        if isinstance(node.op, ast.Add) and type(left) is type(right) and isinstance(left, (str, list, int, float)):
            if isinstance(left, (str, list)) and len(left) + len(right) > 20_000:
                return Unknown(node)
            return bounded(left + right)
        if isinstance(node.op, ast.Add) and (isinstance(left, Derived) or isinstance(right, Derived)):
            return Derived(node, [*getattr(left, "sdks", []), *getattr(right, "sdks", [])])
        if isinstance(node.op, (ast.Mult, ast.Sub)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             and abs(v) < 1e12 for v in (left, right)):
            return left * right if isinstance(node.op, ast.Mult) else left - right
        return Unknown(node)

    def e_UnaryOp(self, node: ast.UnaryOp) -> Any:
        v = self.eval(node.operand)
        if isinstance(node.op, ast.USub) and isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
        return Unknown(node)

    def e_Attribute(self, node: ast.Attribute) -> Any:
        base = self.eval(node.value)
        if isinstance(base, Sdk):
            root, path = view_path(base)
            key = ".".join([*path, node.attr])
            if key in root.attrs:
                return root.attrs[key]
            return Sdk(f"{base.name}.{node.attr}", where=self.where(node), parent=base, view=True)
        if isinstance(base, Module):
            name = f"{base.qualname}.{node.attr}"
            sdk = self.sdk_name(name)
            return Sdk(sdk, where=self.where(node), home=self.cwd, view=True) if sdk else Module(name)
        if isinstance(base, PathVal):
            return self.path_attr(base, node.attr)
        if isinstance(base, Unknown) and isinstance(node.value, ast.Name) and node.value.id in SDK_ROOTS and self.star_sdk:
            return Sdk(f"{node.value.id}.{node.attr}", where=self.where(node), home=self.cwd, view=True)
        return Unknown(node)

    def e_Subscript(self, node: ast.Subscript) -> Any:
        base, key = self.eval(node.value), self.eval(node.slice)
        if isinstance(base, Sdk):
            return Sdk(f"{base.name}[]", args=[key], where=self.where(node), parent=base, view=True)
        if isinstance(base, dict) and hashable(key):
            return base.get(key, Unknown(node))
        if isinstance(base, list) and isinstance(key, int) and -len(base) <= key < len(base):
            return base[key]
        return Unknown(node)

    def e_IfExp(self, node: ast.IfExp) -> Any:
        self.eval(node.test)
        body, orelse = self.eval(node.body), self.eval(node.orelse)
        return body if isinstance(body, Sdk) else orelse if isinstance(orelse, Sdk) else Unknown(node)

    def e_Lambda(self, node: ast.Lambda) -> Any:
        outer, self.scope = self.scope, Scope(self.scope)
        try:
            for a in [*node.args.args, *node.args.kwonlyargs]:
                self.scope.vars[a.arg] = Unknown(a.arg)
            self.eval(node.body)
        finally:
            self.scope = outer
        return Unknown("lambda")

    def comprehension(self, comp: ast.comprehension) -> None:
        self.eval(comp.iter)
        self.assign(comp.target, Unknown(comp.target))
        for cond in comp.ifs:
            self.eval(cond)

    def e_ListComp(self, node) -> Any:
        values = self.comprehension_values(node)
        if values is not None:
            return values
        outer, self.scope = self.scope, Scope(self.scope)
        try:
            for comp in node.generators:
                self.comprehension(comp)
            for part in ((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)):
                self.eval(part)
        finally:
            self.scope = outer
        return Unknown(node)

    def comprehension_values(self, node) -> list | None:
        """A list comprehension over known, small lists (`[base + f for f in files]`), evaluated;
        None when it calls anything or its lists are not known."""
        if not isinstance(node, ast.ListComp) or any(isinstance(n, ast.Call) for n in ast.walk(node)):
            return None
        out: list = []
        outer, self.scope = self.scope, Scope(self.scope)
        try:
            ok = self.generate(node.generators, node.elt, out)
        finally:
            self.scope = outer
        return out if ok else None

    def generate(self, generators: list, elt, out: list) -> bool:
        if not generators:
            out.append(self.eval(elt))
            return len(out) <= 2_000
        first, rest = generators[0], generators[1:]
        items = self.eval(first.iter)
        if not isinstance(items, list) or first.is_async:
            return False
        for item in items:
            self.assign(first.target, item)
            conds = [self.eval(c) for c in first.ifs]
            if any(not isinstance(c, bool) for c in conds):
                return False
            if all(conds) and not self.generate(rest, elt, out):
                return False
        return True

    def e_NamedExpr(self, node: ast.NamedExpr) -> Any:
        value = self.eval(node.value)
        self.assign(node.target, value)
        return value

    e_Tuple = e_Set = e_List
    e_SetComp = e_GeneratorExp = e_DictComp = e_ListComp

    # ------------------------------------------------------------------ calls
    def e_Call(self, node: ast.Call) -> Any:
        func = node.func
        owner = self.eval(func.value) if isinstance(func, ast.Attribute) else None
        callee = self.eval(func) if not isinstance(func, ast.Attribute) else None
        args = [self.eval(a.value if isinstance(a, ast.Starred) else a) for a in node.args]
        kwargs = {}
        for k in node.keywords:
            value = self.eval(k.value)
            if k.arg:
                kwargs[k.arg] = value
            elif isinstance(value, dict):
                kwargs.update({str(key): v for key, v in value.items()})
        if isinstance(owner, Sdk):   # a method of an SDK object: dataset.register(...), exp.submit(src)
            return self.method(node, owner, func.attr, args, kwargs)
        name = self.qualified(func, owner, callee)
        if name in FILE_CALLS or isinstance(owner, PathVal) or isinstance(owner, FileHandle):
            return self.file_call(name, owner, func, args, kwargs, node)
        sdk = self.sdk_name(name) if name else None
        if sdk:
            made = Sdk(sdk, args, kwargs, self.where(node))
            self.record(node, made)
            return made
        if name in ("dict", "list", "tuple") and not self.scope.has(name):
            return self.builtin(name, args, kwargs, node)
        if isinstance(callee, Func):
            returned = self.follow(callee, args, kwargs)
            given = [a for a in [*args, *kwargs.values()] if isinstance(a, Sdk)]
            return Derived(node, given) if given and (returned is None or isinstance(returned, Unknown)) else returned
        if isinstance(callee, Sdk) and callee.view and not callee.parent:   # Dataset.File (a view) called
            made = Sdk(callee.name, args, kwargs, self.where(node))
            self.record(node, made)
            return made
        return Unknown(node)

    @staticmethod
    def builtin(name: str, args: list, kwargs: dict, node) -> Any:
        """dict(d, **more), dict(a=1), list(known), tuple(known): evaluated; anything else unknown."""
        if name == "dict" and len(args) <= 1 and (not args or isinstance(args[0], dict)):
            return bounded({**(args[0] if args else {}), **kwargs})
        if name in ("list", "tuple") and len(args) == 1 and isinstance(args[0], list) and not kwargs:
            return list(args[0])
        return Unknown(node)

    def method(self, node: ast.Call, owner: Sdk, attr: str, args: list, kwargs: dict) -> Any:
        if not owner.view and owner.method in DATA_METHODS:   # metrics.items(), details.get('x'): plain data
            return Unknown(node)
        if owner.view and owner.parent is not None and owner.parent.method in DATA_METHODS:
            return Unknown(node)
        if owner.view and owner.parent is None:     # Dataset.File.from_files: a class attribute, not an object
            sdk = Sdk(f"{owner.name}.{attr}", args, kwargs, self.where(node))
            self.record(node, sdk)
            return sdk
        sdk = Sdk(f"{kind(owner)}.{attr}", args, kwargs, self.where(node), parent=owner)
        self.record(node, sdk)
        if attr in ("as_mount", "as_download", "to_path", "as_hdfs"):
            return DatasetPath(owner.root())
        return sdk

    def qualified(self, func: ast.expr, owner: Any, callee: Any) -> str | None:
        """The called name with imports resolved (`W.from_config` -> azureml.core.Workspace.from_config)."""
        if isinstance(func, ast.Name):
            if isinstance(callee, Module):
                return callee.qualname if callee.qualname != "pathlib.Path" else "pathlib.Path"
            if self.scope.has(func.id):
                return None
            return func.id
        if isinstance(func, ast.Attribute) and isinstance(owner, Module):
            return f"{owner.qualname}.{func.attr}"
        if isinstance(func, ast.Attribute) and isinstance(owner, Unknown) and isinstance(func.value, ast.Name):
            return f"{func.value.id}.{func.attr}" if not self.scope.has(func.value.id) else None
        return None

    def sdk_name(self, name: str | None) -> str | None:
        """The SDK's name of a called name (`azureml.core.Dataset.File.from_files` -> Dataset.File.from_files)."""
        if not name:
            return None
        parts = name.split(".")
        if parts[0] == "azureml":
            for i, p in enumerate(parts):
                if p in SDK_ROOTS:
                    return ".".join(parts[i:])
            return None
        if parts[0] in SDK_ROOTS and self.star_sdk and parts[0] not in self.aliases:
            return name
        return None

    def record(self, node: ast.Call, sdk: Sdk) -> None:
        sdk.home = self.cwd
        if self.quiet:
            return
        text = " ".join(short(node, 400).split())
        self.out.calls.append(Call(self.where(node), text if len(text) <= 140 else text[:137] + "...", sdk))

    def where(self, node: ast.AST) -> str:
        return self.unit.where(getattr(node, "lineno", 0))
