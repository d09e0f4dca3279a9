"""What breaks when a TF 2 / Keras 2-era training script (some TF 1) runs on today's stack
(TensorFlow 2.21, Keras 3.15, numpy 2), where (file:line) and the fix: `scan(path, text, keras)`.

Pure `ast`: the scanned code is parsed, never imported or run, and no TensorFlow is loaded. Import
aliases are followed (`import numpy as np`, `import tensorflow.compat.v1 as tf`, `from
tensorflow.keras.optimizers import RMSprop`, `K = tf.keras.backend`), so a rule matches whatever
the import style; a local variable that shadows an alias is not the module. `RULES` is the table,
one row per rule (the docs are generated from it); `trainkit.migrate.fix` rewrites the findings
marked mechanical. Every rule was checked against the installed numpy 2.4, Keras 3.15, TensorFlow
2.21 and tf_keras 2.21 (the Keras 2 environment)."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .compat_rules import KERAS3_KWARGS, RULES, Rule

__all__ = ["Edit", "Finding", "RULES", "Rule", "scan", "scan_cells", "rules_markdown", "KERAS_TARGETS", "MAX_CHARS"]

KERAS_TARGETS = ("2", "3")     # environment.keras: "3" is the default stack, "2" is tf_keras with trainkit's Keras 2 shim
MAX_CHARS = 2_000_000          # a training script is kilobytes; past this the file is reported, not scanned


@dataclass(frozen=True)
class Edit:
    """A mechanical rewrite: the source span [start, end) (line 1-based, column in characters) and its new text."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


@dataclass(frozen=True)
class Finding:
    """One thing that breaks: where, which kind of rule, what and the fix; `mechanical`: --fix rewrites it."""

    path: str
    line: int
    kind: str               # numpy2 | keras3 | tf1 | download | azureml | syntax
    what: str
    fix: str
    mechanical: bool
    rule: str = ""          # the name (or call pattern) the RULES row matched here ("" for syntax)
    cell: int | None = None  # the notebook cell (scan_cells), None for a file
    col: int = 0
    edit: Edit | None = field(default=None, compare=False, repr=False)

    @property
    def where(self) -> str:
        cell = f" cell {self.cell}" if self.cell is not None else ""
        return f"{self.path}{cell}:{self.line}"


# ------------------------------------------------------------------ the rule index (built once from RULES)
def _expand(target: str, name: str | None = None) -> list[tuple[str, str]]:
    """'numpy.{float,int}' -> [('numpy.float', 'float'), ('numpy.int', 'int')]: one target per alternative
    (every brace group), with the first group's alternative as `<name>`; no braces: the last part."""
    m = re.search(r"\{([^}]*)\}", target)
    if not m:
        return [(target, name if name is not None else target.rsplit(".", 1)[-1])]
    return [pair for alt in m.group(1).split(",")
            for pair in _expand(target[:m.start()] + alt + target[m.end():], alt if name is None else name)]


@dataclass(frozen=True)
class Hit:
    """A rule as one expanded, namespaced target: `name` (the brace alternative) fills `<name>`; `to` rewritten."""

    rule: Rule
    target: str
    name: str
    to: str | None

    def text(self, s: str) -> str:
        return s.replace("<name>", self.name)


def _namespaced(rule: Rule, target: str, name: str) -> list[Hit]:
    to = rule.to.replace("<name>", name) if rule.to else None
    hits = [Hit(rule, target, name, to)]
    if rule.tf_keras and target.startswith("keras."):
        tk = "tensorflow." + target
        hits.append(Hit(rule, tk, name, ("tensorflow." + to) if to and to.startswith("keras.") else to))
    return hits


@lru_cache(maxsize=1)
def _index() -> dict[str, dict]:
    idx: dict[str, dict] = {"name": {}, "call": {}, "method": {}, "kwarg": {}}
    for rule in RULES:
        if rule.on == "kwarg":
            callee, kw = rule.target.rstrip(")").split("(")
            pattern = re.compile(re.escape(callee).replace(r"\*", r"[\w.]*") + "$")
            idx["kwarg"].setdefault(kw, []).append((pattern, Hit(rule, rule.target, kw, rule.to)))
            continue
        for target, name in _expand(rule.target):
            for hit in _namespaced(rule, target, name) if rule.on != "method" else [Hit(rule, target, name, rule.to)]:
                idx[rule.on].setdefault(hit.target, []).append(hit)
    return idx


def _applies(hit: Hit, keras: str) -> bool:
    return keras in hit.rule.keras


# ------------------------------------------------------------------ scopes: what a name stands for
@dataclass(frozen=True)
class Bind:
    """What a name is bound to: an imported module/object (`qual`), a string constant, a Keras model, or nothing known."""

    qual: str | None = None
    reported: bool = False      # its import was already reported: its uses are not reported again
    seen: bool = False          # its import was reported on an exact row: uses of the name itself are not either
    const: str | None = None
    model: bool = False


class Scope:
    def __init__(self, parent: "Scope | None" = None, is_class: bool = False):
        self.parent, self.is_class, self.names = parent, is_class, {}

    def lookup(self, name: str) -> Bind | None:
        s: Scope | None = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def function_parent(self) -> "Scope":
        """Where a function defined here looks names up: class bodies are skipped, as in Python."""
        s = self
        while s.is_class and s.parent is not None:
            s = s.parent
        return s


def is_path(text: str) -> bool:
    """`a.b.c`: a dotted name (a rewrite to one can follow the import's alias); `float`, `-0.0` are not."""
    return re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", text) is not None


def normalize(qual: str) -> str:
    return "tensorflow." + qual[len("tensorflow.compat.v2."):] if qual.startswith("tensorflow.compat.v2.") else qual


def dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ['a', 'b', 'c']; None if the chain has anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


MODEL_MAKERS = re.compile(r"(tensorflow\.)?keras\.(Sequential|Model|models\.(Sequential|Model|load_model|clone_model)"
                          r"|saving\.load_model|applications\..*)$")


# ------------------------------------------------------------------ the arguments a call/method row looks at
def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _arg(call: ast.Call, pos: int, name: str) -> ast.expr | None:
    return call.args[pos] if len(call.args) > pos else _kw(call, name)


def _no_ext(path: str | None, ok: tuple[str, ...]) -> bool:
    return path is not None and not path.lower().endswith(ok)


def _generator_args(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    """fit_generator(gen, ...) -> fit(gen, ...) keeps its meaning with one positional argument and none of the
    queue arguments Keras 3's fit dropped (they moved to keras.utils.PyDataset)."""
    queue = {"workers", "use_multiprocessing", "max_queue_size"}
    return "", len(call.args) <= 1 and not any(k.arg in queue or k.arg is None for k in call.keywords)


def _keras3_kwargs(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    unknown = [k.arg for k in call.keywords if k.arg is not None and k.arg not in KERAS3_KWARGS.get(method, ())]
    if not unknown or not sc.model_like(receiver):
        return None
    return " (" + ", ".join(f"`{k}=`" for k in unknown) + ")", False


def _model_receiver(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    return ("", False) if sc.model_like(receiver) else None


def _savedmodel_save(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    path = sc.path_text(_arg(call, 0, "filepath"))
    if not sc.model_like(receiver) or not _no_ext(path, (".keras", ".h5", ".hdf5")):
        return None
    return f" (path {path!r})", len(call.args) == 1 and not call.keywords


def _save_model_path(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    path = sc.path_text(_arg(call, 1, "filepath"))
    return (f" (path {path!r})", False) if _no_ext(path, (".keras", ".h5", ".hdf5")) else None


def _weights_save(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    path = sc.path_text(_arg(call, 0, "filepath"))
    return (f" (path {path!r})", False) if sc.model_like(receiver) and _no_ext(path, (".weights.h5",)) else None


def _weights_load(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    path = sc.path_text(_arg(call, 0, "filepath"))
    ok = (".weights.h5", ".h5", ".keras", ".hdf5")
    return (f" (path {path!r})", False) if sc.model_like(receiver) and _no_ext(path, ok) else None


def _keras_file(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    path = sc.path_text(_arg(call, 0, "filepath"))
    return (f" (path {path!r})", False) if _no_ext(path, (".keras", ".h5", ".hdf5")) else None


def _checkpoint_path(sc: "Scanner", call: ast.Call, receiver: ast.expr) -> tuple[str, bool] | None:
    path = sc.path_text(_arg(call, 0, "filepath"))
    weights = _kw(call, "save_weights_only")
    ok = (".weights.h5",) if isinstance(weights, ast.Constant) and weights.value is True else (".keras", ".h5")
    return (f" (path {path!r})", False) if _no_ext(path, ok) else None


CHECKS = {   # a call/method row's `check`: None if the call is fine, else (detail for `what`, can --fix rewrite it)
    "generator_args": _generator_args, "model_receiver": _model_receiver, "savedmodel_save": _savedmodel_save,
    "weights_save": _weights_save, "weights_load": _weights_load, "keras_file": _keras_file,
    "checkpoint_path": _checkpoint_path, "save_model_path": _save_model_path, "keras3_kwargs": _keras3_kwargs,
}
URL = re.compile(r"^(https?|ftp)://", re.I)
MAX_PARTS = 40     # no rule names a longer dotted chain; longer ones are only looked at this far


# ------------------------------------------------------------------ bindings
class Bindings(ast.NodeVisitor):
    """What each statement binds, for the `Scanner`: names to `Bind`s in `self.scope` (aliases such
    as `K = tf.keras.backend`, constants, models), class scopes, and function and lambda bodies
    deferred to the end of their module (`self.deferred`), as they run at call time."""

    def bind(self, target: ast.expr, value: Bind) -> None:
        if isinstance(target, ast.Name):
            self.scope.names[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self.bind(t, Bind())
        elif isinstance(target, ast.Starred):
            self.bind(target.value, Bind())

    def value_bind(self, value: ast.expr | None) -> Bind:
        """What `name = value` makes of the name: an alias (`K = tf.keras.backend`), a constant, a model, or nothing known."""
        if value is None:
            return Bind()
        chain = self.resolve(value)
        if chain is not None:
            return Bind(qual=chain[0])
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return Bind(const=value.value)
        if isinstance(value, ast.Call):
            callee = self.resolve(value.func)
            return Bind(model=callee is not None and MODEL_MAKERS.match(callee[0]) is not None)
        return Bind()

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        value = self.value_bind(node.value)
        for target in node.targets:
            self.visit(target)
            self.bind(target, value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.generic_visit(node)
        self.bind(node.target, self.value_bind(node.value))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.bind(node.target, self.value_bind(node.value))

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.bind(node.target, Bind())
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            self.bind(node.optional_vars, Bind())

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.scope.names[node.name] = Bind()
        for stmt in node.body:
            self.visit(stmt)

    def visit_Try(self, node: ast.Try) -> None:
        """What the try body binds is what runs when it works: an `except ImportError:` fallback does not undo it."""
        for stmt in node.body:
            self.visit(stmt)
        body = dict(self.scope.names)
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)
        for name, bind in body.items():
            if bind.qual is not None:
                self.scope.names[name] = bind

    visit_TryStar = visit_Try

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for expr in (*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)):
            self.visit(expr)
        self.scope.names[node.name] = Bind()
        self.defer(node.args, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in (*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)):
            self.visit(expr)
        self.defer(node.args, [ast.Expr(node.body)])

    def defer(self, args: ast.arguments, body: list[ast.stmt]) -> None:
        scope = Scope(self.scope.function_parent())
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None:
                scope.names[a.arg] = Bind()
        self.deferred.append((scope, body))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expr)
        outer, self.scope = self.scope, Scope(self.scope, is_class=True)
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.scope = outer
        self.scope.names[node.name] = Bind()


# ------------------------------------------------------------------ the scanner
class Scanner(Bindings):
    """Walks one module (a file or a notebook cell) in order, following bindings, and collects findings."""

    def __init__(self, path: str, text: str, keras: str, scope: Scope, cell: int | None = None):
        self.path, self.keras, self.cell, self.scope = path, keras, cell, scope
        self.lines = text.splitlines()
        self.findings: list[Finding] = []
        self.stack: list[ast.AST] = []
        self.deferred: list[tuple[Scope, list[ast.stmt]]] = []
        self.seen: set[tuple] = set()

    def run(self, tree: ast.Module) -> list[Finding]:
        self.visit(tree)
        while self.deferred:          # function bodies see the names their module bound by its end, as at call time
            self.scope, body = self.deferred.pop(0)
            for stmt in body:
                self.visit(stmt)
        return self.findings

    def visit(self, node: ast.AST):
        self.stack.append(node)
        try:
            return super().visit(node)
        finally:
            self.stack.pop()

    def visit_BinOp(self, node: ast.BinOp) -> None:
        """`a + b + c + ...` walked along its left spine, not recursively: a long sum is not deep code."""
        spine = []
        while isinstance(node, ast.BinOp):
            spine.append(node)
            node = node.left
        for parent, child in [(spine[-1], node)] + [(op, op.right) for op in reversed(spine)]:
            self.stack.append(parent)
            try:
                self.visit(child)
            finally:
                self.stack.pop()

    # -------------------------------------------------------------- positions and findings
    def char_col(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return byte_col if text.isascii() else len(text.encode()[:byte_col].decode(errors="ignore"))

    def span(self, node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((node.lineno, self.char_col(node.lineno, node.col_offset)),
                (node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset)))

    def report(self, node: ast.AST, hit: Hit, detail: str = "", edit: Edit | None = None) -> None:
        key = (node.lineno, node.col_offset, hit.rule.target)
        if key in self.seen:
            return
        self.seen.add(key)
        rule = hit.rule
        if edit is not None and edit.start[0] != edit.end[0]:
            edit = None           # a rewrite never joins lines: the findings' line numbers must hold after it
        mechanical = rule.mechanical and (edit is not None or rule.by == "tf_upgrade_v2")
        self.findings.append(Finding(self.path, node.lineno, rule.kind, hit.text(rule.what) + detail, hit.text(rule.fix),
                                     mechanical, hit.target, self.cell, self.char_col(node.lineno, node.col_offset),
                                     edit if mechanical else None))

    # -------------------------------------------------------------- what names stand for
    def resolve(self, node: ast.AST) -> tuple[str, Bind, list[str]] | None:
        """A dotted chain whose first name is bound to an import: (qualified name, that binding, the chain's parts)."""
        parts = dotted(node)
        if parts is None:
            return None
        bind = self.scope.lookup(parts[0])
        if bind is None or bind.qual is None:
            return None
        return normalize(".".join([bind.qual] + parts[1:MAX_PARTS])), bind, parts

    def match(self, qual: str, table: str = "name") -> Hit | None:
        parts = qual.split(".")
        for n in range(len(parts), 0, -1):
            for hit in _index()[table].get(".".join(parts[:n]), ()):
                if _applies(hit, self.keras) and (n == len(parts) or (table == "name" and not hit.rule.exact)):
                    return hit
        return None

    def model_like(self, node: ast.expr) -> bool:
        """A Keras model, as far as the code shows: bound to a model constructor, or named like one."""
        if isinstance(node, ast.Name):
            bind = self.scope.lookup(node.id)
            if bind is not None and (bind.model or bind.qual):
                return bind.model
            return "model" in node.id.lower()
        return isinstance(node, ast.Attribute) and "model" in node.attr.lower()

    def path_text(self, node: ast.expr | None) -> str | None:
        """A path argument's text, or its known ending: literals, names bound to one, f-strings and joins ending in one."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            bind = self.scope.lookup(node.id)
            return bind.const if bind is not None else None
        if isinstance(node, ast.JoinedStr) and node.values:
            return self.path_text(node.values[-1])
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
            return self.path_text(node.right)
        if isinstance(node, ast.Call) and node.args:
            callee = self.resolve(node.func)
            if callee is not None and callee[0] in ("os.path.join", "posixpath.join", "pathlib.Path"):
                return self.path_text(node.args[-1])
        return None

    # -------------------------------------------------------------- imports
    def import_hit(self, qual: str) -> Hit | None:
        """The rule an import of `qual` breaks on: the name itself is gone (a download is reported where it is called)."""
        hit = self.match(qual)
        return hit if hit is not None and hit.rule.kind != "download" else None

    @staticmethod
    def covers(hit: Hit | None) -> bool:
        """An import's finding speaks for every use of the name it binds (an exact row only for the name itself)."""
        return hit is not None and not hit.rule.exact

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            qual = normalize(alias.name)
            hit = self.import_hit(qual)
            if hit is not None:
                self.report(node, hit, edit=self.import_edit(alias, qual, hit))
            root = alias.name.split(".")[0]
            bound = Bind(qual, self.covers(hit), hit is not None) if alias.asname else Bind(qual=root)
            self.scope.names[alias.asname or root] = bound

    def import_edit(self, alias: ast.alias, qual: str, hit: Hit) -> Edit | None:
        """`import a.b.c [as x]` -> `import NEW [as x]` (without `as`, only when the name it binds stays the same)."""
        new = hit.to + qual[len(hit.target):] if hit.to and is_path(hit.to) else None
        if new is None or (alias.asname is None and new.split(".")[0] != alias.name.split(".")[0]):
            return None
        start, end = self.span(alias)
        return Edit(start, end, new + (f" as {alias.asname}" if alias.asname else ""))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = normalize(node.module or "")
        for alias in node.names:
            if alias.name == "*":
                continue
            qual = f"{module}.{alias.name}" if module and not node.level else None
            hit = self.import_hit(qual) if qual else None
            if hit is not None:
                self.report(node, hit, edit=self.from_edit(node, module, qual, hit))
            self.scope.names[alias.asname or alias.name] = Bind(qual, self.covers(hit), hit is not None)

    def from_edit(self, node: ast.ImportFrom, module: str, qual: str, hit: Hit) -> Edit | None:
        """`from OLD.mod import x` -> `from NEW.mod import x`; or, for a single name that moved,
        `from a.b import c` -> `from NEW import C as c` (the name the code uses stays bound)."""
        if not hit.to or not is_path(hit.to):
            return None
        if module == hit.target or module.startswith(hit.target + "."):
            m = re.compile(r"from\s+(" + re.escape(node.module or "") + r")\b").match(self.lines[node.lineno - 1],
                                                                                    self.char_col(node.lineno, node.col_offset))
            return m and Edit((node.lineno, m.start(1)), (node.lineno, m.end(1)), hit.to + module[len(hit.target):])
        if len(node.names) != 1:
            return None
        new_module, name = (hit.to + qual[len(hit.target):]).rsplit(".", 1)
        bound = node.names[0].asname or node.names[0].name
        start, end = self.span(node)
        return Edit(start, end, f"from {new_module} import {name}" + (f" as {bound}" if bound != name else ""))

    # -------------------------------------------------------------- names, attributes and calls
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.check_chain(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if dotted(node) is None:
            self.generic_visit(node)
        elif isinstance(node.ctx, ast.Load):
            self.check_chain(node)

    def check_chain(self, node: ast.expr) -> None:
        """A name or dotted chain that stands for something imported: report the rule it breaks on."""
        chain = self.resolve(node)
        if chain is None or chain[1].reported:
            return
        qual, bind, parts = chain
        hit = self.match(qual)
        if hit is None or (hit.rule.exact and bind.seen and qual == bind.qual):
            return
        call = self.stack[-2] if len(self.stack) > 1 and isinstance(self.stack[-2], ast.Call) else None
        detail = self.url_detail(call) if hit.rule.kind == "download" and call is not None and call.func is node else ""
        self.report(node, hit, detail, self.chain_edit(node, qual, bind, parts, hit))

    def chain_edit(self, node: ast.expr, qual: str, bind: Bind, parts: list[str], hit: Hit) -> Edit | None:
        """The chain rewritten with the name the code imported: `np.float_` -> `np.float64`, `np.float` -> `float`,
        `tf.keras.layers.experimental.preprocessing.X` -> `tf.keras.layers.X`, `np.NINF` -> `-np.inf`."""
        if not hit.to or len(parts) > MAX_PARTS:
            return None
        new = hit.to + qual[len(hit.target):]
        sign, body = ("-", new[1:]) if new.startswith("-") else ("", new)
        if body == bind.qual or body.startswith(f"{bind.qual}."):
            body = parts[0] + body[len(bind.qual):]
        elif is_path(hit.to.lstrip("-")):
            return None                       # the new name is not under the name the code imported
        text = sign + body
        parent = self.stack[-2] if len(self.stack) > 1 else None
        tight = isinstance(parent, (ast.Attribute, ast.Subscript, ast.UnaryOp)) \
            or (isinstance(parent, ast.Call) and parent.func is node) \
            or (isinstance(parent, ast.BinOp) and (parent.right is node or isinstance(parent.op, ast.Pow)))
        start, end = self.span(node)
        return Edit(start, end, f"({text})" if sign and tight else text)

    def url_detail(self, call: ast.Call) -> str:
        """The URL a download call fetches, where the code shows it (a literal, or a name bound to one)."""
        for value in (*call.args[:1], _kw(call, "origin"), _kw(call, "url")):
            text = self.path_text(value) if value is not None else None
            if text is not None and URL.match(text):
                return f" ({text})"
        return ""

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            self.check_method(node, node.func)
        callee = self.resolve(node.func)
        if callee is not None and not callee[1].reported:
            self.check_call(node, callee[0])
        self.generic_visit(node)

    def check_method(self, node: ast.Call, func: ast.Attribute) -> None:
        hits = [h for h in _index()["method"].get(func.attr, ()) if _applies(h, self.keras)]
        if not hits or self.resolve(func.value) is not None:    # np.save(...), tf.saved_model.save(...): not a model
            return
        hit = hits[0]
        found = CHECKS[hit.rule.check](self, node, func.value) if hit.rule.check else ("", False)
        if found is None:
            return
        detail, fixable = found
        end = (func.end_lineno, self.char_col(func.end_lineno, func.end_col_offset))
        edit = Edit((end[0], end[1] - len(func.attr)), end, hit.to) if fixable and hit.to else None
        self.report(func, hit, detail, edit)

    def check_call(self, node: ast.Call, qual: str) -> None:
        hit = self.match(qual, "call")
        found = CHECKS[hit.rule.check](self, node, node.func) if hit is not None else None
        if found is not None:
            self.report(node, hit, found[0])
        given = {k.arg for k in node.keywords}
        for kw in node.keywords:
            for pattern, hit in _index()["kwarg"].get(kw.arg, ()):
                if _applies(hit, self.keras) and pattern.match(qual):
                    start = (kw.lineno, self.char_col(kw.lineno, kw.col_offset))
                    fixable = hit.to and hit.to not in given
                    self.report(kw, hit, "", Edit(start, (start[0], start[1] + len(kw.arg)), hit.to) if fixable else None)
                    break


# ------------------------------------------------------------------ entry points
def rules_markdown() -> str:
    """RULES as a Markdown table (kind, what it matches, what breaks, the fix, whether --fix rewrites it, where)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("<name>", "NAME")

    rows = ["| kind | matches | what breaks | fix | --fix | Keras |", "|---|---|---|---|---|---|"]
    for r in RULES:
        match = {"method": f"`x.{r.target}(...)`", "kwarg": f"`{r.target.replace(')', '=)')}`"}.get(r.on, f"`{r.target}`")
        how = "tf_upgrade_v2" if r.by else ("yes" if r.mechanical else "no")
        rows.append(f"| {r.kind} | {cell(match)} | {cell(r.what)} | {cell(r.fix)} | {how} | {' and '.join(r.keras)} |")
    return "\n".join(rows) + "\n"



def scan(path: str, text: str, keras: str = "3") -> list[Finding]:
    """Every finding in one Python file, in line order. Never raises on the text: a file that does not
    parse (or is too large or too deeply nested to) gives one `syntax` finding saying so."""
    return scan_cells(path, [(None, text)], keras)


def scan_cells(path: str, cells: list[tuple[int | None, str]], keras: str = "3") -> list[Finding]:
    """A notebook's code cells `(index, code)` in order, as one module: an import in one cell holds in the next."""
    if keras not in KERAS_TARGETS:
        raise ValueError(f"keras: expected one of {', '.join(KERAS_TARGETS)}, got {keras!r}")
    scope, out = Scope(), []
    for cell, text in cells:
        out += _scan_module(path, cell, text, keras, scope)
    return out


def _scan_module(path: str, cell: int | None, text: str, keras: str, scope: Scope) -> list[Finding]:
    def stop(line: int, what: str, fix: str) -> Finding:
        return Finding(path, line, "syntax", what, fix, False, cell=cell)

    if len(text) > MAX_CHARS:
        return [stop(1, f"not scanned: {len(text):,} characters, over the {MAX_CHARS:,} a script can have here",
                     "check this file by hand")]
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        return [stop(e.lineno or 1, f"does not parse ({f'line {e.lineno}: ' if e.lineno else ''}{e.msg})",
                     "make it valid Python 3 (a Python 2 script needs porting first), then migrate it again")]
    except (RecursionError, MemoryError, ValueError) as e:
        return [stop(1, f"does not parse ({type(e).__name__}: {str(e)[:100] or 'too deeply nested'})",
                     "check this file by hand")]
    scanner = Scanner(path, text, keras, scope, cell)
    try:
        scanner.run(tree)
    except RecursionError:
        line = next((n.lineno for n in reversed(scanner.stack) if hasattr(n, "lineno")), 1)
        scanner.findings.append(stop(line, f"scan stopped at line {line}: the code is nested too deeply",
                                     "check the rest of this file by hand"))
    return sorted(scanner.findings, key=lambda f: (f.line, f.col))
