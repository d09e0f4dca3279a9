"""Runtimes that answer for a registered version: a name maps to the artifact it runs and the
platform it reports in the model metadata.

- `onnx`: model.onnx with onnxruntime (light: the server never imports TensorFlow);
- `tensorflow`: the version's SavedModel with TensorFlow, for versions without a usable ONNX
  export (it failed, or `export.onnx.enabled=false`);
- `auto` (the default of `models serve` and `models predict`): onnx when the export is there and
  ok, else tensorflow.

A SavedModel is code: before TensorFlow loads one, its graph's ops are checked against what Keras
inference graphs use (registry/graphguard.py); `--runtime tensorflow --trust-model` skips the check.

Both sessions answer the same calls (`run(output_names, feeds)`, `get_inputs()`), so batching,
errors and metrics do not depend on the runtime.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError, NotFoundError, UsageError


@dataclass(frozen=True)
class Runtime:
    name: str
    artifact: str      # the registry artifact it runs (a file or a directory)
    platform: str      # what GET /v2/models/{name} reports


RUNTIMES = {r.name: r for r in (Runtime("onnx", "model.onnx", "onnxruntime_onnx"),
                                Runtime("tensorflow", "saved_model", "tensorflow_savedmodel"))}
CHOICES = ("auto", *RUNTIMES)


def choose(entry: dict, wanted: str) -> Runtime:
    """The runtime that serves this version under `--runtime wanted`, or an error saying why none can."""
    ref = f"{entry['name']}:{entry['version']}"
    manifest, onnx = entry.get("manifest") or {}, entry.get("onnx") or {}
    has_saved_model = "saved_model/saved_model.pb" in manifest
    if onnx.get("status") == "failed":
        onnx_problem = ExportError(f"{ref}: expected an ONNX export with status 'ok', got 'failed' "
                                   f"({onnx.get('reason')}); try `trainkit models export {ref} --opset 13`")
    elif "model.onnx" not in manifest:
        onnx_problem = NotFoundError(f"{ref}: expected a model.onnx artifact, got none (onnx status "
                                     f"{onnx.get('status')!r}); run `trainkit models export {ref}`")
    else:
        onnx_problem = None
    if wanted == "onnx" or (wanted == "auto" and onnx_problem is None):
        if onnx_problem is not None:
            raise type(onnx_problem)(f"{onnx_problem}" + (", or serve its SavedModel with --runtime tensorflow"
                                                          if has_saved_model else ""))
        return RUNTIMES["onnx"]
    if wanted not in ("tensorflow", "auto"):
        raise ValueError(f"--runtime: expected one of {', '.join(CHOICES)}, got {wanted!r}")
    if not has_saved_model:
        artifacts = ", ".join(sorted({k.split("/", 1)[0] for k in manifest})) or "none"
        if wanted == "auto":      # the ONNX problem is the one to fix
            raise type(onnx_problem)(f"{onnx_problem}; and no saved_model artifact to serve with TensorFlow "
                                     f"instead (artifacts: {artifacts})")
        raise NotFoundError(f"{ref}: expected a saved_model artifact for --runtime tensorflow, got none "
                            f"(artifacts: {artifacts})")
    return RUNTIMES["tensorflow"]


def check_trust(runtime: str, trust_model: bool) -> None:
    """`--trust-model` (load a SavedModel without checking its graph) only with an explicit `--runtime tensorflow`."""
    if trust_model and runtime != "tensorflow":
        raise UsageError(f"--trust-model: expected together with --runtime tensorflow, got --runtime {runtime}")


def open_session(runtime: Runtime, path: Path, threads: int, output_names: list[str]):
    """A session of `runtime` on the downloaded artifact at `path`."""
    if runtime.name == "onnx":
        return _onnx_session(path, threads)
    return SavedModelSession(path, threads, output_names)


def _onnx_session(path: Path, threads: int):
    """An onnxruntime CPU session: `threads` intra-op threads that sleep rather than spin between
    calls (they share the cores with the event loop), one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class _Input:
    name: str


class SavedModelSession:
    """A SavedModel's `serving_default` signature behind onnxruntime's session calls. Keras names
    the signature's inputs after the model's inputs and its outputs output_0, output_1, ... in the
    model's order, which is the registered signature's order (`output_names`)."""

    _threads_set = threading.Lock()

    def __init__(self, path: Path, threads: int, output_names: list[str]):
        from ..tfquiet import import_tensorflow

        tf = import_tensorflow()

        with self._threads_set:       # TF's thread pools are per process and fixed once it ran anything
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass
        self._tf = tf
        self._fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        self._inputs = list(self._fn.structured_input_signature[1])
        produced = sorted(self._fn.structured_outputs,
                          key=lambda k: (0, int(k[7:])) if re.fullmatch(r"output_\d+", k) else (1, k))
        if len(produced) != len(output_names):
            raise NotFoundError(f"{path}: the SavedModel has {len(produced)} output(s), expected the registered "
                                f"signature's {len(output_names)} ({', '.join(output_names)})")
        self._key = dict(zip(output_names, produced))

    def get_inputs(self) -> list[_Input]:
        return [_Input(n) for n in self._inputs]

    def run(self, names: list[str] | None, feeds: dict) -> list:
        out = self._fn(**{k: self._tf.constant(v) for k, v in feeds.items()})
        return [out[self._key[n]].numpy() for n in (names or list(self._key))]
