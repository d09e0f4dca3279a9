"""The Open Inference Protocol (KServe v2) over HTTP/REST: datatypes, inference requests (JSON
tensors and the binary tensor data extension), validation against a model's registered signature,
responses and model metadata. Pure: numpy and json only, no server imports.

Binary tensor data extension (Triton's, used by tritonclient): the body is a JSON header of
`Inference-Header-Content-Length` bytes followed by the raw little-endian bytes of every input
whose `parameters.binary_data_size` is set, in the order of `inputs`; outputs asked for with
`parameters.binary_data` (or the request's `parameters.binary_data_output`) come back the same way.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from .runtimes import RUNTIMES

HEADER_LENGTH = "Inference-Header-Content-Length"
V2_DTYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
             "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
             "FP16": "float16", "FP32": "float32", "FP64": "float64"}  # BYTES (strings) is not served
NUMPY_TO_V2 = {v: k for k, v in V2_DTYPES.items()}
JSON_KINDS = {"b": "b", "i": "biu", "u": "biu", "f": "biuf"}  # numpy kinds a JSON list may hold, per target kind
KIND_WORDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}


class ProtocolError(Exception):
    """A request the server refuses: an HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status

    def __reduce__(self):  # crosses the JSON parser process boundary with its status
        return type(self), (self.status, str(self))


def bad_request(message: str) -> ProtocolError:
    return ProtocolError(400, message)


def error_body(message: str) -> bytes:
    """The v2 error response: {"error": "..."}."""
    return json.dumps({"error": message}).encode()


# ------------------------------------------------------------------ signatures
@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a registered signature: name, shape (None = any size), numpy dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    @classmethod
    def from_json(cls, d: dict) -> "TensorSpec":
        dtype = np.dtype(d.get("dtype") or "float32").name
        if dtype not in NUMPY_TO_V2:
            raise ValueError(f"tensor {d.get('name')!r}: dtype: expected one of "
                             f"{', '.join(sorted(NUMPY_TO_V2))}, got {dtype!r}")
        return cls(str(d["name"]), tuple(None if s is None or s < 0 else int(s) for s in d["shape"]), dtype)

    @property
    def datatype(self) -> str:
        return NUMPY_TO_V2[self.dtype]

    @property
    def v2_shape(self) -> list[int]:
        return [-1 if d is None else d for d in self.shape]

    def v2(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": self.v2_shape}

    def accepts(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.shape) and all(w is None or w == d for w, d in zip(self.shape, shape))


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def from_entry(cls, signature: dict) -> "Signature":
        """From a registry entry's `signature` ({inputs: [{name, shape, dtype}], outputs: [...]})."""
        return cls(tuple(map(TensorSpec.from_json, signature["inputs"])),
                   tuple(map(TensorSpec.from_json, signature["outputs"])))

    @property
    def batched(self) -> bool:
        """Whether every tensor's first dimension is a free batch dimension (requests can be concatenated)."""
        return all(t.shape and t.shape[0] is None for t in self.inputs + self.outputs)


def model_metadata(name: str, version: int, signature: Signature, platform: str = RUNTIMES["onnx"].platform) -> dict:
    """GET /v2/models/{name}[/versions/{v}]; `platform` names the runtime (serve/runtimes.py)."""
    return {"name": name, "versions": [str(version)], "platform": platform,
            "inputs": [t.v2() for t in signature.inputs], "outputs": [t.v2() for t in signature.outputs]}


# ------------------------------------------------------------------ requests
@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: tuple[RequestedOutput, ...]
    rows: int  # the batch size (first dimension) shared by the inputs; 1 for unbatched signatures


def parse_infer(body: bytes, header_length: str | None, signature: Signature,
                allow_nonfinite: bool = False, max_values: int | None = None) -> InferRequest:
    """Parse and validate a v2 inference request against the served version's signature. A JSON
    part that could hold more than `max_values` values (counted as its commas + 1, before parsing:
    a JSON number costs ~32 bytes as a Python object, 8x its text) is refused with 413."""
    header, binary = split_body(body, header_length)
    if max_values is not None and header.count(b",") >= max_values:
        raise ProtocolError(413, f"JSON request: expected at most {max_values} values (--max-json-values), got up "
                                 f"to {header.count(b',') + 1}; send large batches as binary tensor data "
                                 f"(tritonclient's default) or split them")
    doc = load_json(header)
    if doc.get("id") is not None and not isinstance(doc["id"], str):
        raise bad_request(f"id: expected a string, got {_type(doc['id'])}")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise bad_request(f"parameters: expected an object, got {_type(params)}")
    outputs = requested_outputs(doc.get("outputs"), signature, params.get("binary_data_output") is True)
    inputs = decode_inputs(doc.get("inputs"), binary, signature, allow_nonfinite)
    return InferRequest(doc.get("id"), inputs, outputs, batch_rows(inputs, signature))


def json_part(body: bytes, header_length: str | None) -> int:
    """The length of a request's JSON part (the whole body without the binary extension)."""
    return int(header_length) if header_length is not None and header_length.isdigit() else len(body)


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON header and the binary tensor data after it."""
    if header_length is None:
        return body, memoryview(b"")
    try:
        n = int(header_length)
    except ValueError:
        raise bad_request(f"{HEADER_LENGTH}: expected an integer, got {header_length!r}") from None
    if not 0 < n <= len(body):
        raise bad_request(f"{HEADER_LENGTH}: expected 1..{len(body)} (the body has {len(body)} bytes), got {n}")
    return body[:n], memoryview(body)[n:]


def load_json(data: bytes) -> dict:
    try:
        doc = json.loads(data)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise bad_request(f"malformed JSON in the request body: {e}") from None
    except RecursionError:
        raise bad_request("JSON in the request body: expected at most a few hundred levels of nesting, "
                          "got more") from None
    if not isinstance(doc, dict):
        raise bad_request(f"request body: expected a JSON object, got {_type(doc)}")
    return doc


def decode_inputs(items, binary: memoryview, signature: Signature, allow_nonfinite: bool) -> dict[str, np.ndarray]:
    """Every input of the request as an array; all problems are reported in one error."""
    specs = {t.name: t for t in signature.inputs}
    if not isinstance(items, list) or not items:
        raise bad_request(f"inputs: expected a non-empty list of tensors ({_names(specs)}), got "
                          f"{'an empty list' if items == [] else _type(items)}")
    chunks = binary_chunks(items, binary)
    problems, arrays = [], {}
    for item, chunk in zip(items, chunks):
        name = item["name"]
        if name not in specs:
            problems.append(f"input {name!r}: unknown input (the model's inputs: {_names(specs)})")
        elif name in arrays:
            problems.append(f"input {name!r}: given twice")
        else:
            try:
                arrays[name] = decode_input(item, specs[name], chunk, allow_nonfinite)
            except ProtocolError as e:
                problems.append(str(e))
                arrays[name] = None
    problems += [f"input {n!r}: missing (the model's inputs: {_names(specs)})" for n in specs if n not in arrays]
    if problems:
        raise bad_request("; ".join(problems))
    return arrays


def binary_chunks(items: list, binary: memoryview) -> list[memoryview | None]:
    """Each input's slice of the binary data (None for JSON data), checking names and sizes."""
    chunks, offset = [], 0
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise bad_request(f"inputs[{i}]: expected an object with a string 'name', got {_type(item)}")
        params = item.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            chunks.append(None)
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request(f"input {item['name']!r}: parameters.binary_data_size: expected a "
                              f"non-negative integer, got {size!r}")
        chunks.append(binary[offset:offset + size])
        offset += size
    if offset != len(binary):
        raise bad_request(f"binary data: the inputs declare {offset} bytes (binary_data_size), the body "
                          f"carries {len(binary)} after the {HEADER_LENGTH} JSON header")
    return chunks


def decode_input(item: dict, spec: TensorSpec, chunk: memoryview | None, allow_nonfinite: bool) -> np.ndarray:
    """One input as an array of the signature's dtype in the request's shape."""
    where = f"input {spec.name!r}"
    shape = parse_shape(item.get("shape"), where)
    problems = []
    if item.get("datatype") != spec.datatype:
        problems.append(f"datatype: expected {spec.datatype}, got {item.get('datatype')!r}")
    if not spec.accepts(shape):
        problems.append(f"shape: expected {spec.v2_shape} (-1: any size), got {list(shape)}")
    if problems:
        raise bad_request(f"{where}: " + "; ".join(problems))
    if chunk is not None and "data" in item:
        raise bad_request(f"{where}: expected either 'data' or parameters.binary_data_size, got both")
    array = from_binary(chunk, spec, shape, where) if chunk is not None else from_json(item.get("data"), spec, shape, where)
    if not allow_nonfinite:
        check_finite(array, where)
    return array


def parse_shape(shape, where: str) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise bad_request(f"{where}: shape: expected a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def from_json(data, spec: TensorSpec, shape: tuple[int, ...], where: str) -> np.ndarray:
    """A JSON `data` list (flat or nested, row-major) as an array."""
    if not isinstance(data, list):
        raise bad_request(f"{where}: expected 'data' (a list of values) or parameters.binary_data_size, "
                          f"got {'no data' if data is None else _type(data)}")
    try:
        raw = np.asarray(data)
    except (ValueError, OverflowError) as e:
        raise bad_request(f"{where}: data: expected a flat or evenly nested list of {spec.datatype} "
                          f"values, got {type(e).__name__}: {e}") from None
    kind = np.dtype(spec.dtype).kind
    if raw.size and raw.dtype.kind not in JSON_KINDS[kind]:
        raise bad_request(f"{where}: data: expected {KIND_WORDS[kind]} for {spec.datatype}, got "
                          f"{_json_kind(raw)}")
    want = math.prod(shape)
    if raw.size != want:
        raise bad_request(f"{where}: data: expected {want} values for shape {list(shape)}, got {raw.size}")
    if kind in "iu" and raw.size and not _in_range(raw, spec.dtype):
        raise bad_request(f"{where}: data: values out of the {spec.datatype} range")
    return raw.astype(spec.dtype, copy=False).reshape(shape)


def from_binary(chunk: memoryview, spec: TensorSpec, shape: tuple[int, ...], where: str) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    want = math.prod(shape) * dtype.itemsize
    if len(chunk) != want:
        raise bad_request(f"{where}: binary data: expected {want} bytes ({math.prod(shape)} x {spec.datatype} "
                          f"for shape {list(shape)}), got {len(chunk)}")
    return np.frombuffer(chunk, dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)


def check_finite(array: np.ndarray, where: str) -> None:
    """Refuse NaN and ±Inf in floating-point inputs (the server's default)."""
    if array.dtype.kind == "f" and array.size:
        bad = array.size - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            raise bad_request(f"{where}: expected finite numbers, got {bad} NaN or infinite value(s) "
                              f"(refused by default; start the server with --allow-nonfinite to pass them on)")


def batch_rows(inputs: dict[str, np.ndarray], signature: Signature) -> int:
    """The number of rows (first dimension) every input shares; 1 for unbatched signatures."""
    if not signature.batched:
        return 1
    rows = {name: a.shape[0] for name, a in inputs.items()}
    if len(set(rows.values())) > 1:
        raise bad_request("inputs: expected the same number of rows (first dimension) in every input, got "
                          + ", ".join(f"{n}={r}" for n, r in rows.items()))
    n = next(iter(rows.values()))
    if n == 0:
        raise bad_request(f"input {next(iter(rows))!r}: shape: expected at least 1 row, got 0")
    return n


def requested_outputs(items, signature: Signature, default_binary: bool) -> tuple[RequestedOutput, ...]:
    """The outputs to return (all, unless `outputs` names some) and whether each goes back as binary."""
    known = [t.name for t in signature.outputs]
    if items is None:
        return tuple(RequestedOutput(n, default_binary) for n in known)
    if not isinstance(items, list):
        raise bad_request(f"outputs: expected a list of {{\"name\": ...}} objects, got {_type(items)}")
    out, problems = [], []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        params = (item.get("parameters") or {}) if isinstance(item, dict) else {}
        binary = params.get("binary_data", default_binary) if isinstance(params, dict) else None
        if name not in known:
            problems.append(f"output {name!r}: unknown output (the model's outputs: {', '.join(known)})"
                            if isinstance(name, str) else f"outputs[{i}]: expected an object with a string 'name'")
        elif not isinstance(binary, bool):
            problems.append(f"output {name!r}: parameters.binary_data: expected true or false, got {binary!r}")
        elif params.get("classification"):
            problems.append(f"output {name!r}: parameters.classification is not supported; ask for the "
                            f"output itself and take the top classes on the client")
        else:
            out.append(RequestedOutput(name, binary))
    if problems:
        raise bad_request("; ".join(problems))
    return tuple(out)


# ------------------------------------------------------------------ responses
def encode_response(model: str, version: int, request: InferRequest,
                    results: dict[str, np.ndarray]) -> tuple[bytes, int | None]:
    """The v2 response body, and the JSON header's length when binary outputs follow it."""
    described, chunks = [], []
    for want in request.outputs:
        array = results[want.name]
        desc = {"name": want.name, "datatype": NUMPY_TO_V2[array.dtype.name], "shape": list(array.shape)}
        if want.binary:
            raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
            desc["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            desc["data"] = array.ravel().tolist()
        described.append(desc)
    doc = {"model_name": model, "model_version": str(version), "outputs": described}
    if request.id is not None:
        doc["id"] = request.id
    header = json.dumps(doc, separators=(",", ":")).encode()
    return (header + b"".join(chunks), len(header)) if chunks else (header, None)


# ------------------------------------------------------------------ helpers
def _type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "nothing"}.get(
        type(value), type(value).__name__)


def _names(specs: dict) -> str:
    return ", ".join(repr(n) for n in specs)


def _json_kind(raw: np.ndarray) -> str:
    return {"U": "strings", "O": "mixed values (strings, null or objects)", "f": "floating-point numbers",
            "b": "booleans"}.get(raw.dtype.kind, f"{raw.dtype.name} values")


def _in_range(raw: np.ndarray, dtype: str) -> bool:
    info = np.iinfo(dtype)
    return info.min <= raw.min() and raw.max() <= info.max
