"""Run records, resume selection, the spec hash, rank detection, source snapshots, checkpoints."""
from __future__ import annotations

import json
import os
import socket
import subprocess

import numpy as np
import pytest

from trainkit.errors import CheckpointError
from trainkit.fsutil import atomic_write_json
from trainkit.compute import job_for
from trainkit.launch.submit import find_resumable
from trainkit.records.runs import list_runs, new_run_id, write_status
from trainkit.launch.snapshot import ignored, snapshot_source
from trainkit.records.spec import config_hash
from trainkit.topology import WorkerEnv
from trainkit.train.checkpoint import Checkpointer
from trainkit.records.workspace import RunPaths, WorkspacePaths

from ..conftest import run_cli


def make_run(ws: WorkspacePaths, experiment: str, run_id: str, state: str, chash: str, pid: int | None) -> RunPaths:
    paths = RunPaths(ws.run_dir(experiment, run_id))
    paths.root.mkdir(parents=True)
    write_status(paths, state, config_hash=chash, pid=pid, host=socket.gethostname())
    return paths


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_running_job_whose_owner_died_was_interrupted(tmp_path):
    def state(status: dict):
        return job_for(tmp_path, status).kind.attach(RunPaths(tmp_path)), status

    paths = RunPaths(tmp_path)
    for status, expected in (({"state": "running", "pid": os.getpid(), "host": socket.gethostname()}, "running"),
                             ({"state": "running", "pid": dead_pid(), "host": socket.gethostname()}, "failed"),
                             ({"state": "running", "pid": 1, "host": "some-other-host"}, "running"),
                             ({"state": "completed", "pid": dead_pid()}, "completed"),
                             ({"state": "queued", "job": {"backend": "slurm", "id": "1"}}, None)):
        paths.status.write_text(json.dumps(status))
        job = job_for(tmp_path)
        assert job.kind.name == ("slurm" if "job" in status else "local")
        if expected:
            got = job.state()
            assert got.name == expected, status
            assert (got.reason or "").startswith("interrupted") == (expected == "failed")
        else:   # a queued Slurm job has no process yet: its queue owns it
            assert job.kind.owner_alive(status)


def test_resume_picks_the_newest_interrupted_run_with_the_same_config(tmp_path):
    ws = WorkspacePaths(tmp_path)
    make_run(ws, "e", "20260101-000000-aaaaaa", "failed", "h1", None)
    make_run(ws, "e", "20260102-000000-bbbbbb", "running", "h1", dead_pid())
    make_run(ws, "e", "20260103-000000-cccccc", "completed", "h1", None)
    make_run(ws, "e", "20260104-000000-dddddd", "running", "h2", dead_pid())
    make_run(ws, "e", "20260105-000000-eeeeee", "running", "h1", os.getpid())  # alive: never hijacked
    assert find_resumable(ws, "e", "h1").id == "20260102-000000-bbbbbb"
    assert find_resumable(ws, "e", "h3") is None
    make_run(ws, "e", "20260106-000000-ffffff", "cancelled", "h1", None)   # Ctrl-C / jobs cancel
    assert find_resumable(ws, "e", "h1").id == "20260106-000000-ffffff"
    make_run(ws, "e", "20260107-000000-aaaaaa", "queued", "h1", None)      # dead submitter, no job: interrupted
    assert find_resumable(ws, "e", "h1").id == "20260107-000000-aaaaaa"
    assert [r.id for r in list_runs(ws)][0] == "20260101-000000-aaaaaa"


def test_cli_lists_runs_as_json_and_reports_unknown_ids(tmp_path):
    ws = WorkspacePaths(tmp_path)
    make_run(ws, "e", new_run_id(), "completed", "h", None)
    env = {"TRAINKIT_WORKSPACE": str(tmp_path)}
    rows = json.loads(run_cli(["runs", "list", "--json"], env).stdout)
    assert set(rows[0]) >= {"id", "experiment", "status", "path"} and rows[0]["status"] == "completed"
    missing = run_cli(["runs", "show", "nope", "--json"], env)
    assert missing.returncode == 4 and "no run matching 'nope'" in missing.stderr


def test_config_hash_ignores_resume_policy_tags_and_waiting_only():
    cfg = {"trainer": {"epochs": 3}, "run": {"resume": "auto", "tags": {"a": "b"}, "experiment": "x"},
           "compute": {"name": "local", "wait": True}}
    same = {"trainer": {"epochs": 3}, "run": {"resume": "never", "tags": {}, "experiment": "x"},
            "compute": {"name": "local", "wait": False}}
    other = {"trainer": {"epochs": 4}, "run": {"resume": "auto", "tags": {}, "experiment": "x"},
             "compute": {"name": "local", "wait": True}}
    assert config_hash(cfg) == config_hash(same) != config_hash(other)
    assert cfg["run"]["resume"] == "auto"  # the input is not modified


def test_worker_env_detection_table():
    assert WorkerEnv.detect({}) == WorkerEnv(0, 1, 0)
    env = WorkerEnv.detect({"TRAINKIT_RANK": "3", "TRAINKIT_WORLD_SIZE": "4", "TRAINKIT_LOCAL_RANK": "1"})
    assert (env.rank, env.world_size, env.local_rank, env.is_chief) == (3, 4, 1, False)


def test_snapshot_copy_honours_trainkitignore(tmp_path):
    proj = tmp_path / "proj"
    (proj / "pkg").mkdir(parents=True)
    (proj / "pkg" / "a.py").write_text("x = 1\n")
    (proj / "data").mkdir()
    (proj / "data" / "big.bin").write_bytes(b"0" * 10)
    (proj / "notes.tmp").write_text("scratch")
    (proj / ".trainkitignore").write_text("# comment\ndata/\n*.tmp\n")
    info = snapshot_source(proj, tmp_path / "snap")
    assert info["kind"] == "copy" and info["files"] == 2
    copied = sorted(p.relative_to(tmp_path / "snap" / "files").as_posix()
                    for p in (tmp_path / "snap" / "files").rglob("*") if p.is_file())
    assert copied == [".trainkitignore", "pkg/a.py"]
    assert ignored("a/__pycache__/x.pyc", ["__pycache__"]) and not ignored("src/x.py", ["*.pyc"])


def test_snapshot_honours_amlignore_or_else_gitignore_as_azure_did_and_warns_past_10_mb(tmp_path):
    from trainkit.launch.snapshot import check_size, project_files

    proj = tmp_path / "proj"
    (proj / "data" / "raw").mkdir(parents=True)
    (proj / "data" / "raw" / "x.csv").write_text("1\n")
    (proj / "models").mkdir()
    (proj / "models" / "m.h5").write_bytes(b"0" * 11_000_000)
    (proj / "sub" / "models").mkdir(parents=True)
    (proj / "sub" / "models" / "keep.py").write_text("k = 1\n")
    (proj / "train.py").write_text("print(1)\n")
    (proj / ".gitignore").write_text("/models\n!models/keep.h5\ndata/raw/\n")
    assert project_files(proj) == [".gitignore", "sub/models/keep.py", "train.py"]   # /models: only the top one
    (proj / ".amlignore").write_text("*.py\n")                 # with an .amlignore, .gitignore is not read
    assert project_files(proj) == [".amlignore", ".gitignore", "data/raw/x.csv", "models/m.h5"]
    warned = []
    files = ["models/m.h5", "train.py"]
    assert check_size(proj, files, 300, warn=warned.append) == 11_000_009
    assert len(warned) == 1 and "11.0 MB in 2 files" in warned[0] and "models/m.h5 (11.0 MB)" in warned[0]
    check_size(proj, ["train.py"], 300, warn=warned.append)
    assert len(warned) == 1                                          # under 10 MB: nothing said


def test_a_run_whose_code_is_all_trainkits_snapshots_nothing_of_the_working_directory(tmp_path):
    from trainkit.launch.project import snapshot_root

    home = tmp_path / "home"
    (home / "notebooks").mkdir(parents=True)
    builtin = {"model": {"_target_": "trainkit.models.mnist_dnn.build"}, "entry": {"name": "trainer"},
               "trainer": {"loss": "sparse_categorical_crossentropy"}, "dataset": {"loader": None}}
    assert snapshot_root(builtin, home) is None                                  # from ~: nothing
    info = snapshot_source(None, tmp_path / "snap")
    assert info["kind"] == "none" and info["files"] == 0 and not (tmp_path / "snap" / "files").exists()
    (home / "mymodels").mkdir()
    own = {**builtin, "model": {"_target_": "mymodels.wide.build"}}
    assert snapshot_root(own, home) == home.resolve()                            # its builder lives here
    assert snapshot_root({**builtin, "trainer": {"loss": "losses:focal"}}, home) is None   # no losses.py here
    (home / "losses.py").write_text("def focal(): pass\n")
    assert snapshot_root({**builtin, "trainer": {"loss": "losses:focal"}}, home) == home.resolve()
    assert snapshot_root({**builtin, "entry": {"name": "script", "source_dir": None}}, home) == home.resolve()
    assert snapshot_root({**builtin, "entry": {"name": "script", "source_dir": "/elsewhere"}}, home) is None
    (home / "notebooks" / "conf").mkdir()
    assert snapshot_root(builtin, home / "notebooks") == (home / "notebooks").resolve()   # a project: always


def test_snapshot_leaves_out_a_workspace_inside_the_project(tmp_path):
    from trainkit.launch.snapshot import project_files

    proj = tmp_path / "proj"
    for rel in ["train.py", "runs/experiments/a/runs/1/checkpoints/ckpt.keras", "runs/datasets/blobs/ab12",
                "datasets/loader.py"]:
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text("x")
    assert project_files(proj) == ["datasets/loader.py", "runs/datasets/blobs/ab12",
                                   "runs/experiments/a/runs/1/checkpoints/ckpt.keras", "train.py"]
    assert project_files(proj, proj / "runs") == ["datasets/loader.py", "train.py"]
    assert project_files(proj, tmp_path / "elsewhere") == project_files(proj)
    # the project itself used as the workspace: the workspace's own folders go, the code stays
    assert project_files(proj, proj) == ["runs/datasets/blobs/ab12", "runs/experiments/a/runs/1/checkpoints/ckpt.keras",
                                         "train.py"]


def test_snapshot_in_git_records_commit_and_diff(tmp_path):
    proj = tmp_path / "repo"
    proj.mkdir()
    git = lambda *a: subprocess.run(["git", "-C", str(proj), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (proj / "f.py").write_text("a = 1\n")
    git("add", "f.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (proj / "f.py").write_text("a = 2\n")
    (proj / "new.py").write_text("b = 1\n")
    (proj / ".gitignore").write_text("secret.env\n")
    (proj / "secret.env").write_text("TOKEN=x\n")
    (proj / "link.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "outside.py").write_text("never copied\n")
    info = snapshot_source(proj, tmp_path / "snap")
    assert info["kind"] == "git" and len(info["commit"]) == 40 and info["dirty"]
    assert "+a = 2" in (tmp_path / "snap" / "diff.patch").read_text()
    files = tmp_path / "snap" / "files"
    assert sorted(p.name for p in files.iterdir()) == [".gitignore", "f.py", "new.py"]   # the project's files as they are
    assert (files / "f.py").read_text() == "a = 2\n" and info["files"] == 3


class _Var:
    """The single seam: a stand-in for a tf.Variable with numpy() and assign()."""

    def __init__(self, value):
        self.value = np.array(value, dtype=np.float32)

    def numpy(self):
        return self.value

    def assign(self, v):
        self.value = np.array(v)


def test_checkpoints_are_atomic_keep_n_and_restore(tmp_path):
    ck = Checkpointer(tmp_path / "ck", keep=2)
    assert ck.latest() is None
    vs = [_Var([1.0, 2.0]), _Var(3.0)]
    for epoch in (1, 2, 3):
        vs[1].value = np.float32(epoch)
        ck.save(epoch, vs, [{"epoch": e} for e in range(1, epoch + 1)])
    assert sorted(p.name for p in (tmp_path / "ck").glob("epoch-*.npz")) == ["epoch-0002.npz", "epoch-0003.npz"]
    assert not list((tmp_path / "ck").glob(".*tmp*"))
    fresh = [_Var([0.0, 0.0]), _Var(0.0)]
    state = ck.restore(fresh)
    assert state["epoch"] == 3 and float(fresh[1].value) == 3.0 and fresh[0].value.tolist() == [1.0, 2.0]
    with pytest.raises(CheckpointError, match="expected 1 variables, checkpoint has 2"):
        ck.restore([_Var(0.0)])
    atomic_write_json(tmp_path / "ck" / "state.json", {"epoch": 9, "file": "epoch-0009.npz", "history": []})
    assert ck.latest() is None  # a pointer to a missing file is not a checkpoint


def test_runs_download_copies_a_prefix_like_download_files(tmp_path):
    ws = WorkspacePaths(tmp_path / "ws")
    run_id = new_run_id()
    paths = make_run(ws, "e", run_id, "completed", "h", None)
    (paths.model_dir / "saved_model").mkdir(parents=True)
    (paths.model_dir / "model.keras").write_bytes(b"keras")
    (paths.model_dir / "saved_model" / "saved_model.pb").write_bytes(b"pb")
    (paths.outputs / "metrics.json").write_text("{}")
    env = {"TRAINKIT_WORKSPACE": str(ws.root)}
    kept = tmp_path / "kept"
    assert run_cli(["runs", "download", run_id, "--prefix", "outputs/model", "--to", str(kept)], env).returncode == 0
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == [
        "outputs/model/model.keras", "outputs/model/saved_model/saved_model.pb"]
    stripped = tmp_path / "stripped"
    run_cli(["runs", "download", run_id, "--prefix", "outputs/model", "--to", str(stripped), "--strip-prefix"], env)
    assert (stripped / "model.keras").read_bytes() == b"keras"
    clash = run_cli(["runs", "download", run_id, "--prefix", "outputs/model", "--to", str(kept)], env)
    assert clash.returncode == 2 and "--overwrite" in clash.stderr
    none = run_cli(["runs", "download", run_id, "--prefix", "outputs/nothing", "--to", str(kept)], env)
    assert none.returncode == 4 and "no files under prefix 'outputs/nothing'" in none.stderr


# ------------------------------------------------------------------ issue 23 item 7: the lows
def test_secret_files_by_name_are_never_snapshotted(tmp_path):
    proj = tmp_path / "proj"
    secrets = [".git-credentials", ".pypirc", ".npmrc", ".docker/config.json", "sub/.kube/config",
               ".config/gcloud/application_default_credentials.json", "cert.p12", ".vault-token", ".s3cfg", ".boto",
               "infra/terraform.tfvars", "id_dsa", "id_dsa.pub", ".env", "id_rsa"]
    for rel in [*secrets, "train.py", "docker/config.json", "kube/config.py"]:
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text("x")
    info = snapshot_source(proj, tmp_path / "snap")
    copied = sorted(p.relative_to(tmp_path / "snap" / "files").as_posix()
                    for p in (tmp_path / "snap" / "files").rglob("*") if p.is_file())
    assert copied == ["docker/config.json", "kube/config.py", "train.py"], copied
    assert info["files"] == 3


def test_log_image_refuses_names_that_leave_the_run(tmp_path, monkeypatch):
    from PIL import Image

    from trainkit import run as tkrun

    monkeypatch.setattr(tkrun, "_current", None)
    png = tmp_path / "cm.png"
    Image.new("RGB", (2, 2)).save(png)
    monkeypatch.setenv(tkrun.RUN_DIR_ENV, str(tmp_path / "run"))
    for name in ("/tmp/x", "../../x", "a/../../x", "a\\b"):
        with pytest.raises(ValueError, match="run.log_image: expected a name like"):
            tkrun.get_context().log_image(name, png)
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob("*.png"))[1:]


def test_the_code_snapshot_of_a_script_has_a_size_cap(tmp_path):
    from trainkit.errors import ConfigError
    from trainkit.launch.snapshot import snapshot_code

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print(1)\n")
    (src / "weights.bin").write_bytes(b"\0" * 2_000_000)
    with pytest.raises(ConfigError, match=r"run.snapshot_max_mb: the project .* holds 2.0 MB in 2 files, more than "
                                          r"the 1 MB allowed; biggest: weights.bin \(2.0 MB\)"):
        snapshot_code(src, tmp_path / "run", max_mb=1)
    assert not (tmp_path / "run" / "code" / "weights.bin").exists()
    assert (snapshot_code(src, tmp_path / "run2", max_mb=5) / "weights.bin").stat().st_size == 2_000_000


def test_init_never_writes_through_a_symbolic_link(tmp_path):
    from trainkit.errors import UsageError
    from trainkit.launch.scaffold import init_project

    outside = tmp_path / "outside"
    outside.mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "README.md").symlink_to(outside / "README.md")         # dangling: the target does not exist
    with pytest.raises(UsageError, match="found README.md"):
        init_project(proj)
    (proj / "README.md").unlink()
    (proj / "conf").symlink_to(outside, target_is_directory=True)  # a folder link out of the project
    with pytest.raises(UsageError, match=r"conf/experiment/example.yaml, conf/model/example.yaml would land elsewhere"):
        init_project(proj)
    assert list(outside.iterdir()) == [] and sorted(p.name for p in proj.iterdir()) == ["conf"]


def test_a_torn_metrics_line_does_not_fail_a_script_run(tmp_path):
    """Issue 23 item 7: one torn metrics.jsonl line (a writer killed mid-line) failed a run whose
    script succeeded; the last good value of each metric is kept."""
    from trainkit.records.workspace import RunPaths
    from trainkit.worker.script import script_metrics

    paths = RunPaths(tmp_path / "run")
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text('{"step": 0, "loss": 1.5}\n{"step": 1, "lo\n{"step": 2, "loss": 0.5, "acc": 0.9}\n'
                             '{"step": 3, "rank": 1, "loss": 9}\n\xff\xfe\n{"step": 4, "acc"')
    assert script_metrics(paths) == {"loss": 0.5, "acc": 0.9}


def test_the_system_sampler_records_cpu_and_memory_over_time(tmp_path):
    """worker/system.py: rows with a growing step, wall time, CPU % of a busy thread and resident memory."""
    import time

    from trainkit.worker.system import start

    path = tmp_path / "system.jsonl"
    assert start(path, every_s=0) is None and not path.exists()            # 0 turns sampling off
    thread = start(path, every_s=0.1)
    end = time.monotonic() + 0.8
    while time.monotonic() < end:                                           # keep this process busy
        sum(i * i for i in range(10_000))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert thread.daemon and len(rows) >= 4, rows
    assert [r["step"] for r in rows] == list(range(len(rows)))
    assert all(r["rss_mb"] > 10 for r in rows) and max(r["cpu_percent"] for r in rows) > 30, rows
    assert all(rows[i]["time"] < rows[i + 1]["time"] for i in range(len(rows) - 1))
