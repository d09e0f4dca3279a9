"""`trainkit migrate --fix` on a TF 1 script with TensorFlow's real tf_upgrade_v2 (a subprocess that
imports TensorFlow), on a temporary copy: what it rewrote, what compat's rewrites did around it, the
line numbers kept and the input file untouched."""
from __future__ import annotations

import pytest

from trainkit.migrate import fix
from trainkit.migrate.compat import scan

from ..conftest import ROOT

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "tests" / "fixtures" / "compat" / "tf1_mnist.py"

# the lines of tf1_mnist.py that change, as they are after --fix on Keras 3 (all others stay as they were)
CHANGED = {
    19: "tf.compat.v1.set_random_seed(1)",
    20: 'x = tf.compat.v1.placeholder(tf.float32, [None, 784], name="x")   # the images',
    21: 'y_ = tf.compat.v1.placeholder(tf.float32, [None, 10], name="y")',
    24: "loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=logits))",
    25: "train_step = tf.compat.v1.train.AdamOptimizer(1e-3).minimize(loss)",
    29: "with tf.compat.v1.Session() as sess:",
    30: "    sess.run(tf.compat.v1.global_variables_initializer())",
    35: '            tf.compat.v1.logging.info("step %d", step)',
}


def test_tf_upgrade_v2_rewrites_a_tf1_script_on_a_copy_and_says_what_it_changed():
    text = SCRIPT.read_text()
    new, applied = fix.apply(str(SCRIPT), text, "3", tf_upgrade=True)
    assert SCRIPT.read_text() == text
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(new_lines) == len(old_lines)
    assert {i + 1: b for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b} == CHANGED
    assert sorted({f.line for f in applied}) == sorted(CHANGED)
    assert all(f.kind == "tf1" and f.rule == "tf_upgrade_v2" and f.mechanical for f in applied)
    left = [(f.line, f.rule) for f in scan(str(SCRIPT), new, "3")]
    assert left == [(9, "tensorflow.examples.tutorials"), (17, "urllib.request.urlretrieve"), (22, "tensorflow.layers"),
                    (23, "tensorflow.contrib")]
