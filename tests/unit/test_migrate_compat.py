"""`trainkit migrate`'s compatibility scan and --fix (trainkit.migrate.compat, .fix) on scripts written
for these tests in the style of Azure ML SDK v1 TensorFlow jobs (tests/fixtures/compat): the exact
findings per target Keras, every rule of the table, the exact rewritten text, look-alikes left alone,
and hostile input. No TensorFlow is imported (the tf_upgrade_v2 run is the one integration test)."""
from __future__ import annotations

import ast
import time

import pytest

from trainkit.migrate import fix
from trainkit.migrate.compat import CHECKS, KERAS_TARGETS, MAX_CHARS, RULES, _expand, rules_markdown, scan, scan_cells

from ..conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "compat"
KINDS = {"numpy2", "keras3", "tf1", "download", "azureml"}


def found(name: str, keras: str = "3") -> list[tuple[int, str, str]]:
    return [(f.line, f.kind, f.rule) for f in scan(name, (FIXTURES / name).read_text(), keras)]


# ------------------------------------------------------------------ the fixtures, finding by finding
def by_line(expected: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    return sorted(expected, key=lambda t: t[0])      # stable: on one line, in the order written (the column order)


KERAS_MNIST_BOTH = [
    (14, "azureml", "azureml.core.Run"),
    (22, "download", "keras.datasets.mnist.load_data"),
    (23, "numpy2", "numpy.float"),
    (45, "numpy2", "numpy.float"),
]
KERAS_MNIST_3 = [
    (12, "keras3", "keras.utils.np_utils"),
    (33, "keras3", "*keras.optimizers.*(lr)"),
    (42, "keras3", "fit_generator"),
    (46, "keras3", "keras.backend.get_value"),
    (49, "keras3", "save"),
]
TF1_MNIST = [
    (9, "tf1", "tensorflow.examples.tutorials"),
    (17, "download", "urllib.request.urlretrieve"),
    (19, "tf1", "tensorflow.set_random_seed"),
    (20, "tf1", "tensorflow.placeholder"),
    (21, "tf1", "tensorflow.placeholder"),
    (22, "tf1", "tensorflow.layers"),
    (23, "tf1", "tensorflow.contrib"),
    (24, "tf1", "tensorflow.nn.softmax_cross_entropy_with_logits_v2"),
    (25, "tf1", "tensorflow.train.AdamOptimizer"),
    (29, "tf1", "tensorflow.Session"),
    (30, "tf1", "tensorflow.global_variables_initializer"),
    (35, "tf1", "tensorflow.logging"),
]
TF2_KERAS_BOTH = [
    (18, "download", "requests.get"),
    (19, "download", "tensorflow.keras.utils.get_file"),
    (21, "numpy2", "numpy.float_"),
    (22, "numpy2", "numpy.NaN"),
    (34, "keras3", "tensorflow.keras.backend.get_session"),
]
TF2_KERAS_3 = [
    (11, "keras3", "tensorflow.keras.layers.experimental.preprocessing"),
    (27, "keras3", "tensorflow.keras.layers.experimental.preprocessing"),
    (31, "keras3", "tensorflow.keras.optimizers.legacy"),
    (31, "keras3", "*keras.optimizers.*(lr)"),
    (32, "keras3", "tensorflow.keras.callbacks.ModelCheckpoint"),
    (32, "keras3", "*keras.callbacks.ModelCheckpoint(period)"),
    (35, "keras3", "save_weights"),
    (36, "keras3", "tensorflow.keras.models.load_model"),
]


@pytest.mark.parametrize("name, keras, expected", [
    ("keras_mnist.py", "3", by_line(KERAS_MNIST_BOTH + KERAS_MNIST_3)),
    ("keras_mnist.py", "2", KERAS_MNIST_BOTH),
    ("tf1_mnist.py", "3", TF1_MNIST),
    ("tf1_mnist.py", "2", TF1_MNIST),
    ("tf2_keras.py", "3", by_line(TF2_KERAS_BOTH + TF2_KERAS_3)),
    ("tf2_keras.py", "2", TF2_KERAS_BOTH),
    ("compat_v1.py", "3", [(12, "tf1", "tensorflow.compat.v1.layers")]),   # the ImportError fallback is not what runs
    ("compat_v1.py", "2", []),
])
def test_each_fixture_gives_exactly_the_expected_findings(name, keras, expected):
    assert found(name, keras) == expected


def test_findings_say_where_what_and_how():
    by_line = {f.line: f for f in scan("tf2_keras.py", (FIXTURES / "tf2_keras.py").read_text())}
    assert by_line[18].what == "`requests.get` downloads at run time (https://example.org/data/fashion.npz)"  # via DATA_URL
    assert "${dataset.path}" in by_line[18].fix and "--mirror" in by_line[18].fix
    assert by_line[35].what.endswith("(path './outputs/ckpt/weights')")                              # via CKPT
    assert by_line[36].what.endswith("(path 'model')") and by_line[36].mechanical is False           # os.path.join
    assert by_line[34].where == "tf2_keras.py:34" and by_line[34].col == 7
    mnist = {f.rule: f for f in scan("keras_mnist.py", (FIXTURES / "keras_mnist.py").read_text())}
    assert "entry.keras_datasets: {mnist:" in mnist["keras.datasets.mnist.load_data"].fix
    assert "entry.azureml_compat=true" in mnist["azureml.core.Run"].fix
    sdk = scan("s.py", "import azureml.core as aml\nfrom azureml.core.run import Run\nws = aml.Workspace.from_config()\n"
                       "r = Run.get_context()\naml.Run.get_context()\n")
    assert [(f.line, f.rule, f.what) for f in sdk] == [
        (1, "azureml.core", "`azureml.core` (Azure ML SDK v1) is not installed"),
        (2, "azureml.core.run.Run", "`azureml.core.Run` (Azure ML SDK v1) is not installed"),
        (3, "azureml", "Azure ML SDK v1 is not installed, and trainkit's stand-in has only `azureml.core.Run`"),
        (5, "azureml.core.Run", "`azureml.core.Run` (Azure ML SDK v1) is not installed")]


def test_a_file_that_does_not_parse_gives_one_finding_and_no_exception():
    assert [(f.line, f.kind, f.mechanical) for f in scan("python2.py", (FIXTURES / "python2.py").read_text())] == [
        (3, "syntax", False)]
    assert scan("nul.py", "a\0b")[0].what == "does not parse (source code string cannot contain null bytes)"
    assert [f.kind for f in scan("s.py", "x = '\ud800'")] == ["syntax"]
    assert fix.apply("python2.py", "print 'x'\n") == ("print 'x'\n", [])


def test_notebook_cells_share_their_imports_and_say_which_cell():
    cells = [(0, "import numpy as np\n"), (2, "%matplotlib inline\nx = np.float(1)\n"), (3, "np = 1\ny = np.float")]
    assert [(f.cell, f.line, f.rule, f.where) for f in scan_cells("nb.ipynb", [(0, cells[0][1]), (2, "\nx = np.float(1)\n"),
                                                                              cells[2]])] == [
        (2, 2, "numpy.float", "nb.ipynb cell 2:2")]


def test_an_unknown_keras_target_is_refused():
    with pytest.raises(ValueError, match=r"keras: expected one of 2, 3, got '4'"):
        scan("a.py", "", keras="4")


# ------------------------------------------------------------------ every row of the table
def snippets(rule, target: str) -> list[tuple[str, int]]:
    """Ways to reach `target` (a dotted name), each with the line of its finding: an aliased module and
    attributes (line 2; line 1 when importing the module alone is already a finding: `azureml`, `tf_keras`),
    and a from-import (line 1: the name is gone where it is imported; a download is reported where it is used)."""
    parts = target.split(".")
    names = [(t, r.exact) for r in RULES if r.on == "name" and r.kind != "download" for t, _ in _expand(r.target)]
    single = {t for t, exact in names if "." not in t and not exact} - {t for t, exact in names if exact}
    from_import = (f"from {'.'.join(parts[:-1])} import {parts[-1]} as _n\nx = _n\n", 2 if rule.kind == "download" else 1)
    if rule.exact:
        return [from_import] if len(parts) > 1 else [(f"import {target} as _m\n", 1)]
    attr = ("import {} as _m\nx = _m{}\n".format(parts[0], "".join("." + p for p in parts[1:])),
            1 if len(parts) == 1 or parts[0] in single else 2)
    return [attr, from_import] if len(parts) > 1 else [attr]


NAME_ROWS = [r for r in RULES if r.on == "name"]


@pytest.mark.parametrize("rule", NAME_ROWS, ids=[r.target[:60] for r in NAME_ROWS])
def test_every_name_rule_matches_its_names_and_its_rewrite_removes_it(rule):
    for target, _ in _expand(rule.target):
        namespaces = [target] + (["tensorflow." + target] if target.startswith("keras.") else [])
        for qual in namespaces:
            for code, line in snippets(rule, qual):
                expect_here = qual == target or rule.tf_keras
                for keras in KERAS_TARGETS:
                    hits = [f for f in scan("r.py", code, keras) if f.rule == qual]
                    applies = expect_here and keras in rule.keras
                    assert [(f.line, f.kind) for f in hits] == ([(line, rule.kind)] if applies else []), (code, keras)
                    if applies and hits[0].mechanical and not rule.by:
                        new, applied = fix.apply("r.py", code, keras)
                        ast.parse(new)
                        assert applied and not [f for f in scan("r.py", new, keras) if f.rule == qual], (code, new)


# the call, method and keyword rows: a snippet each (line 3 is the finding), with a look-alike that is fine
CALLS = {
    "keras.{models,saving}.save_model": ("import keras\nm = keras.Sequential()\nkeras.models.save_model(m, 'out/m')\n",
                                         "import keras\nkeras.saving.save_model(m, 'out/m.keras')\n"),
    "keras.{models,saving}.load_model": ("import tensorflow as tf\n\nm = tf.keras.models.load_model('outputs/model')\n",
                                         "import tensorflow as tf\nm = tf.keras.models.load_model('m.h5')\n"),
    "keras.callbacks.ModelCheckpoint": ("from keras.callbacks import ModelCheckpoint as MC\n\nMC('w', save_weights_only=True)\n",
                                        "from keras.callbacks import ModelCheckpoint as MC\nMC('w.keras')\n"),
    "*keras.callbacks.ModelCheckpoint(period)": ("import keras\n\nkeras.callbacks.ModelCheckpoint('a.keras', period=2)\n",
                                                 "import keras\nkeras.callbacks.EarlyStopping(period=2)\n"),
    "*keras.optimizers.*(lr)": ("from tensorflow.keras.optimizers import RMSprop\n\nRMSprop(lr=0.1)\n",
                                "import mylib\nmylib.optimizers.Adam(lr=0.1)\n"),
    "*keras.optimizers.*(decay)": ("import tensorflow as tf\nK = tf.keras\nK.optimizers.SGD(0.1, decay=1e-6)\n",
                                   "import torch\ntorch.optim.SGD(p, lr=0.1, weight_decay=1e-6)\n"),
    "fit_generator": ("m = get()\n\nm.fit_generator(gen, epochs=2, workers=4)\n", "import keras\nkeras.fit_generator(g)\n"),
    "evaluate_generator": ("m = get()\n\nm.evaluate_generator(gen, 10)\n", "evaluate_generator(gen)\n"),
    "predict_generator": ("m = get()\n\nm.predict_generator(gen)\n", "import numpy as np\nnp.predict_generator(g)\n"),
    "{compile,fit,evaluate,predict}": ("import keras\nmodel = keras.Sequential()\nmodel.fit(x, y, workers=4, epochs=2)\n",
                                       "clf = make()\nclf.fit(x, y, n_jobs=2)\nmodel.fit(x, y, epochs=2, **kw)\n"),
    "predict_classes": ("import keras\nnet = keras.models.load_model('a.keras')\nnet.predict_classes(x)\n",
                        "clf = get()\nclf.predict_classes(x)\n"),
    "predict_proba": ("\nmy_model = build()\nmy_model.predict_proba(x)\n", "import sklearn\nclf = make()\nclf.predict_proba(x)\n"),
    "_set_inputs": ("m = get()\n\nm._set_inputs(x)\n", "import keras\nkeras._set_inputs(x)\n"),
    "save": ("import keras\nmodel = keras.Sequential()\nmodel.save('outputs/model', include_optimizer=False)\n",
             "saver = get()\nsaver.save(sess, 'outputs/model')\nckpt.save('x')\nmodel.save('m.keras')\nimg.save('a')\n"),
    "save_weights": ("\nmodel = build()\nmodel.save_weights(f'out/{name}.ckpt')\n",
                     "model = build()\nmodel.save_weights('w.weights.h5')\n"),
    "load_weights": ("\nself_model = build()\nself_model.load_weights('out/cp-0001.ckpt')\n",
                     "model = build()\nmodel.load_weights('w.h5')\n"),
}


def test_every_call_method_and_keyword_rule_has_a_snippet_here():
    assert {r.target for r in RULES if r.on != "name"} == set(CALLS)
    assert {r.check for r in RULES if r.check} <= set(CHECKS)


@pytest.mark.parametrize("target", sorted(CALLS))
def test_each_call_method_and_keyword_rule(target):
    rule = next(r for r in RULES if r.target == target)
    hit, miss = CALLS[target]
    assert [(f.line, f.kind) for f in scan("c.py", hit, "3")] == [(3, rule.kind)]
    assert scan("c.py", miss, "3") == []
    assert len(scan("c.py", hit, "2")) == (1 if "2" in rule.keras else 0)


def test_the_table_is_complete_data():
    for r in RULES:
        assert r.kind in KINDS and r.what and r.fix and r.on in ("name", "call", "method", "kwarg"), r
        assert not r.mechanical or r.to or r.by == "tf_upgrade_v2", r
        assert set(r.keras) <= set(KERAS_TARGETS), r
    table = rules_markdown()
    assert table.count("\n") == len(RULES) + 2
    assert "| keras3 | `*keras.optimizers.*(lr=)` | Keras 3 optimizers refuse `lr=`" in table
    assert "| numpy2 | `numpy.{float,int,object,str,complex}` | `np.NAME` was removed in numpy 1.24" in table


# ------------------------------------------------------------------ look-alikes stay alone
LOOK_ALIKES = """\
import numpy
import mylib
from mylib import np as other
x = mylib.float(1) + numpy.float64(2) + numpy.bool(True) + numpy.long(3)
np = mylib.Namespace()
y = np.float(2) + other.float


def f(numpy):
    return numpy.float(1), numpy.NaN


class C:
    keras = mylib

    def m(self):
        return self.keras.optimizers.Adam(lr=0.1), self.np.float


z = [numpy for numpy in range(3)]
w = numpy.random.rand(3).astype(float)
mylib.save("outputs/model")
"""


def test_look_alikes_are_left_alone():
    assert scan("l.py", LOOK_ALIKES) == []
    assert fix.apply("l.py", LOOK_ALIKES) == (LOOK_ALIKES, [])


def test_an_alias_made_by_assignment_is_followed_and_a_rebinding_ends_it():
    code = "import tensorflow as tf\nK = tf.keras.backend\nK.get_session()\nK = object()\nK.get_session()\n"
    assert [(f.line, f.rule) for f in scan("a.py", code)] == [(3, "tensorflow.keras.backend.get_session")]


def test_a_function_body_sees_imports_made_after_it():
    code = "def load():\n    return np.float\n\n\nimport numpy as np\n"
    assert [(f.line, f.rule) for f in scan("a.py", code)] == [(2, "numpy.float")]


# ------------------------------------------------------------------ --fix: exact text, comments and layout kept
BEFORE = """\
import numpy as np   # arrays
import tensorflow as tf
from tensorflow.keras.optimizers import RMSprop
from tensorflow.keras.layers.experimental.preprocessing import Rescaling
from keras.utils import np_utils
import keras.layers.experimental.preprocessing as prep

x = np.float(3) + np.NINF ** 2 - np.NINF   # keep me
y = np.float64(2); z = np.float_(1)
opt = RMSprop(lr=0.1,
              decay=1e-6)  # old
opt2 = tf.keras.optimizers.legacy.Adam(lr = 0.01)
model = tf.keras.Sequential()
model.save("./outputs/model")
model.fit_generator(gen, epochs=3)
y = np_utils.to_categorical(y, 10)
v = (np.float)
"""
AFTER_3 = """\
import numpy as np   # arrays
import tensorflow as tf
from tensorflow.keras.optimizers import RMSprop
from tensorflow.keras.layers import Rescaling
from keras import utils as np_utils
import keras.layers as prep

x = float(3) + (-np.inf) ** 2 - (-np.inf)   # keep me
y = np.float64(2); z = np.float64(1)
opt = RMSprop(learning_rate=0.1,
              decay=1e-6)  # old
opt2 = tf.keras.optimizers.Adam(learning_rate = 0.01)
model = tf.keras.Sequential()
model.export("./outputs/model")
model.fit(gen, epochs=3)
y = np_utils.to_categorical(y, 10)
v = (float)
"""


def test_fix_rewrites_exactly_and_keeps_comments_and_layout():
    new, applied = fix.apply("b.py", BEFORE, "3")
    assert new == AFTER_3
    assert [(f.line, f.rule) for f in applied] == [
        (4, "tensorflow.keras.layers.experimental.preprocessing"), (5, "keras.utils.np_utils"),
        (6, "keras.layers.experimental.preprocessing"), (8, "numpy.float"), (8, "numpy.NINF"), (8, "numpy.NINF"),
        (9, "numpy.float_"), (10, "*keras.optimizers.*(lr)"), (12, "tensorflow.keras.optimizers.legacy"),
        (12, "*keras.optimizers.*(lr)"), (14, "save"), (15, "fit_generator"), (17, "numpy.float")]
    assert [(f.line, f.rule) for f in scan("b.py", new, "3")] == [(11, "*keras.optimizers.*(decay)")]


def test_fix_for_keras_2_leaves_what_the_keras_2_environment_runs():
    new, applied = fix.apply("b.py", BEFORE, "2")
    changed = [i + 1 for i, (a, b) in enumerate(zip(BEFORE.splitlines(), new.splitlines())) if a != b]
    assert changed == [8, 9, 17] and {f.kind for f in applied} == {"numpy2"}


def test_fix_leaves_what_it_cannot_rewrite_safely():
    code = ("import numpy as np\nfrom numpy import float\nimport keras\nm = keras.Sequential()\n"
            "m.fit_generator(gen, 10, 2)\nkeras.optimizers.Adam(lr=0.1, learning_rate=0.2)\nm.save('out/model', overwrite=True)\n"
            "from keras.layers.experimental.preprocessing import (\n    Rescaling)\nfrom keras.utils import np_utils, to_categorical\n"
            "from keras.utils import (\n    np_utils)\n")      # a rewrite never joins lines: the line numbers must hold
    findings = scan("c.py", code)
    assert [(f.line, f.rule, f.mechanical) for f in findings] == [
        (2, "numpy.float", False), (5, "fit_generator", False), (6, "*keras.optimizers.*(lr)", False), (7, "save", False),
        (8, "keras.layers.experimental.preprocessing", True), (10, "keras.utils.np_utils", False),
        (11, "keras.utils.np_utils", False)]
    code = code.replace("import (\n    Rescaling)", "import (Rescaling)\n")
    assert fix.apply("c.py", code)[0] == code.replace("keras.layers.experimental.preprocessing", "keras.layers")


def test_fix_rewrites_a_from_import_of_a_moved_name_keeping_the_name_bound():
    code = "from numpy import float_, NaN as missing\nfrom numpy import float_\nfrom keras.utils import np_utils  # y\n"
    assert fix.apply("f.py", code)[0] == ("from numpy import float_, NaN as missing\nfrom numpy import float64 as float_\n"
                                          "from keras import utils as np_utils  # y\n")


@pytest.mark.parametrize("name", ["keras_mnist.py", "tf1_mnist.py", "tf2_keras.py", "compat_v1.py"])
@pytest.mark.parametrize("keras", KERAS_TARGETS)
def test_fix_is_idempotent_keeps_the_line_count_and_only_touches_finding_lines(name, keras):
    text = (FIXTURES / name).read_text()
    once, applied = fix.apply(name, text, keras)
    assert fix.apply(name, once, keras) == (once, [])
    assert len(once.splitlines()) == len(text.splitlines())
    changed = {i + 1 for i, (a, b) in enumerate(zip(text.splitlines(), once.splitlines())) if a != b}
    assert changed == {f.line for f in applied}
    assert all(f.mechanical for f in applied) and not [f for f in scan(name, once, keras) if f.edit is not None]


def test_fix_never_writes_the_input_file(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(BEFORE)
    fix.apply(str(script), script.read_text())
    assert script.read_text() == BEFORE and [p.name for p in tmp_path.iterdir()] == ["train.py"]


# ------------------------------------------------------------------ tf_upgrade_v2 (the report, and apply's use of it)
def test_tf_upgrade_report_lists_what_it_changed():
    report = (FIXTURES / "tf_upgrade_report.txt").read_text()    # tf_upgrade_v2's report on tf_upgrade_input.py
    assert [(f.line, f.col, f.kind, f.what) for f in fix.parse_report("in.py", report)] == [
        (5, 4, "tf1", "Renamed 'tf.placeholder' to 'tf.compat.v1.placeholder'"),
        (9, 22, "tf1", "Renamed 'tf.nn.softmax_cross_entropy_with_logits_v2' to 'tf.nn.softmax_cross_entropy_with_logits'"),
        (10, 6, "tf1", "Renamed 'tf.train.AdamOptimizer' to 'tf.compat.v1.train.AdamOptimizer'"),
        (11, 4, "tf1", "Renamed 'tf.keras.optimizers.Adam' to 'tf.keras.optimizers.legacy.Adam'"),
        (13, 5, "tf1", "Renamed 'tf.Session' to 'tf.compat.v1.Session'"),
        (14, 13, "tf1", "Renamed 'tf.global_variables_initializer' to 'tf.compat.v1.global_variables_initializer'"),
        (15, 4, "tf1", "Renamed 'tf.logging.info' to 'tf.compat.v1.logging.info'")]


def test_tf_upgrade_that_cannot_run_leaves_the_text_and_says_why(monkeypatch):
    monkeypatch.setattr(fix, "UPGRADE_MODULE", "trainkit_no_such_module")      # a real subprocess that fails at once
    text, changes = fix.upgrade_tf1("t.py", TF1_SNIPPET)
    assert text == TF1_SNIPPET
    assert [(f.line, f.kind, f.mechanical) for f in changes] == [(1, "tf1", False)]
    assert changes[0].what == "tf_upgrade_v2 did not run (exit 1: " \
        f"{__import__('sys').executable}: No module named trainkit_no_such_module)"


def fake_upgrade(path, text):
    """What tf_upgrade_v2 did to tf_upgrade_input.py (see its report), on any text: the seam for apply's use of it."""
    renames = {"tf.placeholder": "tf.compat.v1.placeholder", "tf.keras.optimizers.Adam": "tf.keras.optimizers.legacy.Adam"}
    out, changes = [], []
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        for old, new in renames.items():
            if old + "(" in line:
                line = line.replace(old + "(", new + "(")
                changes.append(fix.Finding(path, n, "tf1", f"Renamed '{old}' to '{new}'", "applied by tf_upgrade_v2",
                                           True, "tf_upgrade_v2"))
        out.append(line)
    return "".join(out), changes


TF1_SNIPPET = "import tensorflow as tf\nx = tf.placeholder(tf.float32)  # in\nopt = tf.keras.optimizers.Adam(lr=0.1)\n"


@pytest.mark.parametrize("keras, line3", [
    ("3", "opt = tf.keras.optimizers.Adam(learning_rate=0.1)\n"),          # its legacy optimizer undone: Keras 3 refuses it
    ("2", "opt = tf.keras.optimizers.legacy.Adam(lr=0.1)\n"),              # tf_keras has legacy optimizers, with lr=
])
def test_apply_runs_tf_upgrade_then_the_rewrites_again(monkeypatch, keras, line3):
    monkeypatch.setattr(fix, "upgrade_tf1", fake_upgrade)
    new, applied = fix.apply("t.py", TF1_SNIPPET, keras, tf_upgrade=True)
    assert new == "import tensorflow as tf\nx = tf.compat.v1.placeholder(tf.float32)  # in\n" + line3
    expected = [(2, "tf_upgrade_v2")] + ([(3, "*keras.optimizers.*(lr)")] if keras == "3" else [(3, "tf_upgrade_v2")])
    assert [(f.line, f.rule) for f in applied] == expected
    monkeypatch.setattr(fix, "upgrade_tf1", lambda *a: pytest.fail("tf_upgrade_v2 run without TF 1 names"))
    assert fix.apply("t.py", "import numpy as np\nx = np.float\n", keras, tf_upgrade=True)[0] == \
        "import numpy as np\nx = float\n"


# ------------------------------------------------------------------ hostile input stays bounded
@pytest.mark.parametrize("code, what", [
    ("x = " + "(" * 300 + "1" + ")" * 300, "does not parse (line 1: too many nested parentheses)"),
    ("x = " + "-" * 100_000 + "1", "does not parse (MemoryError: too deeply nested)"),
    ("x = " + "a." * 20_000 + "b", "does not parse (RecursionError: maximum recursion depth exceeded during ast construction)"),
    ("x = " + "not " * 900 + "a", "scan stopped at line 1: the code is nested too deeply"),
])
def test_deeply_nested_input_gives_one_finding_quickly(code, what):
    start = time.monotonic()
    assert [(f.kind, f.what) for f in scan("h.py", code)] == [("syntax", what)]
    assert fix.apply("h.py", code) == (code, [])
    assert time.monotonic() - start < 5


def test_a_long_sum_is_not_deep_code():
    code = "import numpy as np\nx = " + "a + " * 900 + "np.float\n"
    assert [(f.line, f.rule) for f in scan("s.py", code)] == [(2, "numpy.float")]


def test_a_huge_file_is_reported_or_scanned_in_bounded_time():
    body = (FIXTURES / "tf2_keras.py").read_text()
    big = body * (MAX_CHARS // len(body) + 1)
    start = time.monotonic()
    assert [(f.line, f.kind) for f in scan("big.py", big)] == [(1, "syntax")]
    assert fix.apply("big.py", big) == (big, [])
    half = body * (MAX_CHARS // 4 // len(body))                  # 500 kB: scanned, too large for the LibCST pass
    findings = scan("half.py", half)
    assert len(findings) == len(found("tf2_keras.py")) * (MAX_CHARS // 4 // len(body))
    assert fix.apply("half.py", half) == (half, [])
    assert time.monotonic() - start < 30
