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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .effects import FileEffects
from .expressions import Call, Expressions, Scope, TooMuch
from .files import Files
from .source import Source, Unit
from .values import Func, Sdk, Unknown, bounded, view_path

@dataclass
class Analysis:
    calls: list[Call] = field(default_factory=list)
    not_understood: list[str] = field(default_factory=list)   # "file:line: why"
    files: Files | None = None
    azureml_files: set = field(default_factory=set)           # resolved paths of .py files importing azureml
    problems: list[str] = field(default_factory=list)         # cells and files that do not parse
    read: int = 0                                              # units read and followed


class Interpreter(Expressions, FileEffects):
    """One notebook's (or one file's) statements, in order, with its own variables. Its
    expressions and calls are `Expressions` (expressions.py), what they do to files `FileEffects`
    (effects.py)."""

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
    except TooMuch as spent:
        interp.stopped = True
        interp.out.not_understood.append(f"{unit.where(0)}: not followed further: more than {spent.steps} "
                                          "steps of analysis in this file (generated code?)")
    except (Exception, RecursionError, MemoryError) as e:   # noqa: B014 - one file never stops the rest
        interp.out.not_understood.append(f"{unit.where(0)}: {type(e).__name__}: {str(e)[:160]}")
