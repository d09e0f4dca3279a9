"""`trainkit models serve` and `models predict` for real: two trained smoke models, real server
processes on 127.0.0.1, the real Triton/KServe client (tritonclient[http]) and 64 real
Fashion-MNIST test images."""
from __future__ import annotations

import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit, wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]

MODEL = "served"


@dataclass
class Models:
    env: dict
    x: np.ndarray                        # 64 real test images, float32 [64, 28, 28]
    want: dict = field(default_factory=dict)   # version -> in-process onnxruntime probabilities
    onnx: dict = field(default_factory=dict)   # version -> model.onnx path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Models:
    """served:1 and served:2 (two smoke trainings, different seeds); served@production -> 1."""
    import onnxruntime as ort

    from trainkit.data.idx import read_idx

    env = {"TRAINKIT_WORKSPACE": str(tmp_path_factory.mktemp("serve") / "ws")}
    for seed in (0, 1):
        proc = run_trainkit(["+debug=smoke", f"run.experiment={MODEL}", "run.resume=never", f"trainer.seed={seed}"], env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert run_cli(["models", "alias", f"{MODEL}:1", "production"], env).returncode == 0
    x = read_idx(FASHION / "t10k-images-idx3-ubyte.gz", "images")[:64].astype(np.float32)
    m = Models(env, x)
    for v in (1, 2):
        entry = json.loads(run_cli(["models", "show", f"{MODEL}:{v}", "--json"], env).stdout)
        m.onnx[v] = Path(entry["path"]) / "artifacts" / "model.onnx"
        m.want[v] = ort.InferenceSession(str(m.onnx[v]), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    assert not np.allclose(m.want[1], m.want[2], atol=1e-3)   # the versions are told apart by their outputs
    return m


class Server:
    """`python -m trainkit.cli models serve ...` on a free port, its log in a file."""

    def __init__(self, args: list[str], env: dict, log: Path, files: int | None = None):
        self.log = log

        def limit_files():   # start with a low soft open-file limit (the server raises it)
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.proc = subprocess.Popen([sys.executable, "-m", "trainkit.cli", "models", "serve", *args, "--port", "0"],
                                     stdout=subprocess.DEVNULL, stderr=open(log, "w"), cwd=ROOT,
                                     env={**os.environ, **env}, preexec_fn=limit_files if files else None)
        self.port = self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"server exited with {self.proc.returncode}:\n{self.log.read_text()}"
            m = re.search(r"on http://127\.0\.0\.1:(\d+) ", self.log.read_text())
            if m:
                try:
                    if request(int(m.group(1)), "GET", "/v2/health/ready")[0] == 200:
                        return int(m.group(1))
                except OSError:
                    pass
            time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def metrics(self) -> str:
        return request(self.port, "GET", "/metrics")[2].decode()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, dict, bytes]:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def binary_infer(x: np.ndarray) -> tuple[bytes, dict]:
    """A v2 request with the image as binary tensor data and a binary output (tritonclient's defaults)."""
    header = json.dumps({"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
    return header + x.astype("<f4").tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def decode(headers: dict, body: bytes) -> tuple[dict, np.ndarray]:
    n = int(headers["inference-header-content-length"])
    doc = json.loads(body[:n])
    return doc, np.frombuffer(body[n:], "<f4").reshape(doc["outputs"][0]["shape"])


def metric(text: str, name: str, **labels) -> float:
    """One sample of the Prometheus text (0 when absent)."""
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}(?:{{(.*)}})? (\S+)", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    """served:1, pinned; a 1 MB body limit for the 413 test."""
    s = Server([f"{MODEL}:1", "--max-body-mb", "1"], models.env, tmp_path_factory.mktemp("log") / "server.log")
    yield s
    assert s.stop() == 0, s.log.read_text()


# ------------------------------------------------------------------ protocol, with the real client
def test_tritonclient_reads_metadata_and_infers_64_real_images(server, models):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    assert client.get_model_metadata(MODEL) == {
        "name": MODEL, "versions": ["1"], "platform": "onnxruntime_onnx",
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]}
    for binary in (True, False):     # the binary tensor data extension, then plain JSON tensors
        image = httpclient.InferInput("image", [64, 28, 28], "FP32")
        image.set_data_from_numpy(models.x, binary_data=binary)
        result = client.infer(MODEL, [image], model_version="1" if binary else "", request_id=f"req-{binary}",
                              outputs=[httpclient.InferRequestedOutput("probabilities", binary_data=binary)])
        got = result.as_numpy("probabilities")
        assert got.shape == (64, 10) and got.dtype == np.float32
        np.testing.assert_allclose(got, models.want[1], rtol=0, atol=1e-6)
        assert result.get_response()["model_version"] == "1" and result.get_response()["id"] == f"req-{binary}"


def test_a_version_without_onnx_is_served_and_scored_by_its_saved_model_with_tensorflow(models, tmp_path):
    """Issue 24 item 3: export.onnx.enabled=false (or a failed export) leaves a SavedModel only;
    `--runtime auto` serves it with TensorFlow behind the same endpoints; `--runtime onnx` refuses."""
    import tritonclient.http as httpclient

    env = models.env       # trained like served:1 (seed 0, one process), so its outputs must match
    proc = run_trainkit(["+debug=smoke", "run.experiment=tfonly", "run.resume=never", "trainer.seed=0",
                         "export.onnx.enabled=false"], env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    entry = json.loads(run_cli(["models", "show", "tfonly", "--json"], env).stdout)
    assert entry["onnx"]["status"] == "disabled" and "model.onnx" not in entry["manifest"]
    np.save(tmp_path / "x.npy", models.x)
    refused = run_cli(["models", "predict", "tfonly", "--input", str(tmp_path / "x.npy"), "--runtime", "onnx"], env)
    assert refused.returncode != 0 and "tfonly:1: expected a model.onnx artifact, got none" in refused.stderr
    assert "--runtime tensorflow" in refused.stderr and "Traceback" not in refused.stderr
    scored = run_cli(["models", "predict", "tfonly", "--input", str(tmp_path / "x.npy"),
                      "--output", str(tmp_path / "y.npy")], env)
    assert scored.returncode == 0 and "with tfonly:1 (tensorflow)" in scored.stderr, scored.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), models.want[1], rtol=0, atol=1e-5)

    srv = Server(["tfonly", f"{MODEL}:1"], env, tmp_path / "server.log")
    try:
        assert "tfonly:1 [tensorflow, " in srv.log.read_text() and f"{MODEL}:1 [onnx, " in srv.log.read_text()
        client = httpclient.InferenceServerClient(f"127.0.0.1:{srv.port}")
        assert client.get_model_metadata("tfonly")["platform"] == "tensorflow_savedmodel"
        assert client.get_model_metadata(MODEL)["platform"] == "onnxruntime_onnx"
        image = httpclient.InferInput("image", [64, 28, 28], "FP32")
        image.set_data_from_numpy(models.x, binary_data=True)
        got = client.infer("tfonly", [image]).as_numpy("probabilities")
        np.testing.assert_allclose(got, models.want[1], rtol=0, atol=1e-5)
        bad = request(srv.port, "POST", "/v2/models/tfonly/infer", json.dumps(
            {"inputs": [{"name": "image", "shape": [1, 28, 27], "datatype": "FP32", "data": [0.0] * 756}]}).encode())
        assert bad[0] == 400 and b"image" in bad[2], bad                # the same request checks as ONNX
        assert metric(srv.metrics(), "trainkit_serve_requests_total", model="tfonly", status="200") == 1
    finally:
        assert srv.stop() == 0, srv.log.read_text()


def bad_requests(x: np.ndarray) -> list[tuple[str, str, bytes, dict, int, str]]:
    """(method, path, body, headers, expected status, words the error must contain)."""
    def tensor(**over):
        t = {"name": "image", "shape": [1, 28, 28], "datatype": "FP32", "data": x[0].ravel().tolist(), **over}
        return json.dumps({"inputs": [t]}).encode()

    nan = x[:1].copy()
    nan[0, 5, 5] = np.nan
    infer = f"/v2/models/{MODEL}/infer"
    return [
        ("POST", "/v2/models/nope/infer", tensor(), {}, 404, "model 'nope': not served (serving: served)"),
        ("GET", "/v2/models/nope", b"", {}, 404, "model 'nope': not served"),
        ("POST", f"/v2/models/{MODEL}/versions/7/infer", tensor(), {}, 404, "version '7' is not served (serving version 1"),
        ("POST", infer, tensor(name="pixels"), {}, 400, "input 'pixels': unknown input (the model's inputs: 'image')"),
        ("POST", infer, tensor(datatype="INT64"), {}, 400, "input 'image': datatype: expected FP32, got 'INT64'"),
        ("POST", infer, tensor(shape=[1, 784]), {}, 400, "input 'image': shape: expected [-1, 28, 28] (-1: any size), got [1, 784]"),
        ("POST", infer, tensor(data=[0.5] * 700), {}, 400, "input 'image': data: expected 784 values for shape [1, 28, 28], got 700"),
        ("POST", infer, b'{"inputs": [', {}, 400, "malformed JSON in the request body"),
        ("POST", infer, *binary_infer(nan), 400, "input 'image': expected finite numbers, got 1 NaN or infinite value(s)"),
        ("POST", infer, b"{" + b" " * (1 << 20) + b"}", {}, 413, "request body: expected at most 1048576 bytes"),
        ("GET", infer, b"", {}, 405, "method GET is not allowed"),
        ("POST", infer, tensor(), {"Content-Encoding": "gzip"}, 415, "Content-Encoding: expected identity"),
    ]


def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving(server, models):
    before = server.metrics()
    for method, path, body, headers, status, words in bad_requests(models.x):
        got, _, raw = request(server.port, method, path, body or None, headers)
        assert got == status, (path, words, raw[:300])
        assert words in json.loads(raw)["error"], (words, raw[:300])
    # A body far over the limit is refused from its Content-Length alone, before it is sent.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\n{{".encode())
        answer = b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace")  # until the server closes
    assert answer.startswith("HTTP/1.1 413") and "connection: close" in answer
    assert "expected at most 1048576 bytes (--max-body-mb), got 500000000" in answer
    status, headers, body = request(server.port, "POST", f"/v2/models/{MODEL}/infer", *binary_infer(models.x[:3]))
    assert status == 200
    np.testing.assert_allclose(decode(headers, body)[1], models.want[1][:3], rtol=0, atol=1e-6)
    after = server.metrics()
    assert metric(after, "trainkit_serve_errors_total", model=MODEL, kind="bad_request") - \
        metric(before, "trainkit_serve_errors_total", model=MODEL, kind="bad_request") == 6
    assert metric(after, "trainkit_serve_requests_total", model="", status="404") >= 1
    assert metric(after, "trainkit_serve_model_version", model=MODEL) == 1


# ------------------------------------------------------------------ load: alias switch and SIGTERM
@dataclass
class Outcome:
    started: float
    ended: float
    status: int | str             # HTTP status, or the exception's name
    version: str | None = None
    ok_values: bool | None = None


def load_client(port: int, x: np.ndarray, want: dict, until: threading.Event, out: list, stop_on_error: bool) -> None:
    """One keep-alive client sending 1..4 images per request until told to stop (or its connection fails)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while not until.is_set():
        n = 1 + i % 4
        rows = slice(i % 60, i % 60 + n)
        started = time.monotonic()
        try:
            status, headers, body = request(port, "POST", f"/v2/models/{MODEL}/infer", *binary_infer(x[rows]), conn=conn)
        except (OSError, http.client.HTTPException) as e:
            out.append(Outcome(started, time.monotonic(), type(e).__name__))
            if stop_on_error:
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        o = Outcome(started, time.monotonic(), status)
        if status == 200:
            doc, probs = decode(headers, body)
            o.version = doc["model_version"]
            o.ok_values = bool(np.allclose(probs, want[int(o.version)][rows], rtol=0, atol=1e-6))
        out.append(o)
        if headers.get("connection") == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i += 1


def start_load(port: int, models: Models, clients: int, stop_on_error: bool = False):
    until, results = threading.Event(), [[] for _ in range(clients)]
    threads = [threading.Thread(target=load_client, args=(port, models.x, models.want, until, results[k], stop_on_error),
                                daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    return until, threads, results


def every_client_answered(results: list[list], n: int, since: list[int] | None = None) -> bool:
    """Each client has had `n` answers (more than `since` counts): the load really runs."""
    return all(len(r) >= n + (since[k] if since else 0) for k, r in enumerate(results))


def test_moving_the_alias_under_32_clients_fails_no_request_and_switches_within_5_s(models, tmp_path):
    srv = Server([f"{MODEL}@production"], models.env, tmp_path / "server.log")
    try:
        until, threads, results = start_load(srv.port, models, 32)
        wait_until(lambda: every_client_answered(results, 3), 60, "every client answered 3 requests")
        t_alias = time.monotonic()        # the window below includes the CLI's own start-up
        moved = run_cli(["models", "alias", f"{MODEL}:2", "production"], models.env)
        assert moved.returncode == 0, moved.stderr
        deadline = t_alias + 15
        while time.monotonic() < deadline and not all(r and r[-1].version == "2" for r in results):
            time.sleep(0.1)
        switched = [len(r) for r in results]      # then more answers from every client: no flapping back
        wait_until(lambda: every_client_answered(results, 3, switched), 60, "3 more answers per client")
        until.set()
        for t in threads:
            t.join(30)
        text = srv.metrics()
    finally:
        assert srv.stop() == 0, srv.log.read_text()
    done = [o for r in results for o in r]
    assert len(done) > 200 and [o for o in done if o.status != 200] == []        # zero failed requests
    assert all(o.ok_values for o in done)           # every answer equals its version's in-process output
    first_v2 = min(o.ended for o in done if o.version == "2")
    print(f"alias switch: {len(done)} requests from 32 clients, first version-2 answer "
          f"{first_v2 - t_alias:.2f} s after the alias moved")
    assert first_v2 - t_alias <= 5.0, f"switched after {first_v2 - t_alias:.1f} s"
    assert [o for o in done if o.started > first_v2 and o.version == "1"] == []   # atomic: no flapping back
    assert all(r[-1].version == "2" for r in results)
    assert metric(text, "trainkit_serve_model_version", model=MODEL) == 2
    assert metric(text, "trainkit_serve_alias_switches_total", model=MODEL, result="ok") == 1
    calls, requests = (metric(text, "trainkit_serve_batch_requests_count", model=MODEL),
                       metric(text, "trainkit_serve_batch_requests_sum", model=MODEL))
    assert requests == len(done) and calls < requests      # dynamic batching joined concurrent requests
    assert "switched from version 1 to 2" in srv.log.read_text()


def test_sigterm_under_load_answers_in_flight_requests_and_exits_0(models, tmp_path):
    srv = Server([f"{MODEL}:2", "--max-batch", "8"], models.env, tmp_path / "server.log")
    until, threads, results = start_load(srv.port, models, 16, stop_on_error=True)
    wait_until(lambda: every_client_answered(results, 3), 60, "every client answered 3 requests")
    t_term = time.monotonic()
    code = srv.stop(signal.SIGTERM, timeout=30)
    for t in threads:
        t.join(30)
    until.set()
    log = srv.log.read_text()
    assert code == 0, log
    done = [o for r in results for o in r]
    answered = [o for o in done if o.status == 200]
    in_flight = [o for o in answered if o.started < t_term < o.ended]
    print(f"SIGTERM: {len(answered)} answered, {len(in_flight)} in flight at the signal and answered, "
          f"{len(done) - len(answered)} refused connections afterwards")
    assert in_flight and all(o.ok_values for o in answered)
    # Nothing the server took in was lost: it answered exactly what the clients received, and the
    # only failures are connections refused after the listener closed.
    assert f"drained: answered {len(answered)} inference request(s), refused 0" in log
    assert {o.status for o in done} - {200} <= {"ConnectionRefusedError"}
    assert all(o.started > t_term for o in done if o.status != 200)


# ------------------------------------------------------------------ batch scoring and workers
def test_predict_scores_npy_and_png_folder_like_onnxruntime(models, tmp_path):
    from PIL import Image

    np.save(tmp_path / "x.npy", models.x.astype(np.uint8))
    (tmp_path / "png").mkdir()
    for i, image in enumerate(models.x.astype(np.uint8)):
        Image.fromarray(image).save(tmp_path / "png" / f"{i:02d}.png")
    for src, out in (("x.npy", "a.csv"), ("png", "b.csv")):
        proc = run_cli(["models", "predict", f"{MODEL}:1", "--input", str(tmp_path / src),
                        "--output", str(tmp_path / out), "--batch", "10"], models.env)
        assert proc.returncode == 0, proc.stderr
        rows = (tmp_path / out).read_text().splitlines()
        assert rows[0].startswith("id,predicted_class,prob_0,") and len(rows) == 65
        probs = np.array([r.split(",")[2:] for r in rows[1:]], float)
        np.testing.assert_allclose(probs, models.want[1], rtol=0, atol=1e-6)
        assert [int(r.split(",")[1]) for r in rows[1:]] == list(models.want[1].argmax(1))
    assert (tmp_path / "b.csv").read_text().splitlines()[1].startswith("00.png,")


def serving_pid(conn: http.client.HTTPConnection, candidates: list[int]) -> int | None:
    """Which of `candidates` holds the server side of this client connection (via /proc: the
    socket inode of the line whose remote port is the client's port, then whose fd points at it)."""
    port = conn.sock.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port:
            inodes.add(f"socket:[{fields[9]}]")
    for pid in candidates:
        try:
            if any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    return None


def children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]


def test_two_workers_serve_and_stop_cleanly(models, tmp_path):
    """Both worker processes answer (each request's connection is traced to the process that holds
    it), and their metrics are merged."""
    srv = Server([f"{MODEL}:1", "--workers", "2"], models.env, tmp_path / "server.log")
    try:
        workers, answered = children(srv.proc.pid), []
        for _ in range(40):     # new connections, until each process has answered some
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            status, headers, body = request(srv.port, "POST", f"/v2/models/{MODEL}/infer",
                                            *binary_infer(models.x[:2]), conn=conn)
            assert status == 200
            np.testing.assert_allclose(decode(headers, body)[1], models.want[1][:2], rtol=0, atol=1e-6)
            answered.append(serving_pid(conn, workers))
            conn.close()
            if len(set(answered) - {None}) == 2 and len(answered) >= 4:
                break
        assert len(set(answered) - {None}) == 2, (answered, workers)      # two processes, not one
        assert metric(srv.metrics(), "trainkit_serve_requests_total", model=MODEL, status="200") == len(answered)
    finally:
        assert srv.stop() == 0, srv.log.read_text()


# ------------------------------------------------------------------ hostile clients (issue 23 items 2, 3, 7)
def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the JSON parser processes), in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            todo += [int(c) for t in Path(f"/proc/{p}/task").iterdir()
                     for c in (t / "children").read_text().split()]
        except (OSError, AttributeError):
            pass
    return total / 1024


def parser_started(pid: int) -> float | None:
    """The server's memory (MB) once its JSON parser process runs and has settled (same RSS 0.2 s
    apart), else None."""
    children = [c for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    if not any(b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children):
        return None
    before = tree_rss_mb(pid)
    time.sleep(0.2)
    return before if abs(tree_rss_mb(pid) - before) < 1 else None


def small_client(port: int, x: np.ndarray, until: threading.Event, latencies: list, errors: list) -> None:
    """One image at a time over one keep-alive connection, as fast as answers come."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not until.is_set():
        started = time.perf_counter()
        status, _, answer = request(port, "POST", f"/v2/models/{MODEL}/infer", *binary_infer(x), conn=conn)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            errors.append((status, answer[:200]))


def test_large_json_requests_parse_off_the_loop_under_a_value_cap_while_a_small_client_keeps_p99_under_50_ms(
        models, tmp_path):
    """Issue 23 item 2: a 60 MB JSON body (15M values, under the 64 MB body limit) took the server
    from 92 to 916 MB and blocked every client for 8 s. Now it is refused (413) for its value
    count by a parser process, a 1000-image JSON request is parsed there and answered exactly,
    and a concurrent one-image client keeps its p99 under 50 ms."""
    srv = Server([f"{MODEL}:1"], models.env, tmp_path / "server.log")
    try:
        base = wait_until(lambda: parser_started(srv.proc.pid), 60, "the JSON parser process")
        header = b'{"inputs":[{"name":"image","shape":[19132,28,28],"datatype":"FP32","data":['
        bomb = header + b"0.5," * (19132 * 784 - 1) + b"0.5]}]}"
        assert 59e6 < len(bomb) < 64 * 2**20
        rows = np.tile(models.x, (16, 1, 1))[:1000]
        valid = json.dumps({"inputs": [{"name": "image", "shape": [1000, 28, 28], "datatype": "FP32",
                                        "data": rows.ravel().tolist()}]}).encode()
        until, latencies, errors, peak = threading.Event(), [], [], [base]
        client = threading.Thread(target=small_client, args=(srv.port, models.x[:1], until, latencies, errors))
        client.start()

        def sample():
            while not until.is_set():
                peak.append(tree_rss_mb(srv.proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        wait_until(lambda: len(latencies) >= 20, 30, "the small client's first 20 answers")
        during = len(latencies)
        outcomes = []
        for body in (bomb, valid, bomb, valid):
            status, headers, answer = request(srv.port, "POST", f"/v2/models/{MODEL}/infer", body,
                                              {"Content-Type": "application/json"})
            outcomes.append((status, answer))
        during = len(latencies) - during
        until.set()
        client.join(30)
        sampler.join(30)
        assert [status for status, _ in outcomes] == [413, 200, 413, 200], [o[1][:300] for o in outcomes]
        assert b"expected at most 4194304 values (--max-json-values), got up to 14999" in outcomes[0][1]
        probs = np.array(json.loads(outcomes[1][1])["outputs"][0]["data"], np.float32).reshape(1000, -1)
        np.testing.assert_allclose(probs, np.tile(models.want[1], (16, 1))[:1000], rtol=0, atol=1e-6)
        assert not errors, errors[:3]
        p99 = float(np.percentile(latencies, 99))
        print(f"small client: {len(latencies)} requests ({during} during the large ones), p99 {p99 * 1000:.1f} ms; "
              f"server RSS {base:.0f} MB -> peak {max(peak):.0f} MB")
        assert during >= 20 and p99 < 0.050
        assert max(peak) - base < 450, (base, max(peak))
    finally:
        assert srv.stop() == 0, srv.log.read_text()
    assert "Traceback" not in srv.log.read_text()


def open_socket(port: int, send: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    if send:
        s.sendall(send)
    return s


def closed_by_server(s: socket.socket) -> bytes:
    """What the server sent before closing (b"" for a plain close); fails if it never closes."""
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    return data


def test_500_idle_slow_and_stalled_connections_neither_starve_a_normal_client_nor_stay_open(models, tmp_path):
    """Issue 23 items 3 and 7: started with an open-file limit of 64 (60 idle connections used to
    make a normal client fail), the server raises its limit, serves a normal client while 400
    silent connections, 50 half-sent heads and 50 stalled bodies are open, closes the first two
    after --header-timeout-s and answers the stalled bodies 408 after --body-timeout-s; a client
    vanishing mid-upload is a quiet close (no 500, no error metric); a stalled upload does not hold
    a SIGTERM for the drain timeout."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))    # this test's own 500 sockets
    srv = Server([f"{MODEL}:1", "--header-timeout-s", "2", "--body-timeout-s", "2"], models.env,
                 tmp_path / "server.log", files=64)
    path = f"/v2/models/{MODEL}/infer".encode()
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    try:
        silent = [open_socket(srv.port) for _ in range(400)]
        partial = [open_socket(srv.port, head) for _ in range(50)]
        stalled = [open_socket(srv.port, head + b"Content-Length: 4096\r\n\r\n" + b'{"inputs": [') for _ in range(50)]
        opened = time.monotonic()
        for i in range(10):     # a normal client, a new connection each time, served meanwhile
            status, headers, answer = request(srv.port, "POST", f"/v2/models/{MODEL}/infer", *binary_infer(models.x[:2]))
            assert status == 200, (i, answer[:300])
            np.testing.assert_allclose(decode(headers, answer)[1], models.want[1][:2], rtol=0, atol=1e-6)
        assert all(closed_by_server(s) == b"" for s in silent + partial)
        answers = [closed_by_server(s) for s in stalled]
        took = time.monotonic() - opened
        assert all(a.startswith(b"HTTP/1.1 408 ") and b"(--body-timeout-s), got none after" in a for a in answers), \
            answers[0][:300]
        assert took < 15, took
        for _ in range(5):      # vanishing mid-upload
            open_socket(srv.port, head + b"Content-Length: 4096\r\n\r\n" + b'{"inputs": [').close()
        time.sleep(0.5)
        text = srv.metrics()
        assert metric(text, "trainkit_serve_requests_total", model=MODEL, status="408") == 50
        assert metric(text, "trainkit_serve_requests_total", model=MODEL, status="500") == 0
        assert metric(text, "trainkit_serve_requests_total", model=MODEL, status="400") == 0
        upload = open_socket(srv.port, head + b"Content-Length: 4096\r\n\r\n" + b'{"inputs": [')
        wait_until(lambda: metric(srv.metrics(), "trainkit_serve_inflight_requests") == 1, 10, "the upload in the app")
        signalled = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert closed_by_server(upload).startswith(b"HTTP/1.1 503 ")
        assert srv.proc.wait(20) == 0
        print(f"SIGTERM with a stalled upload open: exited in {time.monotonic() - signalled:.1f} s "
              f"(drain timeout 30 s)")
        assert time.monotonic() - signalled < 10
    finally:
        srv.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    log = srv.log.read_text()
    assert "Traceback" not in log and "failed" not in log, log[-2000:]


def answers(port: int, x: np.ndarray) -> bool:
    try:
        return request(port, "POST", f"/v2/models/{MODEL}/infer", *binary_infer(x))[0] == 200
    except (ConnectionError, http.client.HTTPException):   # closed: still 20 open for the server
        return False


def test_connections_over_the_limit_are_closed_at_once_and_the_rest_keep_working(models, tmp_path):
    """Issue 23 item 3: --max-connections is a hard cap on open connections."""
    srv = Server([f"{MODEL}:1", "--max-connections", "20"], models.env, tmp_path / "server.log")
    try:
        held = [open_socket(srv.port) for _ in range(20)]
        extra = open_socket(srv.port)             # accepted after the 20 (the backlog is first come, first served)
        extra.settimeout(3)
        assert closed_by_server(extra) == b""
        for s in held[:5]:
            s.close()
        wait_until(lambda: answers(srv.port, models.x[:1]), 10, "a request answered once 5 connections closed")
        assert "refusing connections: 20 open (--max-connections 20)" in srv.log.read_text()
    finally:
        assert srv.stop() == 0, srv.log.read_text()
