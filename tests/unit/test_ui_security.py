"""The dashboard against hostile input, on run records written here: Host and Origin checks (DNS
rebinding, cross-site requests), the content security policy, markup in records, the `like`
matcher's time, streamed history in bounded memory, the live log stream (forged events, one run
lookup, a cap, long lines) and downloads that cannot be redirected through a link. Raw requests go
to a real uvicorn server (an HTTP client would normalise `..` and set its own Host)."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .test_api import make_runs


def app_for(ws: Path, **kw):
    from trainkit.records.workspace import WorkspacePaths
    from trainkit.registry.store import Registry
    from trainkit.ui.app import create_app

    return create_app(WorkspacePaths.at(str(ws)), Registry(str(ws / "models")), **kw)


@pytest.fixture
def ws(tmp_path):
    made = make_runs(tmp_path / "ws", n=6)
    return tmp_path / "ws", made


@pytest.fixture
def client(ws):
    from starlette.testclient import TestClient

    return TestClient(app_for(ws[0]), base_url="http://127.0.0.1:8265"), ws[1], ws[0]


@contextlib.contextmanager
def served(app):
    """The app on a real uvicorn server on 127.0.0.1 (a free port), in a thread; yields the port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def raw_get(port: int, path: str, host: str | None = None, headers: dict | None = None,
            method: str = "GET") -> tuple[int, dict, str]:
    """One request sent exactly as written (no normalisation of the path, our own Host)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders()
    res = conn.getresponse()
    body = res.read().decode(errors="replace")
    conn.close()
    return res.status, {k.lower(): v for k, v in res.getheaders()}, body


def run_dir(ws: Path, run_id: str) -> Path:
    return next(ws.glob(f"experiments/*/runs/{run_id}"))


# ----------------------------------------------------------------------------- M1: Host and Origin
def test_a_request_naming_another_host_is_refused(ws):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    root, made = ws
    with served(app_for(root)) as port:
        for path in ("/api/runs", "/runs", f"/api/runs/{made[0]['id']}/files/outputs/model.txt", "/static/app.js"):
            status, _, body = raw_get(port, path, host=f"evil.example:{port}")
            assert status == 400, (path, status)
            assert "evil.example" in body and "--allowed-host" in body and made[0]["id"] not in body
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", "LOCALHOST"):
            assert raw_get(port, "/api/runs", host=host)[0] == 200, host
        assert raw_get(port, "/api/runs", host=f"127.0.0.1.evil.example:{port}")[0] == 400
        assert raw_get(port, "/api/runs", host="")[0] == 400
    with served(app_for(root, allowed_hosts=["dash.example", "10.1.2.3"])) as port:
        assert raw_get(port, "/api/runs", host="dash.example")[0] == 200
        assert raw_get(port, "/api/runs", host=f"10.1.2.3:{port}")[0] == 200
        assert raw_get(port, "/api/runs", host="other.example")[0] == 400


def test_cross_site_requests_to_the_api_are_refused_pages_still_open_from_a_link(client):
    c, made, _ = client
    run = made[0]["id"]
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9999"}, {"Origin": "null"}):
        for url in ("/api/runs?filter=status%20%3D%20%22failed%22", f"/api/runs/{run}/history",
                    f"/api/runs/{run}/logs/stream", f"/api/runs/{run}/files/outputs/model.txt"):
            res = c.get(url, headers=headers)
            assert res.status_code == 403, (url, headers, res.status_code)
            assert "cross-site" in res.json()["error"]
    assert c.post("/runs", headers={"Origin": "http://evil.example"}).status_code == 403   # no writes from elsewhere
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                    {"Origin": "http://127.0.0.1:8265", "Sec-Fetch-Site": "same-origin"}):
        assert c.get("/api/runs", headers=headers).status_code == 200, headers
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert c.get(f"/runs/{run}", headers=link).status_code == 200                   # a link from elsewhere opens
    image = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    assert c.get("/runs?filter=id%20like%20%22%25%22", headers=image).status_code == 403   # <img src=...> does not
    assert c.get(f"/api/runs/{run}", headers=link).status_code == 403


# ----------------------------------------------------------------------------- M3: CSP, markup in records
class Markup(HTMLParser):
    """What a browser would run or load from a page: inline scripts, event handlers, styles, tags."""

    def __init__(self):
        super().__init__()
        self.tags, self.inline_scripts, self.handlers, self.styles, self.urls = [], [], [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        self.handlers += [k for k in a if k.startswith("on")]
        self.styles += [a["style"]] if "style" in a else []
        self.urls += [a[k] for k in ("src", "href") if a.get(k)]
        if tag == "style":
            self.styles.append("<style>")
        self._in_script = tag == "script" and not a.get("src") and a.get("type") != "application/json"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def markup(text: str) -> Markup:
    p = Markup()
    p.feed(text)
    return p


def make_sweep(ws: Path, made: list[dict], jobs: dict | None = None) -> str:
    sweep = ws / "sweeps" / "20261202-100000-demo"
    for i, r in enumerate(made[:4]):
        (sweep / "jobs" / str(i)).mkdir(parents=True)
        record = {"job": i, "run_id": r["id"], "state": r["status"], "overrides": [f"trainer.learning_rate={r['lr']}"]}
        (sweep / "jobs" / str(i) / "job.json").write_text(json.dumps({**record, **(jobs or {}).get(i, {})}))
    return sweep.name


def test_every_page_sends_a_content_security_policy_and_needs_no_inline_script(client):
    c, made, ws = client
    sweep = make_sweep(ws, made)
    pages = ["/", "/runs", f"/runs/{made[0]['id']}", f"/compare?ids={made[0]['id']},{made[1]['id']}", "/sweeps",
             f"/sweeps/{sweep}", "/models", "/jobs", "/no-such-page"]
    for url in pages + ["/api/runs", "/static/app.js"]:
        res = c.get(url)
        policy = res.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, (url, policy)
        assert res.headers.get("x-content-type-options") == "nosniff", url
    for url in pages:
        m = markup(c.get(url).text)
        assert not m.inline_scripts and not m.handlers and not m.styles, (url, m.inline_scripts, m.handlers, m.styles)
        assert not [u for u in m.urls if u.startswith(("data:", "javascript:", "http:", "https:"))], (url, m.urls)
    js = (Path(__import__("trainkit.ui", fromlist=["x"]).__file__).parent / "static" / "app.js").read_text()
    assert "innerHTML = " not in js.replace('innerHTML = ""', "")    # text goes in as text, never as markup


HOSTILE = "\"'><img src=x onerror=alert(1)>&amp;"


def register_entry(ws: Path, name: str, version, run_id: str, number: int = 1) -> Path:
    """A registry version as a tampered or foreign writer may leave it (entry.json written directly)."""
    d = ws / "models" / name / "versions" / str(number)
    d.mkdir(parents=True)
    (d / "entry.json").write_text(json.dumps({"name": name, "version": version, "run_id": run_id, "manifest": {},
                                              "metrics": {"test_accuracy": 0.9}, "onnx": {"status": "ok"}}))
    return d


def test_markup_in_a_registry_entry_is_never_rendered_and_a_bad_entry_is_skipped(client, caplog):
    c, made, ws = client
    run = made[0]["id"]
    register_entry(ws, "good", 1, run)
    register_entry(ws, "tampered", HOSTILE, run)
    for url in (f"/runs/{run}", "/models"):
        res = c.get(url)
        assert res.status_code == 200, (url, res.text[:300])
        m = markup(res.text)
        assert "img" not in m.tags and not m.handlers, url
        warning = re.search(r'<div class="warnings">.*?</div>', res.text, re.S)
        assert warning, f"{url}: no warning shown"
        rest = res.text.replace(warning.group(0), "")
        assert "good:1" in rest and "tampered" not in rest, url
        assert "tampered" in warning.group(0) and "version: expected an integer" in warning.group(0), url
        assert "&lt;img" in warning.group(0), url
    assert any("tampered" in r.getMessage() for r in caplog.records if r.name == "trainkit.ui")
    api = c.get("/api/models")
    assert [m["name"] for m in api.json()] == ["good"]
    assert "tampered" in json.loads(api.headers["x-trainkit-warnings"])[0]


# ----------------------------------------------------------------------------- M2: `like`
def reference_like(text: str, pattern: str) -> bool:
    """SQL LIKE by a regex (exponential on some patterns: short inputs only)."""
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, text, re.S) is not None


def test_like_agrees_with_sql_and_takes_linear_time():
    import random

    from trainkit.api.query import compare

    hostile = "%_%_%_%_%_%_%_%_#"
    t0 = time.perf_counter()
    assert compare("x" * 44, "like", hostile) is False     # a regex translation backtracks for seconds on this
    assert time.perf_counter() - t0 < 0.05
    t0 = time.perf_counter()
    assert compare("x" * 100_000, "like", hostile) is False and compare("x" * 100_000 + "#", "like", hostile)
    assert compare("a" * 100_000, "like", "%" + "a_" * 100 + "c%") is False       # each start place fails late
    assert time.perf_counter() - t0 < 0.5
    rng = random.Random(7)
    for _ in range(4000):
        text = "".join(rng.choice("ab\n") for _ in range(rng.randint(0, 9)))
        pattern = "".join(rng.choice("ab%_") for _ in range(rng.randint(0, 7)))
        assert compare(text, "like", pattern) == reference_like(text, pattern), (text, pattern)
    assert compare("/ws/experiments/e/runs/a_b", "like", "%a\\_b") is False      # no escapes: `\` is a character
    assert compare("équipe-1", "like", "é%_1") is True


def test_a_hostile_like_pattern_answers_at_once_and_an_overlong_one_is_refused(client):
    c, made, _ = client
    long = "%" * 300
    res = c.get("/api/runs", params={"filter": f'path like "{long}"'})
    assert res.status_code == 400 and "at most 256 characters" in res.json()["error"] and "got 300" in res.json()["error"]
    t0 = time.perf_counter()
    res = c.get("/api/runs", params={"filter": 'path like "%_%_%_%_%_%_%_%_%_%_#"'})
    assert res.status_code == 200 and res.json()["total"] == 0 and time.perf_counter() - t0 < 2
    res = c.get("/api/runs", params={"filter": f'id like "{made[0]["id"][:8]}%"'})
    assert res.json()["total"] == 6


# ----------------------------------------------------------------------------- M5: history
HISTORY_CHILD = """
import json, re, sys
from pathlib import Path
from trainkit.records.workspace import WorkspacePaths
from trainkit.ui import data
ws, run = WorkspacePaths.at(sys.argv[1]), sys.argv[2]
data.history(ws, sys.argv[3])                   # warm (imports) on a small run
kb = lambda key: int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
Path("/proc/self/clear_refs").write_text("5")   # the peak (VmHWM) starts again from here
base = kb("VmRSS")
body = json.dumps(data.history(ws, run), default=str)
print(json.dumps({"grown_kb": kb("VmHWM") - base, "body": body}))
"""


def write_big_history(path: Path, rows: int) -> dict:
    """A script's metrics.jsonl of `rows` steps (loss and accuracy, a spike and a dip placed inside)."""
    spike, dip = rows * 3 // 7, rows * 5 // 9
    with open(path, "w") as f:
        for start in range(0, rows, 10_000):
            f.write("".join(
                f'{{"step": {s}, "loss": {9.5 if s == spike else 1.0 / (1 + s * 1e-4):.6f}, '
                f'"accuracy": {-0.5 if s == dip else 0.5 + (s % 97) / 1000:.6f}, "time": {1_800_000_000 + s * 0.01:.2f}}}\n'
                for s in range(start, min(rows, start + 10_000))))
    return {"spike": spike, "dip": dip}


def test_history_of_a_large_metrics_file_is_downsampled_in_bounded_memory(ws):
    root, made = ws
    run = made[0]["id"]
    metrics = run_dir(root, run) / "metrics.jsonl"
    marks = write_big_history(metrics, 600_000)               # 45 MB: the whole file read at once would show
    size = metrics.stat().st_size
    proc = subprocess.run([sys.executable, "-c", HISTORY_CHILD, str(root), run, made[1]["id"]], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    body, grown_mb = out["body"], out["grown_kb"] / 1024
    print(f"history of {size >> 20} MB: {len(body)} bytes, +{grown_mb:.1f} MB")
    assert len(body) < 400_000, f"history of a {size >> 20} MB file: {len(body)} bytes of JSON"
    assert grown_mb < 20, f"reading a {size >> 20} MB history took {grown_mb:.0f} MB more"
    h = json.loads(body)
    loss, acc = h["series"]["loss"], h["series"]["accuracy"]
    assert len(loss["values"]) <= 1000 and len(acc["values"]) <= 1000
    assert loss["steps"][0] == 0 and loss["steps"][-1] == 599_999 and h["offset"] == size
    assert max(loss["values"]) == 9.5 and loss["steps"][loss["values"].index(9.5)] == marks["spike"]   # peaks kept
    assert min(acc["values"]) == -0.5 and acc["steps"][acc["values"].index(-0.5)] == marks["dip"]
    assert loss["time"][0] == 0.0 and loss["steps"] == sorted(loss["steps"])


def test_history_is_served_in_increments_by_byte_offset(client):
    c, made, ws = client
    run = made[0]["id"]
    metrics = run_dir(ws, run) / "metrics.jsonl"
    h = c.get(f"/api/runs/{run}/history").json()
    assert h["x"] == "epoch" and h["series"]["loss"]["steps"] == [1, 2, 3] and h["offset"] == metrics.stat().st_size
    with open(metrics, "a") as f:
        f.write(json.dumps({"epoch": 4, "loss": 0.2, "accuracy": 0.9, "epoch_time_s": 2.0}) + "\n")
        f.write('{"epoch": 5, "loss": 0.1')                      # still being written
    more = c.get(f"/api/runs/{run}/history", params={"since": h["offset"], "t": h["elapsed"]}).json()
    assert more["series"]["loss"] == {"steps": [4], "time": [2.0], "values": [0.2]} and not more["reset"]
    assert more["offset"] == metrics.stat().st_size - len('{"epoch": 5, "loss": 0.1')
    with open(metrics, "a") as f:
        f.write(', "accuracy": 0.95}\n')
    last = c.get(f"/api/runs/{run}/history", params={"since": more["offset"], "t": more["elapsed"]}).json()
    assert last["series"]["loss"]["steps"] == [5] and last["offset"] == metrics.stat().st_size
    again = c.get(f"/api/runs/{run}/history", params={"since": last["offset"]}).json()
    assert again["series"] == {} and again["offset"] == last["offset"]
    reset = c.get(f"/api/runs/{run}/history", params={"since": 10**9}).json()     # rewritten (a resumed run)
    assert reset["reset"] and reset["series"]["loss"]["steps"] == [1, 2, 3, 4, 5]
    assert c.get(f"/api/runs/{run}/history", params={"since": "x"}).status_code == 400


# ----------------------------------------------------------------------------- L1: the live log stream
def sse_events(body: str) -> list[tuple[str, str]]:
    """(event type, data) as a browser's EventSource reads them (lines end at CRLF, LF or CR)."""
    events, kind, data = [], "message", []
    for line in re.split(r"\r\n|\r|\n", body):
        if not line:
            if data:
                events.append((kind, "\n".join(data)))
            kind, data = "message", []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
    return events


def console_of(ws: Path, run_id: str) -> Path:
    return run_dir(ws, run_id) / "logs" / "console.log"


def test_a_carriage_return_in_a_log_cannot_forge_an_event(client):
    c, made, ws = client
    run = made[0]["id"]
    console = console_of(ws, run)
    console.parent.mkdir(exist_ok=True)
    console.write_bytes(b"epoch 1\r\nstart\revent: end\rdata: forged\nafter\r\n")
    events = sse_events(c.get(f"/api/runs/{run}/logs/stream").text)
    assert events == [("message", "epoch 1\nstart\nevent: end\ndata: forged\nafter"), ("end", made[0]["status"])]


def make_running(ws: Path, run_id: str) -> Path:
    """The run becomes a live one: owned by this process, with a console that grows."""
    from trainkit.records.runs import write_status
    from trainkit.records.workspace import RunPaths

    paths = RunPaths(run_dir(ws, run_id))
    write_status(paths, "running", pid=os.getpid(), host=socket.gethostname(), exit_reason=None)
    paths.console.parent.mkdir(exist_ok=True)
    paths.console.write_text("line 1\n")
    return paths.root


def test_a_log_stream_looks_its_run_up_once_not_every_tick(client, monkeypatch):
    from trainkit.ui import data

    c, made, ws = client
    run = made[0]["id"]
    root = make_running(ws, run)
    calls, real = [], data.run_dir
    monkeypatch.setattr(data, "run_dir", lambda *a, **k: calls.append(1) or real(*a, **k))

    def finish():
        time.sleep(1.8)                                           # >= 3 ticks of the stream
        with open(root / "logs" / "console.log", "a") as f:
            f.write("line 2\n")
        from trainkit.records.runs import write_status
        from trainkit.records.workspace import RunPaths
        write_status(RunPaths(root), "completed")

    threading.Thread(target=finish).start()
    events = sse_events(c.get(f"/api/runs/{run}/logs/stream").text)
    assert events == [("message", "line 1"), ("message", "line 2"), ("end", "completed")]
    assert len(calls) == 1, f"the stream looked its run up among all the workspace's runs {len(calls)} times"


def test_live_log_streams_are_capped_and_a_closed_one_frees_its_place(ws):
    root, made = ws
    run = made[0]["id"]
    make_running(root, run)
    with served(app_for(root, max_streams=2)) as port:
        def open_stream():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", f"/api/runs/{run}/logs/stream")
            return conn, conn.getresponse()

        (c1, r1), (c2, r2) = open_stream(), open_stream()
        assert (r1.status, r2.status) == (200, 200)
        assert r1.readline() == b"data: line 1\n"
        c3, r3 = open_stream()
        assert r3.status == 503 and "2 live log streams" in json.loads(r3.read())["error"]
        c1.close()
        deadline = time.monotonic() + 10
        while True:
            c4, r4 = open_stream()
            if r4.status == 200 or time.monotonic() > deadline:
                break
            c4.close()
            time.sleep(0.2)
        assert r4.status == 200
        for conn in (c2, c3, c4):
            conn.close()


def test_a_long_line_without_a_newline_is_sent_in_parts_never_re_read_forever(client):
    c, made, ws = client
    run = made[0]["id"]
    make_running(ws, run)
    text = "x" + "é" * (3 << 20) + "\ntail\n"                  # 6 MB with no newline; chunks split an 'é'
    console_of(ws, run).write_text(text)
    got, offset = [], 0
    for _ in range(6):
        d = c.get(f"/api/runs/{run}/logs", params={"offset": offset}).json()
        got.append(d["text"])
        offset = d["offset"]
    assert offset == len(text.encode()) and "".join(got) == text


# ----------------------------------------------------------------------------- L4 and paths: downloads
def test_a_link_swapped_in_during_a_download_is_never_followed(ws, tmp_path):
    """A run's writer replaces a directory with a link to elsewhere, again and again, while files
    are opened for download: the file is read through no link, whatever the timing."""
    from starlette.testclient import TestClient

    from trainkit.errors import NotFoundError
    from trainkit.ui import files

    ws, made = ws
    run = made[0]["id"]
    rdir = run_dir(ws, run)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("TOPSECRET-CONTENT")
    real = rdir / "outputs" / "sub"
    real.mkdir()
    (real / "f.txt").write_text("public")
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            os.rename(real, rdir / "outputs" / "sub.real")
            os.symlink(outside, real)
            os.unlink(real)
            os.rename(rdir / "outputs" / "sub.real", real)

    def download() -> str:
        try:
            fd, st = files.open_in(rdir, "outputs/sub/f.txt", run)
        except NotFoundError as e:
            return "a link" if "is a link" in str(e) else "no such file"
        return b"".join(files.pieces(fd, st.st_size)).decode()

    seen: dict[str, int] = {}
    swapper = threading.Thread(target=swap)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)                     # the two threads take turns as often as they can
    swapper.start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            got = download()
            seen[got] = seen.get(got, 0) + 1
        c = TestClient(app_for(ws), base_url="http://127.0.0.1:8265")
        for _ in range(40):                             # the same through HTTP
            res = c.get(f"/api/runs/{run}/files/outputs/sub/f.txt")
            seen[f"HTTP {res.status_code}"] = seen.get(f"HTTP {res.status_code}", 0) + 1
            assert "TOPSECRET" not in res.text
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        swapper.join()
    assert "TOPSECRET-CONTENT" not in seen, seen
    assert seen.get("public", 0) > 10 and seen.get("a link", 0) > 10, f"the race was hardly run: {seen}"


def hostile_copy(value):
    """The same data with every string (not the keys) replaced by markup."""
    if isinstance(value, str):
        return HOSTILE
    if isinstance(value, dict):
        return {k: hostile_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile_copy(v) for v in value]
    return value


def test_every_page_renders_any_string_of_its_data_as_text(client):
    """Each page drawn from its own API's data with every string made markup: no tag comes out."""
    from trainkit.ui import pages

    c, made, ws = client
    run, sweep = made[0]["id"], make_sweep(ws, made)
    register_entry(ws, "good", 1, run)
    shown = [("/api/experiments", pages.experiments_page), ("/api/runs", pages.runs_page),
             (f"/api/runs/{run}", pages.run_page), (f"/api/compare?ids={run},{made[1]['id']}", pages.compare_page),
             ("/api/sweeps", pages.sweeps_page), (f"/api/sweeps/{sweep}", pages.sweep_page),
             ("/api/models", pages.models_page), ("/api/jobs", pages.jobs_page)]
    for url, render in shown:
        d = hostile_copy(c.get(url).json())
        if render is pages.run_page:
            d["lineage"]["models"][0]["version"] = HOSTILE          # a version is an int once checked; drawn escaped anyway
        m = markup(render(d, [HOSTILE]))
        assert "img" not in m.tags and not m.handlers, (url, [t for t in m.tags if t not in ("tr", "td", "a")][:40])
    m = markup(pages.error_page(400, HOSTILE))
    assert "img" not in m.tags
