"""The Python API over run records written here (no training): search, order, files, history,
errors, the filter language, notebook HTML, and that `import trainkit` stays light."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

import trainkit as tk
from trainkit.records.runs import write_status
from trainkit.records.workspace import RunPaths, WorkspacePaths


def make_runs(root, n: int = 20, seed: int = 0) -> list[dict]:
    """n finished runs with random metrics, tags and states; what each was made with."""
    rng = random.Random(seed)
    made = []
    for i in range(n):
        run_id = f"20261202-1000{i:02d}-{i:06x}"
        exp = rng.choice(["fashion", "digits"])
        paths = RunPaths(WorkspacePaths(root).run_dir(exp, run_id))
        (paths.root / "outputs").mkdir(parents=True)
        state = rng.choice(["completed", "completed", "completed", "failed", "cancelled"])
        acc = round(rng.uniform(0.7, 0.95), 4) if state == "completed" else None
        team = rng.choice(["x", "y", "z"])
        lr = rng.choice([0.001, 0.003, 0.01])
        final = {"test_accuracy": acc, "test_loss": round(rng.uniform(0.2, 0.6), 4)} if acc is not None else {}
        status = write_status(paths, state, final_metrics=final, tags={"team": team}, started=1_800_000_000 + i,
                              overrides=[f"trainer.learning_rate={lr}", f"run.experiment={exp}"], name=f"{exp}-{i + 1}",
                              exit_reason=None if state == "completed" else f"{state} on purpose")
        paths.status.write_text(json.dumps({**status, "ended": 1_800_000_100 + i * 7}))   # a known duration
        paths.spec.write_text(json.dumps({"config": {"trainer": {"learning_rate": lr}, "compute": {"name": "local"}},
                                          "overrides": []}))
        paths.metrics.write_text("".join(json.dumps({"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + e / 10}) + "\n"
                                         for e in range(1, 4)))
        (paths.outputs / "model.txt").write_text("weights")
        made.append({"id": run_id, "experiment": exp, "status": state, "acc": acc, "team": team, "lr": lr,
                     "duration": 100 + i * 6})
    return made


def test_runs_filter_agrees_with_the_same_filter_computed_by_hand(tmp_path):
    made = make_runs(tmp_path)
    ws = tk.Workspace(tmp_path)
    cases = [
        ('metrics.test_accuracy > 0.85 and tags.team = "x"',
         lambda r: r["acc"] is not None and r["acc"] > 0.85 and r["team"] == "x"),
        ('status != "completed" or config.trainer.learning_rate >= 0.003',
         lambda r: r["status"] != "completed" or r["lr"] >= 0.003),
        ('not (experiment = "fashion") and duration < 160', lambda r: r["experiment"] != "fashion" and r["duration"] < 160),
        ('metrics.test_accuracy = null', lambda r: r["acc"] is None),
        ('experiment like "fash%" and metrics.test_loss <= 0.4',
         lambda r: r["experiment"] == "fashion" and r["acc"] is not None and
         json.loads((tmp_path / "experiments" / r["experiment"] / "runs" / r["id"] / "status.json").read_text())
         ["final_metrics"]["test_loss"] <= 0.4),
    ]
    for text, by_hand in cases:
        got = sorted(r.id for r in ws.runs(filter=text))
        assert got == sorted(r["id"] for r in made if by_hand(r)), text
        assert got, f"the case {text!r} selects nothing: it tests nothing"


def test_the_dashboard_filter_and_the_api_agree_on_tags_a_script_set_even_after_the_run_ended(tmp_path):
    """Tags a script (run.tag) or a tracking client adds live in tags.json, beside the config's."""
    from trainkit.ui.data import RunIndex, runs_page

    made = make_runs(tmp_path)
    ws, index = tk.Workspace(tmp_path), RunIndex(WorkspacePaths(tmp_path))

    def both(text):
        api = sorted(r.id for r in ws.runs(filter=text))
        return api, sorted(r["id"] for r in runs_page(index, filter=text, per_page=100)["rows"])

    for r in made[:3]:
        RunPaths(WorkspacePaths(tmp_path).run_dir(r["experiment"], r["id"])).tags.write_text('{"stage": "prod"}')
    api, dashboard = both('tags.stage = "prod"')
    assert api == dashboard == sorted(r["id"] for r in made[:3])
    late = made[5]   # tagged after the index cached its (ended) row
    RunPaths(WorkspacePaths(tmp_path).run_dir(late["experiment"], late["id"])).tags.write_text(
        '{"stage": "prod", "team": "w"}')
    api, dashboard = both('tags.stage = "prod"')
    assert api == dashboard == sorted(r["id"] for r in made[:3] + [late])
    assert both('tags.team = "w"') == ([late["id"]], [late["id"]])     # the script's tag wins over the config's


def test_cli_runs_list_filters_orders_limits_and_shows_columns_as_the_api_does(tmp_path):
    """`trainkit runs list` speaks the API's filter language and lists newest first, as the dashboard."""
    from ..conftest import run_cli

    made = make_runs(tmp_path)
    env = {"TRAINKIT_WORKSPACE": str(tmp_path)}
    listed = json.loads(run_cli(["runs", "list", "--json"], env).stdout)
    assert [r["id"] for r in listed] == [r["id"] for r in reversed(made)]          # newest first
    text = 'metrics.test_accuracy > 0.8 and tags.team != "z"'
    args = ["runs", "list", "--filter", text, "--order-by", "metrics.test_accuracy desc", "--limit", "3",
            "--columns", "id,metrics.test_accuracy,tags.team,config.trainer.learning_rate"]
    got = json.loads(run_cli([*args, "--json"], env).stdout)
    want = tk.Workspace(tmp_path).runs(filter=text, order_by="metrics.test_accuracy desc", limit=3)
    assert [r["id"] for r in got] == [r.id for r in want] and len(got) == 3
    assert [(r["metrics.test_accuracy"], r["tags.team"], r["config.trainer.learning_rate"]) for r in got] == \
        [(r.metrics()["test_accuracy"], r.tags["team"], r.config["trainer"]["learning_rate"]) for r in want]
    shown = run_cli(args, env)
    assert shown.returncode == 0 and "config.trainer.learning_rate" in shown.stdout
    assert _num_cell(want[0].metrics()["test_accuracy"]) in shown.stdout
    bad = run_cli(["runs", "list", "--filter", "metrics.test_accuracy >> 1"], env)
    assert bad.returncode == 2 and "runs list:" in bad.stderr and "Traceback" not in bad.stderr


def _num_cell(v: float) -> str:
    from trainkit.numfmt import number

    return number(v)


def test_one_number_format_for_cli_notebook_and_dashboard():
    from trainkit.api.notebook import _fmt
    from trainkit.cli.fmt import num
    from trainkit.numfmt import number
    from trainkit.ui.pages import num as page_num

    cases = {0.00075: "0.00075", 8.94e-07: "8.94e-07", 0.90661: "0.9066", 0.0: "0", 3: "3", 123456.7: "123457",
             None: "", float("nan"): "nan", True: "True"}
    for v, text in cases.items():
        assert number(v) == num(v) == _fmt(v) == page_num(v) == text, v


def test_runs_order_limit_status_and_tags(tmp_path):
    made = make_runs(tmp_path)
    ws = tk.Workspace(tmp_path)
    best = ws.runs(order_by="metrics.test_accuracy desc", limit=3)
    expected = sorted((r for r in made if r["acc"] is not None), key=lambda r: -r["acc"])[:3]
    assert [r.id for r in best] == [r["id"] for r in expected]
    assert [r.metrics()["test_accuracy"] for r in best] == [r["acc"] for r in expected]
    failed = ws.runs(status=["failed", "cancelled"], tags={"team": "y"})
    assert sorted(r.id for r in failed) == sorted(r["id"] for r in made if r["status"] != "completed" and r["team"] == "y")
    assert all(r.reason.endswith("on purpose") for r in failed)
    assert [r.id for r in ws.runs(experiment="digits")] == [r["id"] for r in made if r["experiment"] == "digits"]
    unordered_last = ws.runs(order_by=["metrics.test_accuracy asc"])
    assert all(r.metrics().get("test_accuracy") is None for r in unordered_last[-sum(r["acc"] is None for r in made):])


def test_a_run_reads_history_files_and_downloads_like_runs_show(tmp_path):
    made = make_runs(tmp_path, n=2)
    ws = tk.Workspace(tmp_path)
    run = ws.get_run(made[0]["id"][:-3])                     # a unique prefix
    assert run.id == made[0]["id"] and run.status == made[0]["status"]
    assert [h["epoch"] for h in run.history()] == [1, 2, 3]
    assert "outputs/model.txt" in run.files() and "status.json" in run.files()
    written = run.download(prefix="outputs", to=tmp_path / "dl")
    assert [p.relative_to(tmp_path / "dl").as_posix() for p in written] == ["model.txt"]
    with pytest.raises(tk.UsageError, match=r"pass overwrite=True or another `to`") as again:
        run.download(prefix="outputs", to=tmp_path / "dl")                   # worded for Python, not the CLI
    assert "--overwrite" not in str(again.value)
    assert run.download(prefix="outputs", to=tmp_path / "dl", overwrite=True) == written
    cli = subprocess.run([sys.executable, "-m", "trainkit.cli", "--workspace", str(tmp_path), "runs", "show", run.id,
                          "--json"], capture_output=True, text=True)
    assert json.loads(cli.stdout)["metrics"] == run.metrics()
    assert run.get("tags.team") == made[0]["team"] and run.tags == {"team": made[0]["team"]}
    html = run._repr_html_()
    assert run.id in html and "<svg" in html and "<polyline" in html and run.status in html


def test_bad_input_raises_the_named_errors(tmp_path):
    make_runs(tmp_path, n=1)
    ws = tk.Workspace(tmp_path)
    with pytest.raises(tk.NotFound, match="no run matching 'nope'"):
        ws.get_run("nope")
    with pytest.raises(tk.NotFound):
        ws.model("fashion@staging")
    with pytest.raises(ValueError, match=r"position 23"):
        ws.runs(filter="metrics.test_accuracy >> 0.5")
    with pytest.raises(ValueError, match="order_by"):
        ws.runs(order_by="metrics.test_accuracy sideways")
    with pytest.raises(tk.NotFound, match="dataset 'nope'"):
        ws.dataset("nope:2")


def test_wait_with_a_timeout_leaves_the_run_running(tmp_path):
    import os
    import socket

    paths = RunPaths(WorkspacePaths(tmp_path).run_dir("e", "20261202-100000-aaaaaa"))
    paths.root.mkdir(parents=True)
    write_status(paths, "running", pid=os.getpid(), host=socket.gethostname())
    run = tk.Workspace(tmp_path).get_run("20261202-100000-aaaaaa")
    with pytest.raises(TimeoutError, match="keeps running"):
        run.wait(timeout=0.3, poll_s=0.05)
    assert run.status == "running"
    write_status(paths, "failed", exit_reason="boom")
    with pytest.raises(tk.RunFailed, match="boom"):
        run.wait()
    paths.status.write_text(json.dumps({**json.loads(paths.status.read_text()), "state": "paused"}))
    with pytest.raises(tk.RunFailed, match=r"status.json: state 'paused' is not one of queued, running, cancelled"):
        run.wait(timeout=5)             # a state no one writes: an error at once, never a wait that lasts forever


def test_import_trainkit_is_light():
    code = ("import sys, trainkit as tk; tk.Workspace; tk.Run; tk.submit; "
            "bad = [m for m in ('tensorflow', 'keras', 'hydra', 'onnxruntime', 'ray') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_filter_strings_keep_their_unicode_and_decode_only_real_escapes(tmp_path):
    make_runs(tmp_path, n=3)
    paths = RunPaths(WorkspacePaths(tmp_path).run_dir("fashion", "20261202-110000-abcdef"))
    paths.root.mkdir(parents=True)
    write_status(paths, "completed", tags={"team": "équipe", "note": 'say "hi"\tnow', "path": "C:\\data"})
    ws = tk.Workspace(tmp_path)
    for text in ('tags.team = "équipe"', "tags.team = '\\u00e9quipe'", 'tags.note = "say \\"hi\\"\\tnow"',
                 "tags.note = 'say \"hi\"\tnow'", 'tags.path = "C:\\\\data"', 'tags.team like "é%"'):
        assert [r.id for r in ws.runs(filter=text)] == ["20261202-110000-abcdef"], text
    with pytest.raises(ValueError, match=r"unknown escape '\\\\q' at position 13"):
        ws.runs(filter='tags.team = "\\qx"')


HOSTILE = "\"'><img src=x onerror=alert(1)>&amp;"


def hostile_run(root, run_id: str, **status) -> RunPaths:
    paths = RunPaths(WorkspacePaths(root).run_dir(HOSTILE.replace("/", ""), run_id))
    paths.root.mkdir(parents=True)
    paths.status.write_text(json.dumps({"started": 1_800_000_000, "ended": 1_800_000_100,
                                        "dataset": {"name": HOSTILE, "version": HOSTILE},
                                        "final_metrics": {HOSTILE: 0.5, "test_accuracy": 0.9}, **status}))
    paths.metrics.write_text("".join(json.dumps({"epoch": e, "loss": 1 / e, HOSTILE: e / 10}) + "\n" for e in (1, 2)))
    return paths


def assert_inert(html: str, *values: str) -> None:
    """No tag or attribute came out of a value; each value is there as text (or an attribute's value)."""
    from html.parser import HTMLParser

    seen = {"tags": [], "attrs": [], "text": []}

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen["tags"].append(tag)
            seen["attrs"] += attrs

        def handle_data(self, data):
            seen["text"].append(data)

    Parser().feed(html)
    assert "img" not in seen["tags"] and not [a for a, _ in seen["attrs"] if a.startswith("on")], seen
    text = "".join(seen["text"])
    for v in values:
        assert v in text or ("data-run-id", v) in seen["attrs"], (v, html[:600])


def test_notebook_html_escapes_every_value_of_runs_and_sweeps(tmp_path, monkeypatch):
    import os
    import socket

    from trainkit.api.notebook import RunDetails

    done = hostile_run(tmp_path, HOSTILE, state=HOSTILE, exit_reason=HOSTILE)
    hostile_run(tmp_path, "20261202-100000-live00", state="running", epoch=HOSTILE, pid=os.getpid(),
                       host=socket.gethostname())
    ws = tk.Workspace(tmp_path)
    run = ws.get_run(HOSTILE)
    html = run._repr_html_()
    assert_inert(html, HOSTILE)
    assert f'data-run-id="{HOSTILE}"' not in html and html.count("&lt;img") >= 5      # id, experiment, state, dataset x2
    assert_inert(ws.get_run("20261202-100000-live00")._repr_html_(), HOSTILE)
    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj.data)

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=None: shown.append(obj.data) or Handle())
    finished = hostile_run(tmp_path, "done-" + HOSTILE, state="completed")
    RunDetails(ws.get_run(finished.root.name), every_s=0.01).show(block=True)
    assert len(shown) == 2 and all(assert_inert(h, HOSTILE) is None for h in shown)
    sweep = tmp_path / "sweeps" / "20261202-100000-evil"
    for job, record in enumerate([{"run_id": done.root.name, "state": "completed", "overrides": ["a=1"]},
                                  {"run_id": HOSTILE + "x", "state": HOSTILE, "overrides": [f"a={HOSTILE}"]}]):
        (sweep / "jobs" / str(job)).mkdir(parents=True)
        (sweep / "jobs" / str(job) / "job.json").write_text(json.dumps({"job": job, **record}))
    html = ws.get_sweep("20261202-100000-evil")._repr_html_()
    assert_inert(html, HOSTILE, HOSTILE + "x")
    assert html.count("&lt;img") >= 4          # the state, its count, the run id, the swept value
