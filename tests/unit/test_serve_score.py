"""`trainkit models serve --score`: real server processes on 127.0.0.1 running a real score.py in
its worker process (init() that raises, run() that raises, hangs, crashes, returns what JSON cannot
hold), bearer keys, request limits and the SIGTERM drain; the registry keeping files as registered.
No TensorFlow: the model is a JSON file of weights that score.py reads itself."""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trainkit.errors import UsageError
from trainkit.registry.files import materialize, model_path_in, run_files
from trainkit.registry.publish import register_files
from trainkit.registry.store import Registry
from trainkit.serve.settings import ServeSettings

from ..conftest import ROOT

WEIGHTS = {"w": [1.0, 2.0, 3.0], "b": 0.5}
SCORE = '''
import json, os, sys, time
from azureml.core.model import Model

def init():
    global W, B
    path = Model.get_model_path("lin")
    assert path == os.path.join(os.environ["AZUREML_MODEL_DIR"], "model"), path
    weights = json.load(open(os.path.join(path, "linear.json")))
    W, B = weights["w"], weights["b"]
    print("init: loaded", sorted(os.listdir(path)), flush=True)
    INIT

def run(raw_data):
    data = json.loads(raw_data)["data"]
    if data == "raise":
        raise ValueError("run was asked to fail")
    if data == "hang":
        time.sleep(120)
    if data == "crash":
        os._exit(7)
    if data == "set":
        return {1, 2}
    if data == "big":
        return "x" * 3_000_000
    if data == "slow":
        time.sleep(1.5)
        return "slow done"
    return [sum(w * x for w, x in zip(W, row)) + B for row in data]
'''


def expected(rows: list[list[float]]) -> list[float]:
    return [sum(w * x for w, x in zip(WEIGHTS["w"], row)) + WEIGHTS["b"] for row in rows]


@pytest.fixture
def ws(tmp_path) -> Path:
    """A workspace with lin:1 registered from the folder outputs/model (linear.json and a README)."""
    model = tmp_path / "outputs" / "model"
    model.mkdir(parents=True)
    (model / "linear.json").write_text(json.dumps(WEIGHTS))
    (model / "README.txt").write_text("weights of a linear model\n")
    entry = register_files(Registry(str(tmp_path / "ws" / "models")), "lin", model, tags={"kind": "linear"})
    assert entry["version"] == 1 and entry["onnx"]["status"] == "skipped"
    return tmp_path / "ws"


def score_file(tmp_path: Path, init: str = "pass") -> Path:
    path = tmp_path / "score.py"
    path.write_text(SCORE.replace("INIT", init))
    return path


class Served:
    """`trainkit models serve lin --score ...` on a free port, its log in a file."""

    def __init__(self, ws: Path, score: Path, *flags: str, refs=("lin",)):
        self.log = ws.parent / f"serve-{time.monotonic_ns()}.log"
        cmd = [sys.executable, "-m", "trainkit.cli", "--workspace", str(ws), "models", "serve", *refs,
               "--score", str(score), "--port", "0", *flags]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.url = self._wait()

    def _wait(self, timeout: float = 60) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = re.search(r" on (http://127\.0\.0\.1:\d+) ", self.text())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                return ""
            time.sleep(0.05)
        raise AssertionError(f"server did not start:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text()

    def post(self, body: bytes | str, path: str = "/score", key: str | None = None,
             headers: dict | None = None) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={**({"Authorization": f"Bearer {key}"} if key else {}),
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, path: str, key: str | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def served():
    started: list[Served] = []

    def start(*args, **kw) -> Served:
        started.append(Served(*args, **kw))
        return started[-1]

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def data(rows) -> str:
    return json.dumps({"data": rows})


def wait_inflight(s: Served, timeout: float = 20) -> None:
    """Until the server holds one request (under load a thread's request may take a while to arrive)."""
    deadline = time.monotonic() + timeout
    while "trainkit_serve_inflight_requests 1.0" not in s.get("/metrics")[1]:
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.05)


def worker_pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"score worker (\d+) started", log)]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


# ------------------------------------------------------------------ the contract
def test_run_answers_with_the_registered_files_where_azure_puts_them(ws, tmp_path, served):
    s = served(ws, score_file(tmp_path))
    rows = [[1, 2, 3], [0.5, 0, -1]]
    status, body = s.post(data(rows))
    assert status == 200 and json.loads(body) == expected(rows)
    assert "init: loaded ['README.txt', 'linear.json']" in s.text()
    assert s.get("/v2/health/ready") == (200, '{"ready": true}')
    metrics = s.get("/metrics")[1]
    assert 'trainkit_serve_requests_total{model="lin",status="200"} 1.0' in metrics
    assert s.post(data(rows), path="/v2/models/lin/infer")[0] == 404   # with --score: no v2 inference routes
    assert s.stop() == 0


def test_an_init_that_raises_stops_the_server_before_it_listens(ws, tmp_path, served):
    s = served(ws, score_file(tmp_path, init='raise RuntimeError("no GPU found")'))
    assert s.url == "" and s.proc.wait(timeout=30) != 0
    log = s.text()
    assert "init() raised: RuntimeError: no GPU found" in log
    assert 'score.py", line' in log                      # the user's traceback is in the log
    assert "serving lin" not in log


def test_run_failures_answer_500_or_503_and_the_server_keeps_serving(ws, tmp_path, served):
    s = served(ws, score_file(tmp_path), "--score-timeout-s", "2")
    assert s.post(data("raise")) == (500, '{"error": "run() raised: ValueError: run was asked to fail"}')
    status, body = s.post(data("set"))
    assert status == 500 and "run() returned a set that is not JSON-serialisable" in body
    first = worker_pids(s.text())[0]
    started = time.monotonic()
    status, body = s.post(data("hang"))
    assert status == 503 and "run() did not answer within 2 s (--score-timeout-s)" in body
    assert time.monotonic() - started < 10 and gone(first)   # the hung worker was killed
    assert s.post(data([[1, 1, 1]])) == (200, json.dumps(expected([[1, 1, 1]])))
    status, body = s.post(data("crash"))
    assert status == 500 and "the score worker ended while running run() (exit code 7)" in body
    assert s.post(data([[0, 0, 1]])) == (200, json.dumps(expected([[0, 0, 1]])))
    log = s.text()
    assert len(worker_pids(log)) == 3 and "ValueError: run was asked to fail" in log and 'line 17, in run' in log
    metrics = s.get("/metrics")[1]
    assert 'trainkit_serve_requests_total{model="lin",status="500"} 3.0' in metrics
    assert 'trainkit_serve_requests_total{model="lin",status="503"} 1.0' in metrics
    assert s.stop() == 0


def test_request_and_answer_limits(ws, tmp_path, served):
    s = served(ws, score_file(tmp_path), "--max-body-mb", "0.01", "--score-max-response-mb", "1")
    status, body = s.post(data([[1, 2, 3]] * 1000))                  # ~ 11 KB > 10 KB
    assert status == 413 and "expected at most 10485 bytes (--max-body-mb)" in body
    status, body = s.post(b'{"data": "\xff\xfe"}')
    assert status == 400 and "expected UTF-8 text" in body
    status, body = s.post(data("big"))
    assert status == 500 and "expected at most 1048576 (--score-max-response-mb)" in body
    assert s.post(data([[1, 2, 3]]))[0] == 200


def test_sigterm_drains_a_request_in_flight_and_stops_the_worker(ws, tmp_path, served):
    import threading

    s = served(ws, score_file(tmp_path))
    answers = []
    thread = threading.Thread(target=lambda: answers.append(s.post(data("slow"))))
    thread.start()
    wait_inflight(s)
    assert s.stop() == 0
    thread.join()
    assert answers == [(200, '"slow done"')]
    worker = worker_pids(s.text())[0]
    assert re.search(rf"score worker {worker} stopped \(exit code 0\)", s.text()) and gone(worker)


# ------------------------------------------------------------------ keys
def test_a_key_file_is_created_and_every_request_but_health_needs_a_key(ws, tmp_path, served):
    keys = tmp_path / "secrets" / "serving.key"
    s = served(ws, score_file(tmp_path), "--auth-key-file", str(keys))
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    primary, secondary = keys.read_text().split()
    assert len(primary) >= 32 and primary != secondary
    status, body = s.post(data([[1, 2, 3]]))
    assert status == 401 and "Authorization" in body
    assert s.post(data([[1, 2, 3]]), key=primary[:-1] + ("A" if primary[-1] != "A" else "B"))[0] == 401
    assert s.post(data([[1, 2, 3]]), headers={"Authorization": f"Basic {primary}"})[0] == 401
    assert s.post(data([[1, 2, 3]]), key=primary) == (200, json.dumps(expected([[1, 2, 3]])))
    assert s.post(data([[1, 2, 3]]), key=secondary)[0] == 200
    assert s.get("/v2/health/ready")[0] == 200 and s.get("/v2/health/live")[0] == 200
    assert s.get("/metrics")[0] == 401 and s.get("/metrics", key=primary)[0] == 200
    assert 'trainkit_serve_errors_total{kind="unauthorized",model=""} 4.0' in s.get("/metrics", key=primary)[1]
    s.stop()
    again = served(ws, score_file(tmp_path), "--auth-key-file", str(keys))    # the same keys next time
    assert again.post(data([[1, 2, 3]]), key=primary)[0] == 200 and keys.read_text().split() == [primary, secondary]


def test_an_unusable_key_file_is_refused_before_anything_starts(ws, tmp_path, served):
    keys = tmp_path / "short.key"
    keys.write_text("abc\n")
    s = served(ws, score_file(tmp_path), "--auth-key-file", str(keys))
    assert s.proc.wait(timeout=30) == 2 and s.url == ""
    assert "expected one or two keys" in s.text() and "score worker" not in s.text()


# ------------------------------------------------------------------ several models, settings
def test_several_models_share_one_model_dir_with_name_and_version_folders(ws, tmp_path, served):
    other = tmp_path / "other.json"
    other.write_text('{"scale": 10}')
    reg = Registry(str(ws / "models"))
    register_files(reg, "scale", other, tags={})
    score = tmp_path / "two.py"
    score.write_text(
        "import json, os\nfrom azureml.core.model import Model\n"
        "def init():\n    global S, L\n"
        "    S = json.load(open(Model.get_model_path('scale')))['scale']\n"
        "    L = json.load(open(os.path.join(Model.get_model_path('lin', version=1), 'linear.json')))['b']\n"
        "    assert sorted(os.listdir(os.environ['AZUREML_MODEL_DIR'])) == ['lin', 'scale']\n"
        "def run(raw):\n    return {'answer': S * json.loads(raw)['x'] + L,"
        " 'dirs': sorted(os.listdir(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'lin')))}\n")
    s = served(ws, score, refs=("lin:1", "scale"))
    assert s.post('{"x": 2}') == (200, json.dumps({"answer": 20.5, "dirs": ["1"]}))


def test_serve_settings_refuse_score_options_that_do_not_fit():
    with pytest.raises(UsageError) as e:
        ServeSettings(refs=("m",), registry="r", cache_dir="c", environment="tensorflow-2.21-cpu", pip=("x",))
    assert "--environment: expected together with --score" in str(e.value)
    with pytest.raises(UsageError) as e:
        ServeSettings(refs=("m",), registry="r", cache_dir="c", score="s.py", workers=2, score_timeout_s=0)
    assert "--workers: expected 1 with --score" in str(e.value) and "--score-timeout-s: expected a number > 0" in str(e.value)


def test_a_missing_score_file_is_named(ws, tmp_path, served):
    s = served(ws, tmp_path / "nope.py")
    assert s.proc.wait(timeout=30) == 2
    assert "--score: expected a Python file defining init() and run(raw_data)" in s.text()


# ------------------------------------------------------------------ files as registered
def test_files_are_registered_and_copied_as_they_were(ws, tmp_path):
    reg = Registry(str(ws / "models"))
    entry = reg.entry("lin:1")
    assert sorted(entry["manifest"]) == ["files/model/README.txt", "files/model/linear.json"]
    assert entry["files"] == {"name": "model", "format": None} and entry["tags"] == {"kind": "linear"}
    copy = materialize(reg, "lin", 1, tmp_path / "copy" / "lin" / "1")
    assert sorted(p.name for p in copy.iterdir()) == ["model"] and model_path_in(copy) == copy / "model"
    assert json.loads((copy / "model" / "linear.json").read_text()) == WEIGHTS
    (copy / "model" / "linear.json").write_text("{}")        # a changed copy is made again
    (copy / "model" / "extra").write_text("x")
    materialize(reg, "lin", 1, copy)
    assert json.loads((copy / "model" / "linear.json").read_text()) == WEIGHTS and not (copy / "model" / "extra").exists()


def test_a_runs_files_leave_out_what_trainkit_wrote_beside_them(tmp_path):
    model = tmp_path / "outputs" / "model"
    (model / "variables").mkdir(parents=True)
    for name in ("saved_model.pb", "variables/variables.index", "model.keras", "model.onnx", "saved_model/x"):
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_text(name)
    saved = {"path": "outputs/model", "format": "saved_model", "files": ["outputs/model"]}
    assert sorted(run_files(tmp_path, "outputs/model", saved)) == ["files/model/saved_model.pb", "files/model/variables"]
    own = {"path": "outputs/model", "format": "keras", "files": ["outputs/model/model.keras"]}
    assert "files/model/model.keras" in run_files(tmp_path, "outputs/model", own)
    elsewhere = tmp_path / "outputs" / "keras"
    elsewhere.mkdir()
    (elsewhere / "model.onnx").write_text("mine")
    assert sorted(run_files(tmp_path, "outputs/keras")) == ["files/keras/model.onnx"]


def test_score_worker_answers_without_a_process():
    from trainkit.serve import frames
    from trainkit.serve.score_worker import answer

    assert answer(lambda raw: {"echo": raw}, b'{"a": 1}', 100) == (frames.ANSWER, b'{"echo": "{\\"a\\": 1}"}')
    kind, payload = answer(lambda raw: 1 / 0, b"", 100)
    assert kind == frames.FAILED and json.loads(payload)["type"] == "ZeroDivisionError"
    kind, payload = answer(lambda raw: "x" * 200, b"", 100)
    assert kind == frames.FAILED and "returned 202 bytes of JSON, expected at most 100" in json.loads(payload)["message"]
    assert os.environ.get("AZUREML_MODEL_DIR") is None


def test_models_register_keeps_any_other_file_or_folder_as_it_is(tmp_path):
    from ..conftest import run_cli

    folder = tmp_path / "outputs" / "model"
    folder.mkdir(parents=True)
    (folder / "linear.json").write_text(json.dumps(WEIGHTS))
    env = {"TRAINKIT_WORKSPACE": str(tmp_path / "ws")}
    done = run_cli(["models", "register", "weights", str(folder), "--tag", "kind=linear"], env)
    assert done.returncode == 0, done.stderr
    assert "registered weights:1 -> " in done.stdout and "(files: model, onnx: skipped)" in done.stdout
    shown = run_cli(["models", "show", "weights"], env).stdout
    assert "files       files/model as registered (not a Keras model)" in shown
    missing = run_cli(["models", "register", "weights", str(tmp_path / "nope")], env)
    assert missing.returncode == 4 and "expected a file or a folder, got nothing there" in missing.stderr


def test_a_killed_server_leaves_no_score_worker_behind_even_one_busy_in_run(ws, tmp_path, served):
    import threading

    s = served(ws, score_file(tmp_path))
    worker = worker_pids(s.text())[0]
    def hang() -> None:
        try:
            s.post(data("hang"))
        except OSError:   # the server is killed while the request waits: the connection drops
            pass

    threading.Thread(target=hang, daemon=True).start()
    wait_inflight(s)
    assert not gone(worker)
    s.proc.kill()
    s.proc.wait()
    deadline = time.monotonic() + 10
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(worker)
