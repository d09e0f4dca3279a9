"""Compose-time checks of callables named in config: signatures read from source (no import),
import fallback, and the messages that name the key."""
from __future__ import annotations

import sys

import pytest

from trainkit.targets import TargetError, check_call, params_of, split_target


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "mymodels").mkdir(parents=True)
    (root / "mymodels" / "__init__.py").write_text("")
    (root / "mymodels" / "wide.py").write_text(
        "raise RuntimeError('IMPORTED')  # reading the signature must not run this module\n"
        "def build(input_shape, num_classes, width, depth=3, *, act='relu', **extra):\n    pass\n"
        "class Head:\n    def __init__(self, units, /, scale=1.0):\n        pass\n")
    (root / "mymodels" / "reexport.py").write_text("from mymodels.impl import make as build\n")
    (root / "mymodels" / "impl.py").write_text("def make(a, b=1):\n    pass\n")
    for name in [m for m in sys.modules if m.startswith("mymodels")]:   # another test's mymodels, imported earlier
        del sys.modules[name]
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("mymodels")]:
        del sys.modules[name]


def test_signature_is_read_from_source_without_importing(pkg):
    p = params_of("mymodels.wide.build")
    assert p.names == ("input_shape", "num_classes", "width", "depth", "act")
    assert p.required == ("input_shape", "num_classes", "width") and p.var_keyword
    head = params_of("mymodels.wide:Head")
    assert head.names == ("scale",) and head.required == () and not head.var_keyword   # positional-only excluded
    assert "mymodels.wide" not in sys.modules


def test_reexported_names_fall_back_to_import(pkg):
    p = params_of("mymodels.reexport.build")
    assert p.names == ("a", "b") and p.required == ("a",)


def test_check_call_names_unknown_and_missing_arguments(pkg):
    (pkg / "mymodels" / "narrow.py").write_text("def build(input_shape, num_classes, width, depth):\n    pass\n")
    problems = check_call("model", "mymodels.narrow.build", {"widht": 32, "depth": 3},
                          provided={"input_shape", "num_classes", "seed"}, target_key="model._target_")
    assert problems == [
        "model.widht: not an argument of mymodels.narrow.build (it takes: input_shape, num_classes, width, depth)",
        "model.width: mymodels.narrow.build requires it, and it is not set (add model.width=...)"]
    assert check_call("model", "mymodels.narrow.build", {"width": 1, "depth": 2}, {"input_shape", "num_classes"}) == []
    assert check_call("model", "mymodels.nothere.build", {}, target_key="model._target_")[0].startswith(
        "model._target_: module 'mymodels.nothere' not found")
    assert check_call("x", "mymodels.impl.nope", {}) == ["x: module 'mymodels.impl' has no 'nope'"]


def test_inherited_init_without_arguments_is_found_not_imported(pkg):
    """A Keras callback subclass named with no kwargs: compose time must not import TensorFlow for it."""
    (pkg / "mymodels" / "cbs.py").write_text(
        "raise RuntimeError('IMPORTED')\nimport keras\nclass Clock(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n        pass\n")
    assert check_call("trainer.callbacks[0].kwargs", "mymodels.cbs:Clock", {}) == []
    assert "mymodels.cbs" not in sys.modules
    assert check_call("trainer.callbacks[0].kwargs", "mymodels.cbs:Nope", {}, target_key="cls") == [
        "cls: importing 'mymodels.cbs' failed: RuntimeError: IMPORTED"]
    # with kwargs the inherited signature matters, so the module is imported to read it
    assert check_call("k", "mymodels.cbs:Clock", {"every": 2}) == ["k: importing 'mymodels.cbs' failed: RuntimeError: IMPORTED"]


@pytest.mark.parametrize("bad", ["build", "a..b", "a.b:", "1a.b", "a b.c"])
def test_bad_target_syntax(bad):
    with pytest.raises(TargetError, match="expected 'package.module.function'"):
        split_target(bad)
