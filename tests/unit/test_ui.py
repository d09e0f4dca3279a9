"""The dashboard's HTTP side with Starlette's test client on run records written here: every page
and API endpoint, paging and filtering, file downloads that never leave a run, torn metric lines,
records that are not what trainkit writes, that nothing is written into the workspace, and the
address it listens on (a real `trainkit ui` process)."""
from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainkit.numfmt import number

from .test_api import make_runs
from .test_ui_security import markup, raw_get, register_entry, served, app_for

SLURM_RUN = "20261202-100100-5107a0"
FAKE_SQUEUE = """#!/bin/sh
echo "slurm_load_jobs error: Invalid job id specified" >&2
exit 1
"""


def add_slurm_run(ws: Path, bin_dir: Path, monkeypatch) -> Path:
    """An unfinished Slurm run whose job left the queue: reading its state with `write=True` would
    record it as failed (a fake `squeue` on PATH says the job id is unknown)."""
    from trainkit.records.runs import write_status
    from trainkit.records.workspace import RunPaths, WorkspacePaths

    paths = RunPaths(WorkspacePaths(ws).run_dir("fashion", SLURM_RUN))
    (paths.root / "logs").mkdir(parents=True)
    write_status(paths, "running", job={"backend": "slurm", "id": "4242"}, started=1_800_000_500, tags={})
    paths.console.write_text("epoch 1/3\n")
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(FAKE_SQUEUE)
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return paths.root


@pytest.fixture
def client(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    made = make_runs(tmp_path / "ws", n=20)
    add_slurm_run(tmp_path / "ws", tmp_path / "bin", monkeypatch)
    return TestClient(app_for(tmp_path / "ws"), base_url="http://127.0.0.1:8265"), made, tmp_path / "ws"


def tree(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def rows_of(page: str) -> dict[str, list[str]]:
    """The runs table as {run id: its cells' text}."""
    out = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = [re.sub(r"<[^>]+>", "", td).strip() for td in re.findall(r"<td>(.*?)</td>", tr, re.S)]
        if len(cells) > 1:
            out[cells[1]] = cells
    return out


def test_every_page_and_endpoint_answers_and_writes_nothing(client):
    c, made, ws = client
    before = tree(ws)
    run = made[0]["id"]
    for url in ["/", "/runs", f"/runs/{run}", "/sweeps", "/models", "/jobs", f"/compare?ids={run},{made[1]['id']}",
                "/api/experiments", "/api/runs", f"/api/runs/{run}", f"/api/runs/{run}/history",
                f"/api/runs/{run}/logs", "/api/sweeps", "/api/models", "/api/jobs", f"/api/compare?ids={run},{made[1]['id']}",
                "/static/app.js", "/static/vendor/uplot/uPlot.iife.min.js"]:
        res = c.get(url)
        assert res.status_code == 200, (url, res.text[:300])
    assert tree(ws) == before, "the dashboard wrote into the workspace"
    slurm = next(r for r in c.get("/api/runs").json()["rows"] if r["id"] == SLURM_RUN)
    assert slurm["status"] == "failed" and "ended without trainkit's driver reporting" in slurm["reason"]
    assert json.loads(next(ws.glob(f"experiments/*/runs/{SLURM_RUN}/status.json")).read_text())["state"] == "running"


def test_the_runs_table_is_server_rendered_with_its_metric_columns(client):
    c, made, ws = client
    final = {r["id"]: json.loads(next(ws.glob(f"experiments/*/runs/{r['id']}/status.json")).read_text())["final_metrics"]
             for r in made}
    cell = lambda run, m: number(final[run][m]) if m in final[run] else ""  # noqa: E731
    for params, columns in (({}, ["test_accuracy", "test_loss"]), ({"metrics": "test_loss"}, ["test_loss"])):
        page = c.get("/runs", params=params).text
        head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
        names = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th>(.*?)</th>", head)]
        assert names[:4] == ["", "run", "name", "status"] and names[-len(columns):] == columns, params
        rows = rows_of(page)
        assert set(rows) == {r["id"] for r in made} | {SLURM_RUN}          # every run, readable without JavaScript
        for r in made:
            assert rows[r["id"]][-len(columns):] == [cell(r["id"], m) for m in columns], (params, r["id"])
        assert any(rows[r["id"]][-1] for r in made), "no run has a metric: the check checks nothing"


def test_the_runs_table_has_names_the_parameters_that_differ_a_column_chooser_in_the_url_and_a_pager(client):
    c, made, ws = client
    page = c.get("/runs", params={"per_page": 5}).text
    head = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th>(.*?)</th>", re.search(r"<thead>(.*?)</thead>", page, re.S).group(1))]
    assert "trainer.learning_rate" in head and "run.experiment" not in head    # differs among the rows; bookkeeping does not show
    at = head.index("trainer.learning_rate")
    rows = rows_of(page)
    by_id = {r["id"]: r for r in made}
    shown = [i for i in rows if i in by_id]
    assert len(rows) == 5 and list(rows) == sorted(rows, reverse=True) and shown  # newest first
    for run_id in shown:
        assert rows[run_id][at] == str(by_id[run_id]["lr"]) and rows[run_id][2] == f"{by_id[run_id]['experiment']}-{int(run_id[-6:], 16) + 1}"
    assert "page 1 of 5" in page and 'next ›</a>' in page and "« first" in page   # a real pager
    chosen = c.get("/runs", params={"columns": "1", "metric": "test_loss", "per_page": 5}).text
    head = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th>(.*?)</th>", re.search(r"<thead>(.*?)</thead>", chosen, re.S).group(1))]
    assert "trainer.learning_rate" not in head and head[-1] == "test_loss" and "test_accuracy" not in head
    assert "metrics=test_loss" in chosen and "params=" in chosen                 # the choice stays in the pager's links
    assert c.get("/api/runs", params={"params": "trainer.learning_rate"}).json()["params"] == ["trainer.learning_rate"]


def test_runs_are_paged_filtered_and_ordered_on_the_server(client):
    c, made, _ = client
    d = c.get("/api/runs", params={"per_page": 7, "page": 2}).json()
    assert d["total"] == 21 and d["pages"] == 3 and len(d["rows"]) == 7
    assert [r["id"] for r in d["rows"]] == sorted([*(r["id"] for r in made), SLURM_RUN], reverse=True)[7:14]
    d = c.get("/api/runs", params={"filter": 'metrics.test_accuracy > 0.85 and tags.team = "x"',
                                   "order_by": "metrics.test_accuracy desc"}).json()
    want = sorted((r for r in made if r["acc"] is not None and r["acc"] > 0.85 and r["team"] == "x"), key=lambda r: -r["acc"])
    assert [r["id"] for r in d["rows"]] == [r["id"] for r in want] and want
    bad = c.get("/api/runs", params={"filter": "metrics.test_accuracy >> 1"})
    assert bad.status_code == 400 and "position 23" in bad.json()["error"]
    assert c.get("/runs", params={"filter": "(("}).status_code == 400


def test_file_downloads_stay_inside_the_run(client, tmp_path):
    """Raw paths over a real connection: a secret wherever a `..` could reach."""
    _, made, root = client
    run = made[0]["id"]
    rdir = next(root.glob(f"experiments/*/runs/{run}"))
    for d in (rdir.parent, rdir.parent.parent, root / "experiments", root, tmp_path):   # 1 to 5 levels up
        (d / "secret.txt").write_text("TOPSECRET-CONTENT")
    (rdir / "outputs" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (rdir / "linkdir").symlink_to(tmp_path)
    base = f"/api/runs/{run}/files/"
    with served(app_for(root)) as port:
        status, headers, body = raw_get(port, base + "outputs/model.txt")
        assert (status, body) == (200, "weights") and "attachment" in headers["content-disposition"]
        climbs = ["../secret.txt", "../../secret.txt", "outputs/../../secret.txt", "..%2fsecret.txt",
                  *("%2e%2e/" * n + "secret.txt" for n in range(1, 6)), *("../" * n + "secret.txt" for n in range(3, 6)),
                  "outputs/%2E%2E/%2E%2E/%2E%2E/secret.txt", "./outputs/model.txt", "outputs//model.txt"]
        for rel in climbs:
            status, _, body = raw_get(port, base + rel)
            assert "TOPSECRET" not in body, rel
            assert status == 400 and f"expected a path inside run {run}" in json.loads(body)["error"], (rel, status, body)
        for rel in ("%2Fetc%2Fpasswd", "/etc/passwd"):
            status, _, body = raw_get(port, base + rel)
            assert status == 400 and "root:" not in body, rel
        for rel, why in (("outputs/link.txt", "a link"), ("linkdir/secret.txt", "a link"), ("outputs", "no such file"),
                         ("nope.txt", "no such file")):
            status, _, body = raw_get(port, base + rel)
            assert status == 404 and why in json.loads(body)["error"] and "TOPSECRET" not in body, rel


def test_a_torn_metrics_line_is_skipped_never_a_500(client):
    c, made, ws = client
    run = made[0]["id"]
    metrics = next(ws.glob(f"experiments/*/runs/{run}/metrics.jsonl"))
    with open(metrics, "a") as f:
        f.write('{"epoch": 4, "loss": 0.1')        # a writer killed mid-line
    h = c.get(f"/api/runs/{run}/history").json()
    assert h["series"]["loss"]["steps"] == [1, 2, 3] and len(h["series"]["loss"]["values"]) == 3
    assert c.get(f"/runs/{run}").status_code == 200


def test_a_sweep_and_models_show(client):
    c, made, ws = client
    sweep = ws / "sweeps" / "20261202-100000-demo"
    for i, r in enumerate(made[:4]):
        job = sweep / "jobs" / str(i)
        job.mkdir(parents=True)
        (job / "job.json").write_text(json.dumps({"job": i, "run_id": r["id"], "state": r["status"],
                                                  "overrides": [f"trainer.learning_rate={r['lr']}", "+debug=smoke"]}))
    d = c.get("/api/sweeps/20261202-100000-demo").json()
    assert len(d["rows"]) == 4 and d["params"] == ["trainer.learning_rate"]
    page = c.get("/sweeps/20261202-100000-demo").text
    assert "<svg class=\"parallel\"" in page and made[0]["id"] in page
    assert c.get("/api/sweeps/nope").status_code == 404


def listening(port: int) -> list[str]:
    """The addresses a TCP socket of this machine listens on at `port` (/proc/net/tcp and tcp6)."""
    out = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, width, 8))
                out.append(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, raw))
    return out


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    return [a for a in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out) if not a.startswith("127.")]


def start_ui(ws: Path, *args: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "trainkit.cli", "--workspace", str(ws), "ui", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not listening(port):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0] if proc.poll() is not None else "timeout"
        time.sleep(0.1)
    return proc, port


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    return proc.communicate(timeout=20)[0]


def test_the_default_host_is_this_machine_only(tmp_path):
    make_runs(tmp_path / "ws", n=1)
    proc, port = start_ui(tmp_path / "ws")
    try:
        assert listening(port) == ["127.0.0.1"]
        for addr in other_addresses():
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((addr, port), timeout=5).close()
        assert raw_get(port, "/api/runs")[0] == 200
    finally:
        out = stop(proc)
    assert "warning" not in out and "http://127.0.0.1:" in out


def test_another_address_warns_and_answers_only_the_host_names_it_was_given(tmp_path):
    make_runs(tmp_path / "ws", n=1)
    proc, port = start_ui(tmp_path / "ws", "--host", "0.0.0.0", "--allowed-host", "dash.example")
    try:
        assert listening(port) == ["0.0.0.0"]
        assert raw_get(port, "/api/runs", host=f"dash.example:{port}")[0] == 200
        assert raw_get(port, "/api/runs", host=f"127.0.0.1:{port}")[0] == 200
        for addr in other_addresses():
            assert raw_get(port, "/api/runs", host=f"{addr}:{port}")[0] == 400
        assert raw_get(port, "/api/runs", host="evil.example")[0] == 400
    finally:
        out = stop(proc)
    assert out.startswith("warning: --host 0.0.0.0: the dashboard has no authentication"), out
    assert "dash.example" in out


def test_one_bad_record_is_skipped_with_a_warning_never_a_broken_page(client, caplog):
    c, made, ws = client
    bad = made[3]["id"]
    status = next(ws.glob(f"experiments/*/runs/{bad}/status.json"))
    status.write_text(json.dumps({**json.loads(status.read_text()), "started": "yesterday"}))
    foreign = next(ws.glob(f"experiments/*/runs/{made[4]['id']}/status.json"))     # well-formed, but no backend of ours
    foreign.write_text(json.dumps({**json.loads(foreign.read_text()), "job": {"backend": "kubernetes"}}))
    (ws / "models" / "bad name" / "versions").mkdir(parents=True)
    (status.parent.parent / "notes.txt").write_text("a stray file where runs are")
    register_entry(ws, "good", 1, made[0]["id"])
    sweep = ws / "sweeps" / "20261202-100000-demo"
    for i, r in enumerate(made[:3]):
        (sweep / "jobs" / str(i)).mkdir(parents=True)
        (sweep / "jobs" / str(i) / "job.json").write_text(json.dumps(
            {"job": "one" if i == 1 else i, "run_id": r["id"], "state": r["status"], "overrides": [f"a={i}"]}))
    expect = {"/": ["status.json", "started: expected"], "/runs": ["status.json", "yesterday"],
              "/jobs": ["status.json", "started: expected"], f"/runs/{made[0]['id']}": ["bad name", "model name"],
              "/models": ["bad name"], f"/sweeps/{sweep.name}": ["jobs/1/job.json", "job: expected an integer, got 'one'"]}
    for url, words in expect.items():
        res = c.get(url)
        assert res.status_code == 200, (url, res.status_code, res.text[:500])
        warning = re.search(r'<div class="warnings">(.*?)</div>', res.text, re.S)
        assert warning and all(w in html.unescape(warning.group(1)) for w in words), (url, warning and warning.group(1))
    runs_page = c.get("/runs").text
    assert bad not in rows_of(runs_page) and made[4]["id"] not in rows_of(runs_page) and len(rows_of(runs_page)) == 19
    assert "compute.name: expected one of" in html.unescape(runs_page) and made[4]["id"] in runs_page
    assert "good:1" in c.get(f"/runs/{made[0]['id']}").text and "good" in c.get("/models").text
    assert len(rows_of(c.get(f"/sweeps/{sweep.name}").text)) == 2
    assert c.get(f"/compare?ids={made[0]['id']},{made[1]['id']}").status_code == 200
    for url in ("/api/runs", "/api/experiments", "/api/jobs", "/api/models", f"/api/sweeps/{sweep.name}"):
        res = c.get(url)
        assert res.status_code == 200 and json.loads(res.headers["x-trainkit-warnings"]), url
    assert c.get("/api/runs").json()["total"] == 19
    logged = [r.getMessage() for r in caplog.records if r.name == "trainkit.ui"]
    assert any("yesterday" in m for m in logged) and any("bad name" in m for m in logged)
    assert any("job.json" in m for m in logged)
    assert c.get(f"/runs/{bad}").status_code == 400 and "started: expected" in c.get(f"/runs/{bad}").text


def test_sigterm_stops_the_dashboard_while_a_live_console_is_open(tmp_path):
    import http.client

    from .test_ui_security import make_running

    made = make_runs(tmp_path / "ws", n=1)
    make_running(tmp_path / "ws", made[0]["id"])
    proc, port = start_ui(tmp_path / "ws")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/api/runs/{made[0]['id']}/logs/stream")
    res = conn.getresponse()
    assert res.status == 200 and res.readline() == b"data: line 1\n"      # a live page is open
    t0 = time.monotonic()
    proc.terminate()
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the dashboard waited for the live console to close instead of stopping")
    finally:
        conn.close()
    assert time.monotonic() - t0 < 8
