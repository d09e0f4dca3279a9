"""Keras -> ONNX with tf2onnx, then a parity check against onnxruntime. Imports TensorFlow lazily."""
from __future__ import annotations

import os
from pathlib import Path


def servable(model):
    """The model with stable tensor names: a functional model's own, else (Sequential, subclassed,
    auto-named inputs such as `keras_tensor_5`) a thin functional wrapper with inputs `input` (or
    `input_0`, `input_1`, ... for several) and output `output`, so the registered signature, the
    ONNX file and served requests agree."""
    import re

    import keras

    auto = re.compile(r"keras_tensor(_\d+)?|input_layer(_\d+)?")
    if isinstance(model, keras.Sequential) or any(auto.fullmatch(t.name) for t in model.inputs):
        specs = model.inputs
        names = ["input"] if len(specs) == 1 else [f"input_{i}" for i in range(len(specs))]
        inputs = [keras.Input(shape=s.shape[1:], dtype=s.dtype, name=n) for s, n in zip(specs, names)]
        outputs = model(inputs[0] if len(inputs) == 1 else inputs)
        if isinstance(outputs, (list, tuple)):
            outputs = [keras.layers.Identity(name=f"output_{i}")(o) for i, o in enumerate(outputs)]
        else:
            outputs = keras.layers.Identity(name="output")(outputs)
        return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=model.name)
    return model


def keras_signature(model) -> dict:
    """Inputs and outputs of a Keras model: name, shape (None = any batch size) and dtype."""
    def describe(tensors, names):
        return [{"name": n, "shape": [None if d is None else int(d) for d in t.shape], "dtype": str(t.dtype)}
                for t, n in zip(tensors, names)]

    names = getattr(model, "output_names", None) or [t._keras_history.operation.name for t in model.outputs]
    return {"inputs": describe(model.inputs, [t.name for t in model.inputs]),
            "outputs": describe(model.outputs, list(names))}


def _name_batch_dim(proto) -> None:
    """tf2onnx calls the dynamic batch dimension `unk__N`; call it `batch`."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


def _with_one(ctx, node, op: str, one_first: bool) -> None:
    """Rewrite `node` as a Sub of ONNX `op` applied to its input and the constant 1 (`1 - op(x)`
    when `one_first`, else `op(x) - 1`)."""
    import numpy as np
    from tf2onnx import utils

    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    applied = ctx.make_node(op, [node.input[0]], op_name_scope=node.name)
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
    node.type = "Sub"
    operands = [one.output[0], applied.output[0]]
    ctx.replace_inputs(node, operands if one_first else operands[::-1])


def _erfc(ctx, node, name, args) -> None:
    """tf2onnx handler for TensorFlow's Erfc (in Keras 3's exact GELU), which ONNX lacks:
    erfc(x) = 1 - erf(x), with ONNX's Erf."""
    _with_one(ctx, node, "Erf", one_first=True)


def _expm1(ctx, node, name, args) -> None:
    """tf2onnx handler for TensorFlow's Expm1 (in Keras 3's celu), which ONNX lacks: exp(x) - 1.
    Near 0 this loses expm1's relative precision, not its absolute one (~1e-7 in float32)."""
    _with_one(ctx, node, "Exp", one_first=False)


# TensorFlow ops tf2onnx does not convert, mapped to ONNX ones (the export matrix found them)
CUSTOM_OPS = {"Erfc": (_erfc, []), "Expm1": (_expm1, [])}


def convert(model, path: Path, opset: int) -> dict:
    """Write `path` (atomically) from a Keras model with an explicit, batch-dynamic input signature."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec([None, *t.shape[1:]], t.dtype, name=t.name) for t in model.inputs]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, custom_op_handlers=CUSTOM_OPS)
    _name_batch_dim(proto)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    return {"opset": opset, "inputs": [i.name for i in proto.graph.input],
            "outputs": [o.name for o in proto.graph.output]}


def predicted_classes(out, kind: str):
    """Classes a model's outputs stand for: argmax of several outputs, a 0.5 threshold for one
    binary output; None for regression (only max_abs_diff applies)."""
    import numpy as np

    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(1)
    if kind == "binary":
        return out.reshape(len(out), -1)[:, 0] > 0.5
    return None


def feeds_of(model, x) -> dict:
    """Model inputs by name: `x` is one array (a one-input model) or a dict of arrays by input name."""
    names = [t.name for t in model.inputs]
    if not isinstance(x, dict):
        if len(names) != 1:
            raise ValueError(f"parity data: expected a dict of arrays for the inputs {names}, got one array")
        x = {names[0]: x}
    missing = [n for n in names if n not in x]
    if missing:
        raise ValueError(f"parity data: expected arrays for the inputs {names}, missing {missing}")
    return {n: x[n] for n in names}


def _differences(a, b):
    """|a - b| elementwise, where equal infinities count 0 and a NaN on one side only counts inf."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff = np.where(same, 0.0, np.abs(a - b))
    return np.nan_to_num(diff, nan=np.inf), np.where(np.isfinite(b), np.maximum(1.0, np.abs(b)), 1.0)


def _near_ties(want, pa, pb, tol: float):
    """Samples where the classes differ only because Keras's own scores for both are within `tol`
    (scaled like max_abs_diff): float rounding picks either, so they count as agreeing."""
    import numpy as np

    want = np.asarray(want)
    if want.ndim != 2 or want.shape[1] < 2:
        return np.zeros(len(pa), dtype=bool)
    rows = np.arange(len(pa))
    top, theirs = want[rows, pb], want[rows, pa]
    return (pa != pb) & (np.abs(top - theirs) <= tol * np.maximum(1.0, np.abs(top)))


def parity(model, onnx_path: Path, x, y=None, kind: str = "classification", batch: int = 1000,
           tol: float = 1e-5) -> dict:
    """Compare onnxruntime with Keras on the same inputs (`x`: one array, or arrays by input name):
    max |diff| over every output and, for classifiers, how often they predict the same class from
    the first output (and each one's accuracy when labels are given). A differing class counts as
    agreeing when Keras scores both classes within `tol` of each other (a tie up to rounding)."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = feeds_of(model, x)     # by name: the ONNX inputs are named after the model's (convert)
    dtypes = {t.name: np.dtype(t.dtype) for t in model.inputs}
    n = len(next(iter(feeds.values())))
    max_diff, max_scaled, agree, onnx_correct, keras_correct, classes = 0.0, 0.0, 0, 0, 0, True
    for i in range(0, n, batch):
        xb = [np.ascontiguousarray(v[i:i + batch], dtype=dtypes[k]) for k, v in feeds.items()]
        got = session.run(None, dict(zip(feeds, xb)))
        want = model(xb[0] if len(xb) == 1 else xb, training=False)
        want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
        for a, b in zip(got, want):
            if a.size:
                diff, scale = _differences(a, b)
                max_diff = max(max_diff, float(diff.max()))
                max_scaled = max(max_scaled, float((diff / scale).max()))
        pa, pb = predicted_classes(got[0], kind), predicted_classes(want[0], kind)
        if pa is None:
            classes = False
            continue
        agree += int(np.sum(pa == pb)) + int(np.sum(_near_ties(want[0], pa, pb, tol)))
        if y is not None:
            truth = np.asarray(y[i:i + batch]).reshape(len(pa), -1)
            truth = truth.argmax(1) if truth.shape[1] > 1 else truth[:, 0]
            onnx_correct += int(np.sum(pa == truth))
            keras_correct += int(np.sum(pb == truth))
    out = {"samples": n, "max_abs_diff": max_diff, "max_scaled_diff": max_scaled,
           "argmax_agreement": (agree / n if n else 0.0) if classes else None}
    if y is not None and classes:
        out.update(onnx_accuracy=onnx_correct / n, keras_accuracy=keras_correct / n)
    return out


def export_and_check(model, path: Path, opset: int, x, y=None, *, data: str, kind: str = "classification",
                     max_abs_diff: float = 1e-5, min_argmax_agreement: float = 1.0) -> dict:
    """Convert, check parity and return the registry's `onnx` record (status ok | failed).

    A conversion error is recorded as a failed export rather than raised: the model still counts.
    """
    record = {"path": "model.onnx", "opset": opset, "parity_data": data, "task": kind,
              "thresholds": {"max_abs_diff": max_abs_diff, "min_argmax_agreement": min_argmax_agreement}}
    try:
        record.update(convert(model, path, opset))
        record.update(parity(model, path, x, y, kind, tol=max_abs_diff))
    except Exception as e:  # noqa: BLE001 - tf2onnx raises many types; the reason is recorded
        path.unlink(missing_ok=True)
        return {**record, "path": None, "status": "failed",
                "reason": f"conversion failed: {type(e).__name__}: {e}"}
    bad = []
    if record["max_scaled_diff"] > max_abs_diff:   # |onnx - keras| / max(1, |keras|): the abs diff for probabilities
        bad.append(f"max_abs_diff {record['max_abs_diff']:.3g} (scaled by max(1, |output|): "
                   f"{record['max_scaled_diff']:.3g}) > {max_abs_diff:g}")
    agreement = record["argmax_agreement"]
    if agreement is not None and agreement < min_argmax_agreement:
        bad.append(f"argmax_agreement {agreement:.4%} < {min_argmax_agreement:.2%}")
    record["status"] = "failed" if bad else "ok"
    record["reason"] = ("parity check failed on %d %s samples: " % (record["samples"], data) + "; ".join(bad)
                        + f" (max_abs_diff={record['max_abs_diff']:.3g}"
                        + ("" if agreement is None else f", argmax_agreement={agreement:.4%}") + ")") if bad else None
    return record


def random_inputs(signature: dict, n: int, seed: int = 0):
    """Parity inputs when no dataset is at hand: uniform values in 0..255 in each input's shape (raw
    pixels for image models; token ids 0..255 for integer inputs). One array for a one-input model,
    else a dict of arrays by input name."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for inp in signature["inputs"]:
        shape, dtype = (n, *[d or 1 for d in inp["shape"][1:]]), np.dtype(inp.get("dtype", "float32"))
        out[inp["name"]] = (rng.integers(0, 256, shape).astype(dtype) if dtype.kind in "iu"
                            else rng.uniform(0, 255, shape).astype(dtype))
    return next(iter(out.values())) if len(out) == 1 else out
