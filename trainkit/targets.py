"""Callables named in config (`_target_: pkg.module.function`, `module:Class`), checked at compose
time without calling them. The signature is read from the module's source with `ast` when it is a
plain `def` or a class with its own __init__, so a builder module that imports Keras at the top is
not imported (no TensorFlow at compose time); a subclass that inherits __init__ (a Keras callback)
given no arguments is only found, not imported. Otherwise the module is imported and
`inspect.signature` is used."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
from dataclasses import dataclass


SOURCE_ONLY_ENV = "TRAINKIT_TARGETS_SOURCE_ONLY"   # "1": targets are read from source, never imported (migrate --check)


class TargetError(Exception):
    """A target that cannot be found: the message says what was looked for and where."""


@dataclass(frozen=True)
class Params:
    names: tuple[str, ...]        # parameters that can be passed by keyword
    required: tuple[str, ...]     # of those, the ones without a default
    var_keyword: bool             # takes **kwargs: any keyword is accepted


def split_target(target: str) -> tuple[str, str]:
    """`pkg.module.func` or `pkg.module:func` -> (module, attribute)."""
    text = str(target)
    module, sep, attr = text.partition(":") if ":" in text else text.rpartition(".")
    if not module or not attr or not all(p.isidentifier() for p in (*module.split("."), attr)):
        raise TargetError(f"expected 'package.module.function' (or 'module:function'), got {target!r}")
    return module, attr


def import_object(path: str):
    """`module:name` or `package.module.name` -> the object."""
    module, attr = split_target(path)
    return getattr(importlib.import_module(module), attr)


def _from_ast(args: ast.arguments, skip_first: bool) -> Params:
    positional = list(args.posonlyargs) + list(args.args)
    n_defaults = len(args.defaults)
    required_pos = positional[:len(positional) - n_defaults]
    if skip_first and positional:   # self
        first = positional[0]
        positional, required_pos = positional[1:], [a for a in required_pos if a is not first]
    keywordable = [a for a in positional if a not in args.posonlyargs] + list(args.kwonlyargs)
    required = [a.arg for a in required_pos if a not in args.posonlyargs]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    return Params(tuple(a.arg for a in keywordable), tuple(required), args.kwarg is not None)


ANY = Params((), (), True)   # a callable that exists but whose signature is only known by importing it


def _params_from_source(path: str, attr: str) -> Params | None:
    """From the module's source: a def, or a class's own __init__; ANY for a class that inherits
    __init__ from its bases (a Keras callback, say); None when the source does not settle it."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attr:
            return _from_ast(node.args, skip_first=False)
        if isinstance(node, ast.ClassDef) and node.name == attr:
            if node.decorator_list or node.keywords:    # @dataclass, a metaclass: only importing tells
                return None
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is not None:
                return _from_ast(init.args, skip_first=True)
            return ANY if node.bases else Params((), (), False)
    return None


def _params_from_object(obj) -> Params:
    sig = inspect.signature(obj)
    kinds = inspect.Parameter
    names = [p.name for p in sig.parameters.values() if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)]
    required = [p.name for p in sig.parameters.values()
                if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY) and p.default is p.empty]
    return Params(tuple(names), tuple(required), any(p.kind == kinds.VAR_KEYWORD for p in sig.parameters.values()))


def params_of(target: str, exact: bool = True) -> Params:
    """The keyword parameters of the callable `target` names (raises TargetError). With `exact`,
    a class that inherits its __init__ is imported to read it; without, it is only found (ANY)."""
    module, attr = split_target(target)
    if os.environ.get(SOURCE_ONLY_ENV) == "1":
        return _params_source_only(module, attr)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as e:
        raise TargetError(f"module {module!r} cannot be found ({type(e).__name__}: {e})") from None
    if spec is None:
        raise TargetError(f"module {module!r} not found (is it in your project, whose root is importable, "
                          "or installed?)")
    if spec.origin and spec.origin.endswith(".py"):
        found = _params_from_source(spec.origin, attr)
        if found is not None and (found is not ANY or not exact):
            return found
    try:
        obj = getattr(importlib.import_module(module), attr)
    except AttributeError:
        raise TargetError(f"module {module!r} has no {attr!r}") from None
    except Exception as e:  # noqa: BLE001 - the user's module failed to import: say how
        raise TargetError(f"importing {module!r} failed: {type(e).__name__}: {e}") from None
    try:
        return _params_from_object(obj)
    except (TypeError, ValueError) as e:
        raise TargetError(f"{target!r} is not a callable with a signature ({e})") from None


def _params_source_only(module: str, attr: str) -> Params:
    """From source only: the project's own module file (the project is not on sys.path here), or an
    installed module's, found by find_spec (which imports only installed parent packages)."""
    rel = module.replace(".", os.sep)
    project = os.environ.get("TRAINKIT_PROJECT")
    candidates = [os.path.join(project, rel + ".py"), os.path.join(project, rel, "__init__.py")] if project else []
    path = next((c for c in candidates if os.path.isfile(c)), None)
    if path is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        path = spec.origin if spec is not None and spec.origin and spec.origin.endswith(".py") else None
    if path is None:
        raise TargetError(f"module {module!r} not found (looked for its source file; nothing is imported here)")
    return _params_from_source(path, attr) or ANY


def check_call(key: str, target: str, kwargs: dict, provided: set[str] = frozenset(),
               target_key: str | None = None) -> list[str]:
    """Problems calling `target` (set at `target_key`) with `kwargs` (set under `key`) plus the
    names trainkit `provided` itself: unknown arguments (named as `key.arg`) and required ones
    nobody sets."""
    try:   # nothing to check against an inherited signature without kwargs: do not import for it
        params = params_of(target, exact=bool(kwargs))
    except TargetError as e:
        return [f"{target_key or key}: {e}"]
    problems = []
    if not params.var_keyword:
        takes = ", ".join(params.names) or "no arguments"
        problems += [f"{key}.{k}: not an argument of {target} (it takes: {takes})"
                     for k in kwargs if k not in params.names]
    problems += [f"{key}.{r}: {target} requires it, and it is not set (add {key}.{r}=...)"
                 for r in params.required if r not in kwargs and r not in provided]
    return problems
