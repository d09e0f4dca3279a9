"""The dashboard's HTTP side with Starlette's test client on run records written here: every page
and API endpoint, paging and filtering, file downloads that never leave a run, torn metric lines,
and that nothing is written into the workspace."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .test_api import make_runs


@pytest.fixture
def client(tmp_path):
    from starlette.testclient import TestClient

    from trainkit.records.workspace import WorkspacePaths
    from trainkit.registry.store import Registry
    from trainkit.ui.app import create_app

    made = make_runs(tmp_path / "ws", n=20)
    app = create_app(WorkspacePaths.at(str(tmp_path / "ws")), Registry(str(tmp_path / "ws" / "models")))
    return TestClient(app), made, tmp_path / "ws"


def tree(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


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
    page = c.get("/runs").text
    assert all(r["id"] in page for r in made[:20]) and "<table" in page    # server-rendered: readable without JS


def test_runs_are_paged_filtered_and_ordered_on_the_server(client):
    c, made, _ = client
    d = c.get("/api/runs", params={"per_page": 7, "page": 2}).json()
    assert d["total"] == 20 and d["pages"] == 3 and len(d["rows"]) == 7
    assert [r["id"] for r in d["rows"]] == sorted((r["id"] for r in made), reverse=True)[7:14]
    d = c.get("/api/runs", params={"filter": 'metrics.test_accuracy > 0.85 and tags.team = "x"',
                                   "order_by": "metrics.test_accuracy desc"}).json()
    want = sorted((r for r in made if r["acc"] is not None and r["acc"] > 0.85 and r["team"] == "x"), key=lambda r: -r["acc"])
    assert [r["id"] for r in d["rows"]] == [r["id"] for r in want] and want
    bad = c.get("/api/runs", params={"filter": "metrics.test_accuracy >> 1"})
    assert bad.status_code == 400 and "position 23" in bad.json()["error"]
    assert c.get("/runs", params={"filter": "(("}).status_code == 400


def test_file_downloads_stay_inside_the_run(client, tmp_path):
    c, made, ws = client
    run = made[0]["id"]
    run_dir = next(ws.glob(f"experiments/*/runs/{run}"))
    (tmp_path / "secret.txt").write_text("TOPSECRET-CONTENT")
    (run_dir / "outputs" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (run_dir / "linkdir").symlink_to(tmp_path)
    ok = c.get(f"/api/runs/{run}/files/outputs/model.txt")
    assert ok.status_code == 200 and ok.text == "weights"
    for rel in ["../secret.txt", "%2e%2e/%2e%2e/secret.txt", "outputs/%2e%2e/%2e%2e/secret.txt", "%2Fetc%2Fpasswd",
                "outputs/link.txt", "linkdir/secret.txt", "outputs", "nope.txt"]:
        res = c.get(f"/api/runs/{run}/files/{rel}")
        assert res.status_code in (400, 404), (rel, res.status_code)
        assert "TOPSECRET" not in res.text and "root:" not in res.text, rel
    assert c.get(f"/api/runs/{run}/files//etc/passwd").status_code in (400, 404)


def test_a_torn_metrics_line_is_skipped_never_a_500(client):
    c, made, ws = client
    run = made[0]["id"]
    metrics = next(ws.glob(f"experiments/*/runs/{run}/metrics.jsonl"))
    with open(metrics, "a") as f:
        f.write('{"epoch": 4, "loss": 0.1')        # a writer killed mid-line
    h = c.get(f"/api/runs/{run}/history").json()
    assert h["steps"] == [1, 2, 3] and len(h["series"]["loss"]) == 3
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


def test_the_default_host_is_this_machine_only(monkeypatch):
    from trainkit.cli.main import build_parser

    args = build_parser().parse_args(["ui"])
    assert (args.host, args.port) == ("127.0.0.1", 8265)
    assert os.environ.get("TRAINKIT_UI_HOST") is None
