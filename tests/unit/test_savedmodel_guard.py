"""registry/graphguard.py on parsed SavedModels: which ops are refused, where, and why. The protobufs
come from real `tf.saved_model.save` / Keras exports (TensorFlow is needed for its protobuf
classes), edited where a hostile file would differ from what TensorFlow writes."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainkit.registry.graphguard import (CHECKPOINT_OPS, DENIED, INFERENCE_OPS, NOT_LISTED, UnsafeModelError,
                                       check_saved_model, problems_of, read_saved_model, why_refused)


def test_the_lists_never_let_a_file_python_dataset_or_network_op_through():
    assert [op for op in INFERENCE_OPS if any(p.search(op) for p, _ in DENIED)] == []
    assert why_refused("MatMul") is None and why_refused("Erfc") is None
    assert why_refused("ReadFile") == why_refused("WriteFile") == why_refused("MatchingFiles") == "reads or writes files"
    assert why_refused("EagerPyFunc") == why_refused("PyFunc") == "runs Python code"
    assert "tf.data" in why_refused("TFRecordDataset") and "tf.data" in why_refused("FixedLengthRecordDatasetV2")
    assert why_refused("PrintV2").startswith("writes") and why_refused("RemoteCall") == "talks to other processes"
    assert why_refused("SomeCustomOp") == NOT_LISTED
    for op in CHECKPOINT_OPS:        # only in functions that nothing but the saver reaches
        assert why_refused(op) is not None and why_refused(op, saver_only=True) is None
    assert why_refused("ReadFile", saver_only=True) == "reads or writes files"


def save(module, path: Path, fn) -> Path:
    import tensorflow as tf

    tf.saved_model.save(module, str(path), signatures={"serving_default": fn})
    return path


def test_a_lookup_table_initialised_from_a_file_is_refused_in_its_load_time_initializer(tmp_path):
    import tensorflow as tf

    class Table(tf.Module):
        def __init__(self):
            init = tf.lookup.TextFileInitializer("/etc/hostname", tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                                 tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
            self.table = tf.lookup.StaticHashTable(init, -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, x):
            return {"output_0": self.table.lookup(x)}

    m = Table()
    problems = problems_of(read_saved_model(save(m, tmp_path / "sm", m.serve)))
    assert len(problems) == 1 and problems[0].startswith("InitializeTableFromTextFileV2 in function '__inference__initializer_")
    assert problems[0].endswith("(reads or writes files)")


def test_a_dataset_read_in_the_serving_function_is_refused_with_every_dataset_op(tmp_path):
    import tensorflow as tf

    class Lines(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            n = tf.data.TextLineDataset("/etc/hostname").reduce(tf.constant(0, tf.int64), lambda a, _: a + 1)
            return {"output_0": x * tf.cast(n, tf.float32)}

    m = Lines()
    problems = problems_of(read_saved_model(save(m, tmp_path / "sm", m.serve)))
    assert {p.split()[0] for p in problems} == {"TensorSliceDataset", "FlatMapDataset", "ReduceDataset", "TextLineDataset"}
    with pytest.raises(UnsafeModelError, match=r"(?s)sm: refusing to load.*uses 4 op\(s\).*TextLineDataset in function "
                                               r"'__inference_Dataset_flat_map_read_one_file_\d+'"):
        check_saved_model(tmp_path / "sm")


@pytest.fixture(scope="module")
def keras_export(tmp_path_factory) -> Path:
    import keras

    inp = keras.Input((4,), name="features")
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="probabilities")(inp))
    path = tmp_path_factory.mktemp("keras") / "saved_model"
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path


def test_checkpoint_ops_pass_only_in_the_saver_functions_the_loader_never_runs(keras_export):
    proto = read_saved_model(keras_export)
    assert problems_of(proto) == []          # RestoreV2, SaveV2 ... sit in __inference__traced_{save,restore}_*
    meta = proto.meta_graphs[0]
    names = {f.signature.name for f in meta.graph_def.library.function}
    restore = next(n for n in names if "_traced_restore_" in n)
    call = next(f for f in meta.graph_def.library.function if f.signature.name.startswith("__inference___call__"))
    node = call.node_def.add(name="sneaky", op="StatefulPartitionedCall")   # the serving path calls the restore
    node.attr["f"].func.name = restore
    assert [p.split(" (")[0] for p in problems_of(proto)] == [f"RestoreV2 in function {restore!r}"]
    node.attr["f"].func.name = "__inference_not_in_the_library"
    assert problems_of(proto) == ["function '__inference_not_in_the_library', called by the graph, is not defined in it"]


def test_a_tf1_saved_model_and_an_unreadable_file_are_refused(keras_export, tmp_path):
    proto = read_saved_model(keras_export)
    proto.meta_graphs[0].ClearField("object_graph_def")
    assert problems_of(proto) == ["a TF1 SavedModel (no object graph): its loader runs the graph's own restore and init ops"]
    (tmp_path / "saved_model.pb").write_bytes(b"\xff not a protobuf")
    with pytest.raises(UnsafeModelError, match=r"saved_model.pb: expected a readable SavedModel protobuf, got DecodeError"):
        read_saved_model(tmp_path)
