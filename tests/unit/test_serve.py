"""Serving without a server: v2 request parsing and validation, responses, dynamic batching, the
serve settings, and `models predict` on a tiny hand-built ONNX classifier. No TensorFlow."""
from __future__ import annotations

import asyncio
import csv
import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from trainkit.errors import DataError, UsageError
from trainkit.registry.store import Registry
from trainkit.serve.batcher import Batcher
from trainkit.serve.protocol import (ProtocolError, Signature, encode_response, model_metadata, parse_infer)
from trainkit.serve.settings import ServeSettings

from ..conftest import ROOT, run_cli

SIGNATURE = {"inputs": [{"name": "image", "shape": [None, 4, 4], "dtype": "float32"}],
             "outputs": [{"name": "probabilities", "shape": [None, 3], "dtype": "float32"}]}
SIG = Signature.from_entry(SIGNATURE)


def body(inputs=None, **doc) -> bytes:
    tensor = {"name": "image", "shape": [2, 4, 4], "datatype": "FP32", "data": list(range(32))}
    return json.dumps({"inputs": [tensor] if inputs is None else inputs, **doc}).encode()


def binary_body(x: np.ndarray, declared: int | None = None, **doc) -> tuple[bytes, str]:
    tensor = {"name": "image", "shape": list(x.shape), "datatype": "FP32",
              "parameters": {"binary_data_size": x.nbytes if declared is None else declared}}
    header = json.dumps({"inputs": [tensor], **doc}).encode()
    return header + x.astype("<f4").tobytes(), str(len(header))


def refused(raw: bytes, header: str | None = None, status: int = 400) -> str:
    with pytest.raises(ProtocolError) as e:
        parse_infer(raw, header, SIG)
    assert e.value.status == status
    return str(e.value)


# ------------------------------------------------------------------ protocol
def test_json_request_flat_and_nested_data_and_metadata():
    flat = parse_infer(body(id="r-1"), None, SIG)
    assert flat.id == "r-1" and flat.rows == 2 and flat.inputs["image"].dtype == np.float32
    assert flat.inputs["image"].shape == (2, 4, 4) and flat.inputs["image"][1, 3, 3] == 31
    nested = [{"name": "image", "shape": [2, 4, 4], "datatype": "FP32",
               "data": np.arange(32).reshape(2, 4, 4).tolist()}]
    np.testing.assert_array_equal(parse_infer(body(nested), None, SIG).inputs["image"], flat.inputs["image"])
    assert [o.name for o in flat.outputs] == ["probabilities"] and not flat.outputs[0].binary
    assert model_metadata("tiny", 3, SIG) == {
        "name": "tiny", "versions": ["3"], "platform": "onnxruntime_onnx",
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 4, 4]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]}


def test_binary_request_and_binary_response_round_trip():
    x = np.random.default_rng(0).uniform(0, 255, (3, 4, 4)).astype(np.float32)
    raw, header = binary_body(x, outputs=[{"name": "probabilities", "parameters": {"binary_data": True}}])
    req = parse_infer(raw, header, SIG)
    np.testing.assert_array_equal(req.inputs["image"], x)
    y = np.random.default_rng(1).random((3, 3), dtype=np.float32)
    out, json_len = encode_response("tiny", 2, req, {"probabilities": y})
    doc = json.loads(out[:json_len])
    assert doc["model_version"] == "2" and doc["outputs"][0]["parameters"] == {"binary_data_size": 36}
    np.testing.assert_array_equal(np.frombuffer(out[json_len:], "<f4").reshape(3, 3), y)


def test_json_response_is_exact_and_binary_data_output_applies_to_all_outputs():
    req = parse_infer(body(id="a"), None, SIG)
    y = np.random.default_rng(2).random((2, 3), dtype=np.float32)
    out, json_len = encode_response("tiny", 1, req, {"probabilities": y})
    doc = json.loads(out)
    assert json_len is None and doc["id"] == "a" and doc["outputs"][0]["shape"] == [2, 3]
    assert np.array_equal(np.array(doc["outputs"][0]["data"], np.float32).reshape(2, 3), y)
    assert parse_infer(body(parameters={"binary_data_output": True}), None, SIG).outputs[0].binary


@pytest.mark.parametrize("inputs, words", [
    ([{"name": "img", "shape": [1, 4, 4], "datatype": "FP32", "data": [0] * 16}],
     ["input 'img': unknown input (the model's inputs: 'image')", "input 'image': missing"]),
    ([{"name": "image", "shape": [1, 4, 4], "datatype": "FP64", "data": [0] * 16}],
     ["input 'image': datatype: expected FP32, got 'FP64'"]),
    ([{"name": "image", "shape": [1, 16], "datatype": "FP32", "data": [0] * 16}],
     ["input 'image': shape: expected [-1, 4, 4] (-1: any size), got [1, 16]"]),
    ([{"name": "image", "shape": [1, 4, 4], "datatype": "FP32", "data": [0] * 15}],
     ["input 'image': data: expected 16 values for shape [1, 4, 4], got 15"]),
    ([{"name": "image", "shape": [1, 4, 4], "datatype": "FP32", "data": ["a"] * 16}],
     ["input 'image': data: expected numbers for FP32, got strings"]),
    ([{"name": "image", "shape": [1, 4, 4], "datatype": "FP32", "data": [[0, 1], [2]]}],
     ["input 'image': data: expected a flat or evenly nested list"]),
    ([{"name": "image", "shape": [1, 4, 4], "datatype": "FP32"}],
     ["input 'image': expected 'data' (a list of values) or parameters.binary_data_size, got no data"]),
    ([{"name": "image", "shape": [0, 4, 4], "datatype": "FP32", "data": []}],
     ["input 'image': shape: expected at least 1 row, got 0"]),
    ([{"name": "image", "shape": "1,4,4", "datatype": "FP32", "data": []}],
     ["input 'image': shape: expected a list of non-negative integers, got '1,4,4'"]),
    ([], ["inputs: expected a non-empty list of tensors ('image'), got an empty list"]),
])
def test_bad_inputs_name_the_problem(inputs, words):
    message = refused(body(inputs))
    for w in words:
        assert w in message, message


def test_non_finite_values_are_refused_unless_allowed():
    x = np.zeros((2, 4, 4), np.float32)
    x[0, 0, 0], x[1, 2, 2] = np.nan, np.inf
    raw, header = binary_body(x)
    assert "input 'image': expected finite numbers, got 2 NaN or infinite value(s)" in refused(raw, header)
    assert "--allow-nonfinite" in refused(raw, header)
    assert np.isnan(parse_infer(raw, header, SIG, allow_nonfinite=True).inputs["image"][0, 0, 0])
    json_nan = b'{"inputs": [{"name": "image", "shape": [1, 4, 4], "datatype": "FP32", "data": [NaN' + b", 0" * 15 + b"]}]}"
    assert "got 1 NaN or infinite value(s)" in refused(json_nan)


def test_malformed_bodies_and_binary_sizes():
    assert refused(b"{not json").startswith("malformed JSON in the request body: ")
    assert refused(b"[1, 2]") == "request body: expected a JSON object, got a list"
    x = np.zeros((1, 4, 4), np.float32)
    raw, header = binary_body(x, declared=60)
    assert "the inputs declare 60 bytes (binary_data_size), the body carries 64" in refused(raw, header)
    raw, header = binary_body(x, declared=64)
    assert "Inference-Header-Content-Length: expected 1..100" in refused(raw[:100], "999")
    assert "expected an integer, got 'abc'" in refused(raw, "abc")
    wrong_shape = json.loads(raw[:int(header)])
    wrong_shape["inputs"][0]["shape"] = [2, 4, 4]
    head = json.dumps(wrong_shape).encode()
    assert "binary data: expected 128 bytes (32 x FP32 for shape [2, 4, 4]), got 64" in refused(
        head + x.tobytes(), str(len(head)))


def test_json_value_cap_deep_nesting_and_errors_crossing_a_process():
    """Issue 23 items 2 and 7: a JSON part that could hold more values than the cap is refused
    (413) before json.loads builds them; nesting too deep for the parser is a 400, not a 500; a
    ProtocolError keeps its status through pickling (the parser process)."""
    import pickle

    assert parse_infer(body(), None, SIG, max_values=40).rows == 2      # 32 values and a few commas: fine
    with pytest.raises(ProtocolError) as e:
        parse_infer(body(), None, SIG, max_values=31)
    assert e.value.status == 413 and "expected at most 31 values (--max-json-values)" in str(e.value)
    assert "binary tensor data" in str(e.value)
    x = np.zeros((100, 4, 4), np.float32)                               # binary data is not counted
    assert parse_infer(*binary_body(x), SIG, max_values=10).rows == 100
    deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "expected at most a few hundred levels of nesting" in refused(deep)
    again = pickle.loads(pickle.dumps(ProtocolError(413, "too big")))
    assert again.status == 413 and str(again) == "too big"


def test_output_selection_errors():
    assert "output 'probs': unknown output (the model's outputs: probabilities)" in refused(
        body(outputs=[{"name": "probs"}]))
    assert "parameters.classification is not supported" in refused(
        body(outputs=[{"name": "probabilities", "parameters": {"classification": 3}}]))
    assert "id: expected a string, got int" in refused(body(id=7))


# ------------------------------------------------------------------ batching
def run_batches(calls: list, delay: float = 0.0):
    def run(feeds):
        calls.append(len(feeds["x"]))
        time.sleep(delay)
        if (feeds["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": feeds["x"] * 2, "n": np.full((len(feeds["x"]), 1), len(feeds["x"]))}
    return run


async def submit_all(batcher: Batcher, arrays: list[np.ndarray]) -> list:
    return await asyncio.gather(*(batcher.submit({"x": a}, len(a)) for a in arrays), return_exceptions=True)


def test_concurrent_requests_are_batched_and_split_back():
    calls, seen = [], []

    async def main():
        b = Batcher(run_batches(calls, delay=0.05), max_rows=8, max_delay_s=0.01, observe=lambda r, n: seen.append((r, n)))
        b.start()
        arrays = [np.full((1 + i % 3, 2), i, np.float32) for i in range(12)]   # 24 rows in all
        results = await submit_all(b, arrays)
        await b.close()
        return arrays, results

    arrays, results = asyncio.run(main())
    for a, r in zip(arrays, results):
        np.testing.assert_array_equal(r["y"], a * 2)      # each request got its own rows back
    assert sum(calls) == 24 and max(calls) <= 8 and len(calls) < 12
    assert [r for r, _ in seen] == calls and sum(n for _, n in seen) == 12


def test_a_lone_request_is_not_delayed_and_an_oversized_one_runs_alone():
    calls = []

    async def main():
        b = Batcher(run_batches(calls), max_rows=4, max_delay_s=2.0)
        b.start()
        started = time.perf_counter()
        await b.submit({"x": np.ones((1, 2), np.float32)}, 1)
        lone = time.perf_counter() - started
        big = await b.submit({"x": np.ones((10, 2), np.float32)}, 10)
        await b.close()
        return lone, big

    lone, big = asyncio.run(main())
    assert lone < 0.5 and big["y"].shape == (10, 2) and calls == [1, 10]


def test_errors_reach_every_request_of_the_batch_and_the_batcher_keeps_going():
    calls = []

    async def main():
        b = Batcher(run_batches(calls, delay=0.05), max_rows=16, max_delay_s=0.01)
        b.start()
        first = await submit_all(b, [np.ones((1, 2), np.float32)] + [np.full((1, 2), -1.0, np.float32)] * 3)
        after = await b.submit({"x": np.ones((1, 2), np.float32)}, 1)
        await b.close()
        return first, after

    first, after = asyncio.run(main())
    assert all(isinstance(r, ValueError) for r in first[1:])     # the batch with a negative row failed
    assert np.array_equal(after["y"], np.full((1, 2), 2.0))


def test_an_output_without_one_row_per_input_row_fails_the_batch_instead_of_misrouting_rows():
    """Issue 23 item 7: a model whose output's first dimension is not the batch's would hand
    requests each other's rows; each request of the batch gets an error naming the output."""
    from trainkit.serve.batcher import OutputRowsError

    async def main():
        b = Batcher(lambda feeds: {"y": feeds["x"][:1], "ok": feeds["x"]}, max_rows=8, max_delay_s=0.05)
        b.start()
        results = await submit_all(b, [np.ones((2, 2), np.float32), np.ones((1, 2), np.float32)])
        await b.close()
        return results

    results = asyncio.run(main())
    assert all(isinstance(r, OutputRowsError) for r in results), results
    assert "expected 3 row(s) each" in str(results[0]) or "expected 2 row(s) each" in str(results[0])
    assert "'y' has shape [1, 2]" in str(results[0]) and "'ok'" not in str(results[0])


def test_close_answers_what_was_queued_and_shapes_are_not_mixed():
    calls = []

    async def main():
        b = Batcher(run_batches(calls, delay=0.02), max_rows=64, max_delay_s=0.0)
        b.start()
        pending = [asyncio.ensure_future(b.submit({"x": np.ones((1, w), np.float32)}, 1)) for w in (2, 2, 3, 3, 2)]
        await asyncio.sleep(0)
        await b.close()
        return [p.result()["y"].shape for p in pending]

    assert asyncio.run(main()) == [(1, 2), (1, 2), (1, 3), (1, 3), (1, 2)]
    assert sum(calls) == 5 and len(calls) >= 3    # [1 or 2 of width 2], [2 of width 3], [1 of width 2]


# ------------------------------------------------------------------ request bodies during a SIGTERM drain
class TrickleRequest:
    """A request whose body arrives as `chunks`, each after its delay (s)."""

    def __init__(self, chunks: list[tuple[float, bytes]]):
        self.chunks = chunks

    async def stream(self):
        for delay, chunk in self.chunks:
            await asyncio.sleep(delay)
            yield chunk


def test_a_body_arriving_in_the_drain_grace_is_read_and_one_still_stalled_after_it_is_cut_with_503(tmp_path):
    """The stop-under-load race: a request sent on a keep-alive connection just as SIGTERM came
    must be answered (it was refused 503 when the drain began); a body still stalled once the
    grace has ended is cut, so that it cannot hold the shutdown for --body-timeout-s."""
    from trainkit.serve.app import BodyReader, Serving

    settings = ServeSettings(refs=("m",), registry=str(tmp_path), cache_dir=str(tmp_path), body_timeout_s=5)

    async def main():
        serving = Serving(settings, Registry(str(tmp_path)), {})
        serving.begin_drain(grace_s=0.3)
        on_time = await BodyReader(TrickleRequest([(0.05, b"ab"), (0.1, b"cd")]), serving).read(100, "4")
        started = time.monotonic()
        with pytest.raises(ProtocolError) as cut:
            await BodyReader(TrickleRequest([(0.0, b"ab"), (2.0, b"cd")]), serving).read(100, "4")
        return on_time, cut.value, time.monotonic() - started

    on_time, cut, waited = asyncio.run(main())
    assert on_time == b"abcd"
    assert cut.status == 503 and "the server is stopping" in str(cut)
    assert waited < 1.0, waited     # cut when the grace ended, not after the 2 s pause or the 5 s timeout


# ------------------------------------------------------------------ following an alias
def test_alias_follower_switches_skips_unloadable_versions_and_survives_a_removed_alias(caplog):
    from trainkit.registry.store import ModelRef
    from trainkit.serve.models import Lifecycle, ModelHolder, ServedVersion, follow_alias

    aliases, polls = {"production": 1}, [0]

    def read_aliases(self, name):
        polls[0] += 1
        return dict(aliases)

    registry = type("FakeRegistry", (), {"aliases": read_aliases})()
    loads, events = [], []

    def load(name, version):
        loads.append(version)
        if version == 3:
            raise RuntimeError("its ONNX export failed")
        return ServedVersion(name, version, {}, SIG, session=None, threads=1)

    async def main():
        holder = ModelHolder(ModelRef("m", alias="production"), load("m", 1))
        life = Lifecycle(load, lambda v: events.append(("start", v.version)), lambda n, ok: events.append(("switch", ok)))
        task = asyncio.get_running_loop().create_task(follow_alias(holder, registry, 0.01, life))
        seen = []
        settled = {3: lambda: ("switch", False) in events, 2: lambda: holder.current.version == 2,
                   None: lambda: "the alias is gone" in caplog.text}
        for target, done in ((3, settled[3]), (2, settled[2]), (None, settled[None]), (2, lambda: True)):
            if target is None:        # unloadable, fine, alias removed, back
                aliases.pop("production")
            else:
                aliases["production"] = target
            start, deadline = polls[0], time.monotonic() + 10
            while not (done() and polls[0] >= start + 3):       # its effect, and 3 polls seeing the change
                assert time.monotonic() < deadline, f"alias -> {target}: not followed in 10 s"
                await asyncio.sleep(0.005)
            seen.append(holder.current.version)
        task.cancel()
        return seen

    assert asyncio.run(main()) == [1, 2, 2, 2]
    assert loads == [1, 3, 2]                   # 3 was tried once, not at every poll
    assert events == [("switch", False), ("start", 2), ("switch", True)]
    assert "cannot serve version 3, still serving m:1 (following m@production): its ONNX export failed" in caplog.text
    assert "m@production: the alias is gone; still serving m:2" in caplog.text


# ------------------------------------------------------------------ settings and CLI
def test_settings_report_every_bad_option_at_once():
    with pytest.raises(UsageError) as e:
        ServeSettings(refs=("m",), registry="r", cache_dir="c", port=70000, max_batch=0, poll_s=0)
    assert "--port: expected an integer in [0, 65535], got 70000" in str(e.value)
    assert "--max-batch: expected an integer >= 1, got 0" in str(e.value) and "--poll-s" in str(e.value)
    s = ServeSettings(refs=("a@prod",), registry="r", cache_dir="c", threads=2)
    assert s.max_body_bytes == 64 * 1024 * 1024 and json.loads(s.to_env())["refs"] == ["a@prod"]


def test_models_list_imports_no_serving_stack(tmp_path):
    code = ("import sys; from trainkit.cli.main import main; main(['--workspace', sys.argv[1], 'models', 'list']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnxruntime', 'starlette', 'uvicorn', "
            "'prometheus_client', 'PIL', 'tensorflow'}))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------ predict on a tiny ONNX classifier
def tiny_onnx(path) -> None:
    """image [batch, 4, 4] -> flatten -> MatMul [16, 3] -> softmax -> probabilities [batch, 3]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array((np.arange(48, dtype=np.float32).reshape(16, 3) % 7 - 3) / 50, "W")
    shape = numpy_helper.from_array(np.array([-1, 16], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["image", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=-1)], "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 4, 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])], [w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def tiny(tmp_path):
    """A registry with tiny:1 (a valid ONNX classifier) and the expected outputs for some inputs."""
    import onnxruntime as ort

    tiny_onnx(tmp_path / "model.onnx")
    (tmp_path / "model.keras").write_bytes(b"not used")
    reg = Registry(str(tmp_path / "registry"))
    reg.register("tiny", {"model.onnx": tmp_path / "model.onnx", "model.keras": tmp_path / "model.keras"},
                 {"signature": SIGNATURE, "task": "classification", "onnx": {"status": "ok", "path": "model.onnx"},
                  "resource_configuration": {"cpu": 1, "memory_gb": 0.5, "gpu": 0}})
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"image": x})[0]
    return reg, x, want, tmp_path


def predict_cli(reg: Registry, *args: str):
    return run_cli(["models", "--registry", reg.url, "predict", "tiny:1", *args, "--cache-dir", reg.url + "-cache"])


def read_rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_predict_npy_csv_and_images_agree_with_onnxruntime(tiny):
    from PIL import Image

    reg, x, want, tmp = tiny
    np.save(tmp / "x.npy", x.reshape(5, 16))                        # flat rows are accepted too
    assert predict_cli(reg, "--input", str(tmp / "x.npy"), "--output", str(tmp / "a.csv")).returncode == 0
    rows = read_rows(tmp / "a.csv")
    assert rows[0] == ["id", "predicted_class", "prob_0", "prob_1", "prob_2"] and len(rows) == 6
    np.testing.assert_allclose(np.array([r[2:] for r in rows[1:]], float), want, atol=1e-7)
    assert [int(r[1]) for r in rows[1:]] == list(want.argmax(1))

    with open(tmp / "x.csv", "w") as f:
        f.write(",".join(["id"] + [f"p{i}" for i in range(16)]) + "\n")
        f.writelines(f"s{i}," + ",".join(str(int(v)) for v in row) + "\n" for i, row in enumerate(x.reshape(5, 16)))
    out = predict_cli(reg, "--input", str(tmp / "x.csv"), "--batch", "2")           # CSV on stdout
    assert out.returncode == 0, out.stderr
    assert [r[0] for r in csv.reader(out.stdout.splitlines())][1:] == [f"s{i}" for i in range(5)]

    (tmp / "imgs").mkdir()
    for i, im in enumerate(x.astype(np.uint8)):
        Image.fromarray(im).save(tmp / "imgs" / f"{i}.png")
    assert predict_cli(reg, "--input", str(tmp / "imgs"), "--output", str(tmp / "c.npy")).returncode == 0
    np.testing.assert_array_equal(np.load(tmp / "c.npy"), want)


def test_predict_errors_name_the_file_and_what_was_expected(tiny):
    reg, x, _, tmp = tiny
    np.save(tmp / "bad.npy", x.reshape(5, 2, 8))
    bad = predict_cli(reg, "--input", str(tmp / "bad.npy"))
    assert bad.returncode == 3
    assert f"{tmp / 'bad.npy'}: expected an array of shape [N, 4, 4] or [N, 16]" in bad.stderr
    assert "got shape [5, 2, 8]" in bad.stderr
    (tmp / "few.csv").write_text("a,b,c\n1,2,3\n")
    few = predict_cli(reg, "--input", str(tmp / "few.csv"))
    assert few.returncode == 3 and "expected 16 feature columns" in few.stderr and "got 3 (header: a, b, c)" in few.stderr
    (tmp / "text.csv").write_text(",".join(f"c{i}" for i in range(16)) + "\n" + ",".join(["1"] * 15 + ["x"]) + "\n")
    text = predict_cli(reg, "--input", str(tmp / "text.csv"))
    assert text.returncode == 3 and "expected numbers in every feature column" in text.stderr
    nan = x.copy()
    nan[0, 0, 0] = np.nan
    np.save(tmp / "nan.npy", nan)
    assert "got 1 NaN or infinite value(s)" in predict_cli(reg, "--input", str(tmp / "nan.npy")).stderr
    ext = predict_cli(reg, "--input", str(tmp / "bad.npy"), "--output", str(tmp / "out.txt"))
    assert ext.returncode == 2 and "--output: expected a file ending in .csv or .npy" in ext.stderr
    (tmp / "empty").mkdir()
    empty = predict_cli(reg, "--input", str(tmp / "empty"))
    assert empty.returncode == 3 and "expected PNG or JPEG files in the folder, got none" in empty.stderr
    (tmp / "bomb").mkdir()                         # issue 23 item 7: Pillow's bomb error was a traceback
    (tmp / "bomb" / "0.png").write_bytes(png_header(12000, 12000))
    bomb = predict_cli(reg, "--input", str(tmp / "bomb"))
    assert bomb.returncode == 3 and "Traceback" not in bomb.stderr, bomb.stderr
    assert "0.png: expected an image of at most 25000000 pixels, got 12000x12000" in bomb.stderr


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (its pixel data is missing)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_image_loader_converts_and_resizes(tmp_path):
    from PIL import Image

    from trainkit.serve.predict import image_loader

    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "a.png")
    gray = image_loader((4, 4))(tmp_path / "a.png")
    rgb = image_loader((4, 4, 3))(tmp_path / "a.png")
    assert gray.shape == (4, 4) and rgb.shape == (4, 4, 3) and rgb[0, 0].tolist() == [10, 20, 30]
    (tmp_path / "b.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="b.png: expected a readable PNG or JPEG image"):
        image_loader((4, 4))(tmp_path / "b.png")


def test_serve_refuses_what_it_cannot_serve_before_listening(tiny):
    reg, _, _, tmp = tiny

    def serve(*args: str):
        return run_cli(["models", "--registry", reg.url, "serve", *args, "--cache-dir", str(tmp / "cache")])

    unknown = serve("nope@production")
    assert unknown.returncode == 4 and "model 'nope': no registered versions" in unknown.stderr
    no_alias = serve("tiny@production")
    assert no_alias.returncode == 4 and "no alias 'production' (aliases: none)" in no_alias.stderr
    twice = serve("tiny:1", "tiny")
    assert twice.returncode == 2 and "expected one reference per model name" in twice.stderr
    bad = serve("tiny", "--max-batch", "0", "--port", "-1")
    assert bad.returncode == 2 and "--max-batch: expected an integer >= 1, got 0" in bad.stderr and "--port" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = serve("tiny", "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 2 and "expected an address to listen on, got 127.0.0.1:" in busy.stderr
    reg.update("tiny", 1, {"onnx": {"status": "failed", "reason": "parity check failed"}})
    failed = serve("tiny:1")
    assert failed.returncode == 5 and "expected an ONNX export with status 'ok', got 'failed' (parity check failed)" in failed.stderr


def test_binding_beyond_loopback_warns_that_the_api_has_no_authentication(caplog):
    import logging

    from trainkit.serve.server import warn_if_exposed

    with caplog.at_level(logging.WARNING, logger="trainkit.serve"):
        logging.getLogger("trainkit.serve").propagate = True
        try:
            warn_if_exposed("127.0.0.1")
            warn_if_exposed("::1")
            assert not caplog.records
            warn_if_exposed("0.0.0.0")
        finally:
            logging.getLogger("trainkit.serve").propagate = False
    assert "listening on 0.0.0.0: the inference API has no authentication" in caplog.text


def test_the_runtime_is_onnx_when_its_export_is_ok_else_the_saved_model_and_a_forced_one_says_what_is_missing():
    from trainkit.errors import ExportError, NotFoundError
    from trainkit.serve.runtimes import choose

    both = {"model.onnx": {}, "saved_model/saved_model.pb": {}, "model.keras": {}}

    def entry(status, manifest):
        return {"name": "m", "version": 2, "onnx": {"status": status, "reason": "Erfc unsupported"}, "manifest": manifest}

    assert choose(entry("ok", both), "auto").platform == "onnxruntime_onnx"
    assert choose(entry("ok", both), "tensorflow").platform == "tensorflow_savedmodel"
    sm_only = {k: v for k, v in both.items() if k != "model.onnx"}
    assert choose(entry("disabled", sm_only), "auto").name == "tensorflow"
    assert choose(entry("failed", both), "auto").name == "tensorflow"       # a failed parity check: not served as ONNX
    with pytest.raises(NotFoundError, match=r"m:2: expected a model.onnx artifact, got none .*--runtime tensorflow"):
        choose(entry("disabled", sm_only), "onnx")
    with pytest.raises(ExportError, match=r"got 'failed' \(Erfc unsupported\)"):
        choose(entry("failed", both), "onnx")
    with pytest.raises(NotFoundError, match=r"m:2: expected a model.onnx artifact, got none \(onnx status 'disabled'\)"
                                            r".*; and no saved_model artifact .* \(artifacts: model.keras\)"):
        choose(entry("disabled", {"model.keras": {}}), "auto")
    with pytest.raises(ExportError, match=r"got 'failed'.*; and no saved_model artifact"):
        choose(entry("failed", {"model.onnx": {}}), "auto")
    with pytest.raises(NotFoundError, match=r"expected a saved_model artifact for --runtime tensorflow, got none"):
        choose(entry("ok", {"model.onnx": {}}), "tensorflow")
    assert model_metadata("m", 2, SIG, "tensorflow_savedmodel")["platform"] == "tensorflow_savedmodel"
    with pytest.raises(UsageError, match=r"--runtime: expected one of auto, onnx, tensorflow, got 'torch'"):
        ServeSettings(refs=("m",), registry="r", cache_dir="c", runtime="torch")

