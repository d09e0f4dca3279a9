"""Following an Azure ML SDK v1 project's code without running it.

Each notebook (all its cells) or file is one `Interpreter`: its statements in order, simple
assignments remembered (`script_folder = './tf'`, `args = ['--data-folder', ds.as_mount()]`), imports
resolved (`from azureml.core import Workspace as W`), function and method bodies followed once
(after the module code, as they would run: a Keras callback's `run.log` is found), with `with`,
`assert`, comprehensions and lambdas looked into. Each SDK call becomes an `Sdk` value so values reach
the calls that use them; each is kept as a `Call` for the report. What the code does to files
(`%%writefile`, `shutil.copy` into a source_directory, `open(...).write`) is followed in `Files`.

Never crashes: a statement it cannot follow (an error, RecursionError, MemoryError, too much work)
becomes a "not understood" row and the rest goes on; values past a small size are Unknown."""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import Files
from .source import Source, Unit
from .values import DatasetPath, Derived, FileHandle, Func, Module, PathVal, Sdk, Unknown, bounded, hashable, short

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
    """The analyzer's work budget for one file is spent."""


@dataclass
class Call:
    """One SDK call found: where, its text, and (filled in by the emitter) what it became."""

    where: str
    text: str
    sdk: Sdk
    became: str = ""
    unmapped: str = ""


@dataclass
class Analysis:
    calls: list[Call] = field(default_factory=list)
    not_understood: list[str] = field(default_factory=list)   # "file:line: why"
    files: Files | None = None
    azureml_files: set = field(default_factory=set)           # resolved paths of .py files importing azureml
    problems: list[str] = field(default_factory=list)         # cells and files that do not parse
    read: int = 0                                              # units read and followed


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


class Interpreter:
    """One notebook's (or one file's) statements, in order, with its own variables."""

    def __init__(self, analysis: Analysis, path: Path):
        self.out = analysis
        self.module = Scope()
        self.scope = self.module
        self.aliases: dict[str, str] = {}     # local name -> qualified name (imports)
        self.star_sdk = False                 # `from azureml... import *` (or any azureml import): bare SDK names count
        self.deferred: list[Func] = []
        self.unit: Unit | None = None
        self.steps = 0
        self.cwd = path.parent.resolve()
        self.stopped = False                  # the work budget ran out: the rest of this file is not followed
        self.quiet = False                    # a loop's later rounds: calls are not listed again

    # ------------------------------------------------------------------ units and statements
    def run(self, unit: Unit) -> None:
        self.unit, self.steps = unit, 0
        if unit.written is not None:
            w = unit.written
            path = self.expand(w.path)
            if path is None:
                self.out.not_understood.append(f"{unit.where(1)}: %%writefile {w.path}: its path is not known")
            else:
                self.out.files.write(Files.absolute(path, self.cwd), w.text, unit.where(1), w.append)
            return
        if unit.cell is None:
            self.module.vars["__file__"] = str(unit.path.resolve())
        self.block(unit.tree.body)

    def expand(self, text: str) -> str | None:
        """IPython's `$name` and `{name}` in a magic's argument, from this notebook's variables."""
        import re

        def value(m):
            v = self.scope.get(m.group(1) or m.group(2))
            if not isinstance(v, str):
                raise KeyError(m.group(0))
            return v

        try:
            return re.sub(r"\$(\w+)|\{(\w+)\}", value, text)
        except KeyError:
            return None

    def finish(self) -> None:
        """Function bodies not called by the code itself, followed now (their SDK calls are listed)."""
        while self.deferred:
            self.follow(self.deferred.pop(0))

    def block(self, body: list) -> None:
        for stmt in body:
            try:
                self.stmt(stmt)
            except TooMuch:
                raise
            except (Exception, RecursionError, MemoryError) as e:   # noqa: B014 - never crash on user code
                self.not_understood(stmt, f"{type(e).__name__}: {str(e)[:160]}")

    def not_understood(self, node: ast.AST, why: str) -> None:
        self.out.not_understood.append(f"{self.where(node)}: {why}")

    def stmt(self, node: ast.stmt) -> None:
        handler = getattr(self, "s_" + type(node).__name__, None)
        if handler is not None:
            handler(node)
        else:   # anything else: look into its expressions and blocks
            self.generic(node)

    def generic(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.eval(child)
            elif isinstance(child, ast.stmt):
                self.stmt(child)
            elif isinstance(child, (ast.excepthandler, ast.match_case, ast.withitem, ast.comprehension)):
                self.generic(child)

    def s_Assign(self, node: ast.Assign) -> None:
        value = self.eval(node.value)
        for target in node.targets:
            self.assign(target, value)

    def s_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.assign(node.target, self.eval(node.value))

    def s_AugAssign(self, node: ast.AugAssign) -> None:
        value = self.eval(node.value)
        old = self.eval(node.target)
        if isinstance(node.op, ast.Add) and isinstance(old, (list, str, int, float)) and type(old) is type(value):
            value = bounded(old + value)
        else:
            value = Unknown(node)
        self.assign(node.target, value)

    def s_Expr(self, node: ast.Expr) -> None:
        self.eval(node.value)

    def s_Return(self, node: ast.Return) -> None:
        if node.value is not None:
            self.scope.vars["<return>"] = self.eval(node.value)

    def s_If(self, node: ast.If) -> None:
        self.eval(node.test)
        self.block(node.body)
        self.block(node.orelse)

    def s_For(self, node: ast.For) -> None:
        """A loop over a small known list runs once per item (its SDK calls listed once, from the
        first); any other loop's body is followed once with the loop variable unknown."""
        items = self.eval(node.iter)
        if isinstance(items, list) and 0 < len(items) <= 64 and not isinstance(node, ast.AsyncFor):
            quiet = self.quiet
            try:
                for i, item in enumerate(items):
                    self.quiet = quiet or i > 0
                    self.assign(node.target, item)
                    self.block(node.body)
            finally:
                self.quiet = quiet
        else:
            self.assign(node.target, Unknown(node.target))
            self.block(node.body)
        self.block(node.orelse)

    s_AsyncFor = s_For

    def s_While(self, node: ast.While) -> None:
        self.eval(node.test)
        self.block(node.body)
        self.block(node.orelse)

    def s_With(self, node: ast.With) -> None:
        for item in node.items:
            value = self.eval(item.context_expr)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, value)
        self.block(node.body)

    s_AsyncWith = s_With

    def s_Try(self, node: ast.Try) -> None:
        self.block(node.body)
        for h in node.handlers:
            if h.type is not None:
                self.eval(h.type)
            if h.name:
                self.scope.vars[h.name] = Unknown(h.name)
            self.block(h.body)
        self.block(node.orelse)
        self.block(node.finalbody)

    s_TryStar = s_Try

    def s_FunctionDef(self, node) -> None:
        for d in [*node.decorator_list, *node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]:
            self.eval(d)
        func = Func(node, self.scope)
        self.scope.vars[node.name] = func
        self.deferred.append(func)

    s_AsyncFunctionDef = s_FunctionDef

    def s_ClassDef(self, node: ast.ClassDef) -> None:
        for e in [*node.bases, *node.decorator_list, *(k.value for k in node.keywords)]:
            self.eval(e)
        outer, self.scope = self.scope, Scope(self.scope)
        try:
            self.block(node.body)
        finally:
            self.scope = outer
        self.scope.vars[node.name] = Unknown(node.name)

    def s_Import(self, node: ast.Import) -> None:
        for a in node.names:
            local = a.asname or a.name.split(".")[0]
            self.aliases[local] = a.name if a.asname else a.name.split(".")[0]
            self.scope.vars.pop(local, None)
            if a.name.startswith("azureml"):
                self.azureml()

    def s_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for a in node.names:
            if a.name == "*":
                if module.startswith("azureml"):
                    self.azureml()
                continue
            local = a.asname or a.name
            self.aliases[local] = f"{module}.{a.name}"
            self.scope.vars.pop(local, None)
        if module.startswith("azureml"):
            self.azureml()

    def azureml(self) -> None:
        self.star_sdk = True
        if self.unit is not None and self.unit.cell is None:
            self.out.azureml_files.add(self.unit.path.resolve())

    def follow(self, func: Func, args: list | None = None, kwargs: dict | None = None) -> Any:
        """A function's body, once, in its own scope: its parameters bound to the arguments of the
        first call that reaches it (`get_or_create(ws, 'gpu-cluster', 'STANDARD_NC6')`), else unknown."""
        if func.followed:
            return func.returns
        func.followed = True
        outer, self.scope = self.scope, Scope(func.scope)
        try:
            self.bind(func.node.args, args or [], kwargs or {})
            self.block(func.node.body)
            func.returns = self.scope.vars.get("<return>")
        finally:
            self.scope = outer
        return func.returns

    def bind(self, spec: ast.arguments, args: list, kwargs: dict) -> None:
        positional = [*spec.posonlyargs, *spec.args]
        defaults = dict(zip([a.arg for a in positional[len(positional) - len(spec.defaults):]], spec.defaults))
        defaults.update({a.arg: d for a, d in zip(spec.kwonlyargs, spec.kw_defaults) if d is not None})
        for i, a in enumerate([*positional, *spec.kwonlyargs]):
            if i < len(positional) and i < len(args):
                value = args[i]
            elif a.arg in kwargs:
                value = kwargs[a.arg]
            elif a.arg in defaults:
                value = self.eval(defaults[a.arg])
            else:
                value = Unknown(a.arg)
            self.scope.vars[a.arg] = value
        for extra in (spec.vararg, spec.kwarg):
            if extra is not None:
                self.scope.vars[extra.arg] = Unknown(extra.arg)

    # ------------------------------------------------------------------ assignment
    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scope.vars[target.id] = value
            if isinstance(value, Sdk) and value.var is None:
                value.var = target.id
        elif isinstance(target, ast.Attribute):   # env.python.conda_dependencies = cd; env.docker.base_image = ...
            owner = self.eval(target.value)
            if isinstance(owner, Sdk):
                root, path = view_path(owner)
                root.attrs[".".join([*path, target.attr])] = value
        elif isinstance(target, ast.Subscript):
            self.eval(target.value)
            self.eval(target.slice)
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value if isinstance(value, list) and len(value) == len(target.elts) else None
            for i, t in enumerate(target.elts):
                self.assign(t.value if isinstance(t, ast.Starred) else t,
                            values[i] if values is not None else Unknown(t))
        elif isinstance(target, ast.Starred):
            self.assign(target.value, Unknown(target))

    # ------------------------------------------------------------------ expressions
    def eval(self, node: ast.expr) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooMuch()
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

    e_Tuple = e_Set = e_List

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

    e_SetComp = e_GeneratorExp = e_DictComp = e_ListComp

    def e_NamedExpr(self, node: ast.NamedExpr) -> Any:
        value = self.eval(node.value)
        self.assign(node.target, value)
        return value

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

    # ------------------------------------------------------------------ files and paths
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


def analyze(source: Source) -> Analysis:
    """Every SDK call of every readable unit; a notebook's cells share one set of variables."""
    out = Analysis(files=Files(source))
    for path in source.files:
        units = source.load(path)
        out.problems += [f"{u.where(0).rsplit(', line', 1)[0]}: {u.error}" for u in units if u.error]
        out.read += sum(1 for u in units if not u.error)
        interp = Interpreter(out, path)
        for unit in units:
            if unit.tree is not None or unit.written is not None:
                guarded(interp, unit, lambda: interp.run(unit))
        if interp.unit is not None:
            guarded(interp, interp.unit, interp.finish)
        for unit in units:      # one file at a time: its trees are not kept
            unit.tree = None
    return out


def guarded(interp: Interpreter, unit: Unit, step) -> None:
    """Run one step of the analysis; whatever goes wrong is a row, never an exception."""
    if interp.stopped:
        return
    try:
        step()
    except TooMuch:
        interp.stopped = True
        interp.out.not_understood.append(f"{unit.where(0)}: not followed further: more than {MAX_STEPS} "
                                          "steps of analysis in this file (generated code?)")
    except (Exception, RecursionError, MemoryError) as e:   # noqa: B014 - one file never stops the rest
        interp.out.not_understood.append(f"{unit.where(0)}: {type(e).__name__}: {str(e)[:160]}")
