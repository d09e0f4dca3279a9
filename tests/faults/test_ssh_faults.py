"""Issue 15, items 2, 4, 5, 6 and 12 on real sshd hosts (scripts/cluster/ssh_up.sh): what comes
back from a host, shared home directories, a supervisor that dies, pid reuse, secrets in a project.
The scripts these jobs run need no TensorFlow, so each job takes seconds."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit
from ..integration.clusters import HOSTS_HOME, NS_HOSTS, job_status, ssh_overrides, start, submitted_id, wait_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
SCRIPTS = ROOT / "tests" / "scripts"
LOCALHOST = {"host": "127.0.0.1", "port": 2222, "user": "root", "slots": 1}
BOTH = [{"host": a, "user": "root", "slots": 1} for a in NS_HOSTS]     # the default, shared ~/trainkit-remote


@pytest.fixture(scope="module", autouse=True)
def sshd():
    start("ssh_up.sh")


def script(name: str, *args: str) -> list[str]:
    return ["+debug=smoke", "entry=script", f"entry.source_dir={SCRIPTS}", f"entry.script={name}",
            "entry.model_path=null", "entry.arguments=[" + ",".join(f'"{a}"' for a in args) + "]"]


def test_a_hosts_symbolic_links_never_come_back_nor_get_registered_or_downloaded(workspace, tmp_path):
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY----- not to be uploaded")
    proc = run_trainkit([*script("leaky.py", str(secret)), *ssh_overrides([LOCALHOST], workdir=tmp_path / "remote",
                                                                           wait="true"), "run.experiment=leak"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = Path(job_status(submitted_id(proc.stdout))["path"])
    assert (run / "outputs" / "result.txt").read_text() == "ok\n"            # the run's own files came back
    assert not os.path.lexists(run / "outputs" / "leak") and not os.path.lexists(run / "outputs" / "leakdir")
    out = tmp_path / "dl"
    assert run_cli(["runs", "download", run.name, "--to", str(out)]).returncode == 0
    (run / "outputs" / "planted").symlink_to(secret)                          # even a link planted locally
    assert run_cli(["runs", "download", run.name, "--to", str(tmp_path / "dl2")]).returncode == 0
    for d in (out, tmp_path / "dl2"):
        assert not [p for p in d.rglob("*") if p.is_file() and "PRIVATE KEY" in p.read_text(errors="ignore")]
    from trainkit.errors import UsageError
    from trainkit.registry.store import Registry

    reg = Registry(str(tmp_path / "reg"))
    entry = reg.register("m", {"outputs": run / "outputs"}, {})
    assert sorted(entry["manifest"]) == ["outputs/metrics.json", "outputs/result.txt"]   # links inside: left out
    with pytest.raises(UsageError, match="got a symbolic link"):
        reg.register("m", {"model.keras": run / "outputs" / "planted"}, {})


def test_the_default_shared_home_workdir_on_two_hosts_works(workspace):
    """The two namespace hosts share one filesystem, as hosts with an NFS home do: one copy is
    shipped, no host's rsync deletes the other's env files."""
    proc = run_trainkit([*script("resumable.py", "--epochs=2", "--seconds=0.2"), *ssh_overrides(BOTH, wait="true"),
                         "distribution=multi_worker_mirrored", "distribution.workers=2", "run.experiment=nfs"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank, host in enumerate(NS_HOSTS):
        assert f"[{host} rank {rank}] epoch 2 done" in proc.stdout
    run_id = re.search(r"run (\S+) completed", proc.stdout).group(1)
    remote = HOSTS_HOME / "trainkit-remote"                        # the hosts' home, not this machine's
    assert (remote / "datasets" / "blobs").is_dir(), "shipped into the hosts' shared home"
    assert not (remote / "runs" / run_id).exists(), "the remote copy is removed after the fetch"


def test_a_dead_supervisor_loses_no_checkpoint_the_rerun_brings_them_back_first(workspace, tmp_path):
    args = [*script("resumable.py", "--epochs=8", "--seconds=1"),
            *ssh_overrides([LOCALHOST], workdir=tmp_path / "r", wait="true"), "run.experiment=crash"]
    first = subprocess.Popen([sys.executable, "-m", "trainkit", *args], cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    console = lambda: next(iter(workspace.glob("experiments/crash/runs/*/logs/console.log")), None)  # noqa: E731
    wait_for(lambda: console() and console().read_text().count(" done") >= 3, 180, "epoch 3 on the host")
    os.killpg(first.pid, signal.SIGKILL)     # the submit side dies: trainkit, its supervisor, its ssh sessions
    first.wait(timeout=30)
    run = console().parent.parent
    assert not (run / "checkpoints").exists()                               # nothing came back yet
    again = run_trainkit(args)                                              # the same command resumes it
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming run {run.name}" in again.stdout
    assert "brought newer checkpoints and metrics back from 127.0.0.1:2222 first" in again.stdout
    started = int(again.stdout.split("starting at epoch ")[1].split()[0])
    assert started >= 4, again.stdout[-2000:]                               # not from scratch
    assert json.loads(run_cli(["runs", "show", run.name, "--json"]).stdout)["metrics"]["score"] == 80


def test_rsync_missing_on_this_machine_is_a_clear_error_before_anything_is_created(workspace, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ssh", "ssh-keygen"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    proc = run_trainkit([*script("resumable.py", "--epochs=1"), *ssh_overrides([LOCALHOST], wait="true")],
                        env={"PATH": f"{bin_dir}:{Path(sys.executable).parent}"})
    assert proc.returncode == 1 and "`rsync` is not installed on this machine" in proc.stderr, proc.stderr
    assert not (workspace / "experiments").exists()


def test_cancel_never_signals_a_process_that_reused_a_recorded_pid(tmp_path):
    from trainkit.compute import ssh
    from trainkit.compute.base import stop_owner
    from trainkit.compute.ssh_node import KILL
    from trainkit.records.runs import process_identity
    from trainkit.records.workspace import RunPaths

    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        paths = RunPaths(tmp_path / "run")
        paths.root.mkdir()
        (paths.root / "job_spec.json").write_text("{}")
        stale = {"pid": bystander.pid, "pid_id": "another-boot:123", "host": os.uname().nodename}
        assert ssh.SshBackend.cancel is ssh.Backend.cancel   # every owner-process backend stops it the same way
        stop_owner(stale, timeout_s=1)
        pid_file = tmp_path / "rank-0"
        pid_file.write_text(f"{bystander.pid} another-boot:123")              # a stale remote pid file
        subprocess.run([sys.executable, "-", str(pid_file)], input=KILL, text=True, check=True)
        assert bystander.poll() is None and not pid_file.exists()            # not killed; stale file removed
        pid_file.write_text(f"{bystander.pid} {process_identity(bystander.pid)}")
        subprocess.run([sys.executable, "-", str(pid_file)], input=KILL, text=True, check=True)
        assert bystander.wait(timeout=10) == -signal.SIGKILL                  # the recorded one is killed
    finally:
        bystander.kill()


LIST_CODE = """import json, os
def files(top):
    return sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)
shipped = os.path.join(os.getcwd(), "..", "..", "code")          # <workdir>/runs/<id>/code: what rsync brought
print("CODE " + json.dumps({"cwd": os.getcwd(), "files": files("."), "shipped": files(shipped)}), flush=True)
"""


def test_project_secrets_are_not_shipped_and_env_files_do_not_stay(workspace, tmp_path):
    project = tmp_path / "proj"
    (project / "conf").mkdir(parents=True)
    (project / "train.py").write_text(LIST_CODE)        # runs on the host: lists what arrived there
    (project / ".env").write_text("API_TOKEN=supersecret\n")
    (project / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (project / ".gitignore").write_text("local_notes.txt\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "local_notes.txt").write_text("ignored by git\n")
    args = ["+debug=smoke", "entry=script", "entry.script=train.py", "entry.model_path=null"]
    proc = run_trainkit([*args, *ssh_overrides([LOCALHOST], workdir=tmp_path / "remote", wait="true"),
                         "run.experiment=secrets"], cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = Path(job_status(submitted_id(proc.stdout))["path"])
    shipped = sorted(p.relative_to(run / "source" / "files").as_posix() for p in (run / "source" / "files").rglob("*"))
    assert shipped == [".gitignore", "train.py"]                              # what the snapshot takes
    on_host = json.loads(re.search(r"CODE (\{.*\})", proc.stdout).group(1))   # the host's own directories
    assert on_host["cwd"].startswith(str(tmp_path / "remote" / "runs")) and on_host["cwd"].endswith("/run/code"), on_host
    assert on_host["shipped"] == [".gitignore", "train.py"], on_host              # the project copy in <run>/code
    assert on_host["files"] == [".gitignore", "train.py"], on_host                # the script's snapshot of it
    shared = run_trainkit([*args, *ssh_overrides([LOCALHOST], wait="true", shared_fs="true"),
                           "run.experiment=secrets_shared"], cwd=project)
    assert shared.returncode == 0, shared.stdout[-3000:] + shared.stderr[-3000:]
    run = Path(job_status(submitted_id(shared.stdout))["path"])
    assert not (run / ".env").exists(), "env files no rank read must not stay in the run"
