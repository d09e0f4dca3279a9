"""compute=ssh against real sshd hosts (started by the fixture): 127.0.0.1:2222 and two network
namespaces 10.77.0.2 / 10.77.0.3. Single on localhost, a TF_CONFIG script and Horovod across the
two hosts, and the hostile cases: changed host key, unreachable host, link dropped mid-run, shell
metacharacters in an override, a secret passed through the environment."""
from __future__ import annotations

import json
import os
import re
import sys
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit
from .clusters import (NS_HOSTS, job_status, on_host, processes_mentioning, ssh_overrides, start,
                       submitted_id, wait_for)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
LOCALHOST = {"host": "127.0.0.1", "port": 2222, "user": "root", "slots": 1}


@pytest.fixture(scope="module", autouse=True)
def sshd():
    start("ssh_up.sh")
    yield
    start("ssh_up.sh")   # brings a link a test took down back up


def two_hosts(tmp_path) -> list[dict]:
    return [{"host": a, "user": "root", "slots": 1, "workdir": str(tmp_path / f"remote-{i}")}
            for i, a in enumerate(NS_HOSTS)]


def runs_in(ws: Path) -> list[Path]:
    return sorted(ws.glob("experiments/*/runs/*"))


def test_the_namespace_hosts_see_their_own_disk_and_have_no_trainkit(tmp_path):
    """What a job needs on these hosts must be shipped: they see neither this machine's /tmp, nor
    its home, nor the checkout (but for the interpreter in .venv), and trainkit is not importable."""
    (tmp_path / "here").write_text("only on the submitting machine")
    probe = (f"test -e {tmp_path / 'here'} && echo SEES_TMP; test -e {ROOT / 'trainkit'} && echo SEES_CHECKOUT; "
             f"test -e ~/.trainkit-submit-marker && echo SEES_HOME; "
             f"{sys.executable} -c 'import trainkit' 2>/dev/null && echo HAS_TRAINKIT; "
             f"{sys.executable} -c 'import keras, tensorflow; print(\"python ok\")' 2>&1 | tail -1")
    marker = Path.home() / ".trainkit-submit-marker"
    marker.write_text("x")
    try:
        for host in NS_HOSTS:
            res = on_host(host, probe)
            assert res.stdout.split("\n")[-2:] == ["python ok", ""], (host, res.stdout, res.stderr)
    finally:
        marker.unlink()


def test_single_on_localhost_with_secret_and_shell_metacharacters(workspace, tmp_path):
    secret = "tk-s3cr3t-" + os.urandom(6).hex()
    hostile = "; touch PWNED #"
    remote = tmp_path / "remote"
    args = ["+debug=smoke", *ssh_overrides([LOCALHOST], workdir=remote, wait="true"),
            "run.experiment=ssh_single", "environment.secret_env=[TK_TEST_SECRET]",
            f"registry.description='{hostile}'", f"+run.tags.note='{hostile}'"]
    samples: list[str] = []
    done = threading.Event()

    def sample_ps():
        while not done.is_set():
            samples.append(subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True).stdout)
            time.sleep(0.3)

    sampler = threading.Thread(target=sample_ps)
    sampler.start()
    try:
        proc = run_trainkit(args, env={"TK_TEST_SECRET": secret})
    finally:
        done.set()
        sampler.join()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    job_id = submitted_id(proc.stdout)
    assert "[127.0.0.1:2222 rank 0] test: loss=" in proc.stdout      # streamed with host and rank
    st = job_status(job_id)
    assert st["state"] == "completed" and st["backend"] == "ssh"
    run = Path(st["path"])
    for rel in ("outputs/model/model.keras", "outputs/metrics.json", "metrics.jsonl", "environment.json",
                "logs/stdout.log", "logs/console.log", "checkpoints/state.json", "curves.png"):
        assert (run / rel).exists(), rel                                # came back to the local run
    model = json.loads(run_cli(["models", "show", st["registered_model"], "--json"]).stdout)
    assert model["run_id"] == job_id and model["onnx"]["status"] == "ok"
    # the override arrived literally and ran nothing
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["registry"]["description"] == hostile and cfg["run"]["tags"]["note"] == hostile
    assert model["description"] == hostile
    for where in (ROOT, Path.home(), remote, tmp_path, Path("/tmp"), run):
        assert not (where / "PWNED").exists(), where
    # the secret reached the worker, and nowhere else
    env_info = json.loads((run / "environment.json").read_text())
    assert env_info["secret_env"] == {"TK_TEST_SECRET": "set"}
    assert len(samples) > 5 and not any(secret in s for s in samples)
    assert secret not in proc.stdout + proc.stderr
    for f in [*run.rglob("*"), *remote.rglob("*")]:
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    assert not list(remote.glob("runs/*")), "the remote run directory is removed after the fetch"


def test_changed_host_key_is_refused_before_anything_is_created(workspace, tmp_path):
    fake = tmp_path / "fake_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text("[127.0.0.1]:2222 " + " ".join(Path(f"{fake}.pub").read_text().split()[:2]) + "\n")
    args = ["+debug=smoke", *ssh_overrides([LOCALHOST], known_hosts=known, wait="true")]
    proc = run_trainkit(args)
    assert proc.returncode != 0
    assert "host 127.0.0.1:2222: host key verification failed" in proc.stderr, proc.stderr
    assert runs_in(workspace) == []


def test_unreachable_host_fails_fast_naming_it(workspace):
    t0 = time.time()
    proc = run_trainkit(["+debug=smoke", *ssh_overrides([{"host": "10.77.0.99", "user": "root", "slots": 1}],
                                                        connect_timeout_s=2, wait="true")])
    assert proc.returncode != 0
    assert "host 10.77.0.99: unreachable within 2 s" in proc.stderr, proc.stderr
    assert time.time() - t0 < 20      # measured ~5 s: the 2 s connect timeout, not a long default
    assert runs_in(workspace) == []


def test_link_down_mid_run_fails_naming_the_host_with_no_orphans(workspace, tmp_path):
    args = ["+debug=smoke", *ssh_overrides(two_hosts(tmp_path)), "distribution=multi_worker_mirrored",
            "dataset.limit_train=20000", "trainer.epochs=50", "run.experiment=ssh_linkdown"]
    proc = run_trainkit(args)
    job_id = submitted_id(proc.stdout)
    wait_for(lambda: job_status(job_id)["epoch"], 240, "the first epoch")
    subprocess.run(["ip", "netns", "exec", "tkh2", "ip", "link", "set", "eth0", "down"], check=True)
    try:
        t0 = time.time()
        st = wait_for(lambda: (s := job_status(job_id))["state"] in ("failed", "cancelled", "completed") and s,
                      90, "the job to fail")
        elapsed = time.time() - t0
        assert st["state"] == "failed" and "host 10.77.0.3" in st["exit_reason"], st
        assert elapsed < 60, elapsed      # 41 s measured on a loaded CI run
        wait_for(lambda: not processes_mentioning(job_id), 45, "no process of the job left")
    finally:
        start("ssh_up.sh")                # the link comes back for the tests after this one, whatever happened


def test_a_tf_config_script_runs_across_the_two_hosts(workspace, tmp_path):
    """An unchanged TF_CONFIG script from a project runs on both hosts with the hosts' addresses in
    its cluster (a project model, detached MWM, cancel and a dead rank on ssh: test_backends.py)."""
    import shutil

    from .test_project import wide_project

    project = wide_project(tmp_path, width=32, depth=2)
    shutil.copy(ROOT / "tests" / "scripts" / "mwm_custom_loop.py", project / "train_mwm.py")
    hosts = ssh_overrides(two_hosts(tmp_path), wait="true")
    proc = run_trainkit(["+debug=smoke", "entry=script", "entry.script=train_mwm.py", "run.experiment=ssh_script",
                         'entry.arguments=["--data-folder=${dataset.path}","--epochs=1"]', "distribution=multi_worker_mirrored",
                         "distribution.workers=2", *hosts], cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for host in NS_HOSTS:
        assert f"'{host}:" in proc.stdout                         # TF_CONFIG names both hosts
    assert f"[{NS_HOSTS[1]} rank 1] epoch 1 loss" in proc.stdout
    assert json.loads(run_cli(["models", "show", "ssh_script", "--json"]).stdout)["onnx"]["status"] == "ok"
    assert not (tmp_path / "remote-1").exists()                              # the host's /tmp is its own
    shipped = on_host(NS_HOSTS[1], f"ls {tmp_path / 'remote-1' / 'datasets' / 'blobs'}")
    assert shipped.returncode == 0 and shipped.stdout.split(), shipped.stderr   # shipped there with rsync


@pytest.mark.skipif(not Path(sys.executable).with_name("horovodrun").exists(), reason="needs scripts/build_horovod.sh")
def test_horovod_across_the_two_hosts_matches_one_process_and_an_environment_is_built_there(workspace, tmp_path):
    """The Gloo rendezvous runs on the submit host at the address the hosts route to it by."""
    common = ["+debug=smoke", "dataset.limit_train=3000", "trainer.epochs=2", "registry.enabled=false"]
    single = run_trainkit([*common, "run.experiment=hvd_single"])
    assert single.returncode == 0, single.stderr[-2000:]
    hosts = ssh_overrides([{"host": a, "user": "root", "slots": 1} for a in NS_HOSTS], wait="true")
    proc = run_trainkit([*common, "distribution=horovod", "distribution.processes=2", *hosts, "run.experiment=hvd_ssh"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Horovod rendezvous at 10.77.0.1:" in proc.stdout
    loss = lambda out: float(re.search(r"epoch 1/2 loss=([\d.]+)", out).group(1))  # noqa: E731
    assert abs(loss(proc.stdout) - loss(single.stdout)) / loss(single.stdout) < 1e-3
    from .test_environments import TABULATE

    wheels = tmp_path / "wheels"   # the hosts have no route to PyPI: an air-gapped build from local wheels
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "tabulate==0.9.0", "-d", str(wheels)],
                   check=True, timeout=300)
    env = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0"]', f"environment.find_links=[{wheels}]",
                        "environment.no_index=true", *hosts, "distribution=multi_worker_mirrored",
                        "distribution.workers=2", "run.experiment=ssh_env"])
    assert env.returncode == 0, env.stdout[-3000:] + env.stderr[-3000:]
    assert env.stdout.count(": environment ") == 1             # one build for the two hosts' shared home
    assert "trainkit-remote/environments/" in env.stdout.split("tabulate 0.9.0 imported from ")[1]
