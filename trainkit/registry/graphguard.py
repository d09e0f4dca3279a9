"""A SavedModel is code: check what its graph would run before TensorFlow loads it.

`tf.saved_model.load` plus one call of `serving_default` runs, from a (TF2) SavedModel:
  - the functions its object graph names: the signatures and the functions they call, resources'
    create/initialize functions (run at load time) and saveable objects' save/restore functions
    (run while the variables are restored);
  - one RestoreV2 of its own, built by the loader in Python, that reads `variables/variables*`.
It never runs the graph's top-level nodes, nor the two functions the graph's `saver_def` points at
(`__inference__traced_save_*`, `__inference__traced_restore_*`: they are there for TF1-style and C++
loaders). Every Keras export carries those two, and they are the only place where SaveV2, RestoreV2,
MergeV2Checkpoints and ShardedFilename belong.

So, parsing saved_model.pb (never loading it), every op of every function and of the top-level
graph must be in INFERENCE_OPS (what inference graphs of Keras models use: every op of the export
coverage matrix's models, tests/integration/export_cases.py, plus a reasoned list of pure tensor
ops), except that functions reached *only* from the saver's nodes may also use CHECKPOINT_OPS. An op
matching DENIED (files, Python, datasets, summaries, debug dumps, other processes) is refused
wherever it is, with the reason; a TF1 SavedModel (no object graph: its loader runs the graph's own
restore and init ops) is refused as a whole. `--runtime tensorflow --trust-model` skips the check.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError

INFERENCE_OPS = frozenset("""
    Abs AddV2 AvgPool BatchMatMulV2 BiasAdd Cast ConcatV2 Const Conv2D Conv2DBackpropInput Cumsum
    DepthwiseConv2dNative Einsum Elu Erfc Exp ExpandDims Expm1 Fill GatherV2 Greater GreaterEqual Identity
    IdentityN LeakyRelu Less LessEqual LogSoftmax LogicalAnd MatMul Max MaxPool Maximum Mean Minimum Mul Neg
    NoOp Pack Pow Prod Range ReadVariableOp RealDiv Relu Relu6 Reshape ResizeBilinear ReverseV2 Rsqrt SelectV2
    Selu Shape Sigmoid Softmax Softplus Softsign Split Sqrt Square SquaredDifference Squeeze
    StatefulPartitionedCall StopGradient StridedSlice Sub Sum Tanh TensorListFromTensor TensorListGetItem
    TensorListReserve TensorListSetItem TensorListStack TopKV2 Transpose While ZerosLike
    Placeholder VarHandleOp VarIsInitializedOp AssignVariableOp
""".split()) | frozenset("""
    Add AddN Div DivNoNan FloorDiv FloorMod Mod TruncateDiv TruncateMod MulNoNan Sign Reciprocal Floor Ceil
    Round Rint Log Log1p Sin Cos Tan Asin Acos Atan Atan2 Sinh Cosh Asinh Acosh Atanh Erf Erfinv Lgamma Digamma
    Xlogy Xdivy Xlog1py IsNan IsInf IsFinite ClipByValue Equal NotEqual LogicalOr LogicalNot Select Where
    Min All Any ArgMax ArgMin Cumprod EuclideanNorm MatMul BatchMatMul BatchMatMulV3 Conv3D Conv3DBackpropInputV2
    MaxPoolV2 MaxPool3D AvgPool3D FusedBatchNorm FusedBatchNormV3 ShapeN Size Rank Unpack SplitV Slice Tile
    Pad PadV2 MirrorPad OnesLike GatherNd ScatterNd OneHot Bitcast BroadcastTo BroadcastArgs PreventGradient
    PlaceholderWithDefault CheckNumerics CheckNumericsV2 Assert EnsureShape MatrixBandPart DepthToSpace
    SpaceToDepth SpaceToBatchND BatchToSpaceND Roll LinSpace Bucketize ResizeNearestNeighbor ResizeBicubic
    ResizeArea CropAndResize ImageProjectiveTransformV3 RandomUniform RandomUniformInt RandomStandardNormal
    TruncatedNormal StatelessRandomUniformV2 StatelessRandomNormalV2 StatelessRandomUniformIntV2
    StatelessTruncatedNormalV2 StatelessRandomGetKeyCounter StatelessRandomGetKeyCounterAlg
    PartitionedCall StatelessWhile If StatelessIf Case StatelessCase TensorListLength TensorListElementShape
    TensorListPushBack TensorListPopBack TensorListConcatV2 TensorListSplit TensorListGather
    TensorArrayV3 TensorArrayReadV3 TensorArrayWriteV3 TensorArrayGatherV3 TensorArrayScatterV3
    TensorArraySizeV3 TensorArrayConcatV3 TensorArraySplitV3 ResourceGather AssignAddVariableOp
    AssignSubVariableOp DisableCopyOnRead HashTableV2 MutableHashTableV2 MutableDenseHashTableV2
    LookupTableFindV2 LookupTableInsertV2 LookupTableImportV2 LookupTableExportV2 LookupTableSizeV2
    LookupTableRemoveV2 InitializeTableV2 StringToHashBucketFast StringToHashBucketStrong StringLower
    StringUpper StringSplitV2 StringStrip StringLength StaticRegexReplace StaticRegexFullMatch StringJoin
    DenseBincount Bincount SparseToDense
""".split())   # first block: the coverage matrix's export (TensorFlow 2.21, Keras 3.15); second: reasoned

CHECKPOINT_OPS = frozenset("SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename".split())  # saver-only functions

DENIED = (   # (pattern, why): refused wherever they are, even if a list above named them by mistake
    (re.compile(r"PyFunc"), "runs Python code"),
    (re.compile(r"Dataset|Iterator|Reader|Record"), "a tf.data pipeline or a record reader, which reads files"),
    (re.compile(r"File|Save|Restore|Checkpoint|ImmutableConst|Remap|Proto|Load"), "reads or writes files"),
    (re.compile(r"Summary|Debug|Print|Audio"), "writes summaries, debug dumps or printed output (to files)"),
    (re.compile(r"Send|Recv|Remote|Collective|Rpc|Nccl"), "talks to other processes"),
)
NOT_LISTED = "not an op that Keras inference graphs use"


class UnsafeModelError(DataError):
    """A SavedModel whose graph would run ops outside the serving allow-list (exit 3)."""


def why_refused(op: str, saver_only: bool = False) -> str | None:
    """Why `op` is not run from a registry (None: it is allowed)."""
    if saver_only and op in CHECKPOINT_OPS:
        return None
    for pattern, why in DENIED:
        if pattern.search(op):
            return why
    return None if op in INFERENCE_OPS else NOT_LISTED


def check_saved_model(path: Path, what: str = "") -> None:
    """Raise UnsafeModelError naming every refused op (and its function) of the SavedModel at `path`."""
    problems = problems_of(read_saved_model(path))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UnsafeModelError(
            f"{what or path}: refusing to load this SavedModel with TensorFlow: a SavedModel is code, and "
            f"its graph uses {len(problems)} op(s) that inference with a Keras model does not need:\n{lines}\n"
            f"If you trust everyone who can write this registry, load it anyway with "
            f"--runtime tensorflow --trust-model")


def read_saved_model(path: Path):
    """The SavedModel protobuf of saved_model.pb (the file TensorFlow's loader reads first), parsed only."""
    from google.protobuf.message import DecodeError

    from ..tfquiet import import_tensorflow

    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    except (OSError, DecodeError) as e:
        raise UnsafeModelError(f"{path}/saved_model.pb: expected a readable SavedModel protobuf, got "
                               f"{type(e).__name__}: {e}") from None
    return proto


def problems_of(saved_model) -> list[str]:
    """Every refused op of every meta graph, as 'OP in function F (why)' or 'OP in the graph's node N (why)'."""
    if not saved_model.meta_graphs:
        return ["no meta graph at all (expected one tagged 'serve')"]
    return [p for meta in saved_model.meta_graphs for p in _meta_graph_problems(meta)]


def _meta_graph_problems(meta) -> list[str]:
    if not meta.object_graph_def.nodes:
        return ["a TF1 SavedModel (no object graph): its loader runs the graph's own restore and init ops"]
    library = {f.signature.name: f for f in meta.graph_def.library.function}
    saver_nodes = _saver_node_names(meta.saver_def)
    only_saver = _saver_only_functions(meta, library, saver_nodes)
    problems = [f"function {name!r}, called by the graph, is not defined in it"
                for name in sorted(_all_calls(meta, library) - set(library))]
    for node in meta.graph_def.node:
        problems += _op_problem(node, library, node.name in saver_nodes, f"the graph's node {node.name!r}")
    for name, function in library.items():
        for node in function.node_def:
            problems += _op_problem(node, library, name in only_saver, f"function {name!r}")
    return problems


def _op_problem(node, library: dict, saver_only: bool, where: str) -> list[str]:
    why = None if node.op in library else why_refused(node.op, saver_only)   # a call of a checked function
    return [f"{node.op} in {where} ({why})"] if why else []


def _saver_node_names(saver_def) -> set[str]:
    """The graph's nodes the saver runs (`save_tensor_name` is 'NODE:0')."""
    names = (saver_def.save_tensor_name, saver_def.restore_op_name)
    return {n.lstrip("^").split(":")[0] for n in names if n}


def _saver_only_functions(meta, library: dict, saver_nodes: set[str]) -> set[str]:
    """Functions reached from the saver's nodes and from nothing else (not the object graph, not the
    graph's other nodes, not any other function)."""
    saver = _closure(_calls((n for n in meta.graph_def.node if n.name in saver_nodes), library), library)
    roots = (_calls((n for n in meta.graph_def.node if n.name not in saver_nodes), library)
             | _object_graph_functions(meta.object_graph_def) | (set(library) - saver))
    return saver - _closure(roots, library)


def _object_graph_functions(graph) -> set[str]:
    """The concrete functions the object graph names (what the loader restores and may call)."""
    names = set(graph.concrete_functions)
    for obj in graph.nodes:
        kind = obj.WhichOneof("kind")
        if kind == "function":
            names |= set(obj.function.concrete_functions)
        elif kind == "bare_concrete_function":
            names.add(obj.bare_concrete_function.concrete_function_name)
    return names


def _all_calls(meta, library: dict) -> set[str]:
    nodes = [*meta.graph_def.node, *(n for f in library.values() for n in f.node_def)]
    return _calls(nodes, library) | _object_graph_functions(meta.object_graph_def)


def _closure(roots: set[str], library: dict) -> set[str]:
    """`roots` and every function they call, transitively (names outside the library stay as they are)."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _calls(library[name].node_def, library) if name in library else []
    return seen


def _calls(nodes, library: dict) -> set[str]:
    """Functions the nodes call: by op type (a library function) or through a func / list(func) attr
    (any name there, defined or not)."""
    names = set()
    for node in nodes:
        names |= {node.op} if node.op in library else set()
        for value in node.attr.values():
            kind = value.WhichOneof("value")
            names |= {value.func.name} if kind == "func" else {f.name for f in value.list.func} if kind == "list" else set()
    return names
