"""Environments built with uv, not just checked: the first run builds, the next reuses, a changed
spec builds anew, a bad requirement is refused before anything exists (local runs; Slurm and ssh
in their own test files)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]
TABULATE = ["+debug=smoke", "entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}",
            "entry.script=uses_tabulate.py", "entry.model_path=null", "run.resume=never"]


def run_dir(stdout: str) -> Path:
    return Path(re.search(r"run \S+ completed: .* -> (\S+)", stdout).group(1))


def test_an_environment_is_built_once_reused_recorded_and_changed_by_its_spec(workspace):
    first = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0"]'])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert re.search(r"environment \w+: built \(", first.stdout)
    env_dir = next((workspace / "environments").glob("*/ready.json")).parent
    assert f"imported from {env_dir}" in first.stdout                  # the worker ran the built interpreter
    second = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0"]'])
    assert second.returncode == 0, second.stderr[-2000:]
    reused = re.search(r"environment (\w+): reused \(([\d.]+) s\)", second.stdout)
    assert reused and reused.group(1) == env_dir.name and float(reused.group(2)) < 1.0
    info = json.loads((run_dir(second.stdout) / "environment.json").read_text())["built_environment"]
    assert info["hash"] == env_dir.name and info["reused"] and "tabulate==0.9.0" in info["lock"]
    assert info["spec"]["requirements"] == ["tabulate==0.9.0"]
    changed = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.8.10"]'])
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert "tabulate 0.8.10 imported" in changed.stdout
    listed = json.loads(run_cli(["environments", "list", "--json"]).stdout)
    assert len(listed) == 2 and env_dir.name in {e["hash"] for e in listed}   # the old one is left


def test_a_bad_requirement_exits_2_naming_it_before_anything_exists(workspace):
    proc = run_trainkit([*TABULATE, 'environment.pip=["tabulate==0.9.0","no-such-package-trainkit==9.9"]'])
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "environment.pip: building requirement(s) 'no-such-package-trainkit==9.9' failed" in proc.stderr
    assert not (workspace / "experiments").exists()
    assert not list((workspace / "environments").glob("*/ready.json"))


# ------------------------------------------------------------------ issue 23 item 6
def make_wheel(directory: Path, version: str = "0.1") -> Path:
    """A real, minimal pure-Python wheel of a package `tk_probe` (no network needed to install it)."""
    import base64
    import hashlib
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    info = f"tk_probe-{version}.dist-info"
    files = {"tk_probe/__init__.py": f"VERSION = {version!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tk-probe\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: trainkit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for name, text in files.items()] + [f"{info}/RECORD,,"]
    path = directory / f"tk_probe-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in {**files, f"{info}/RECORD": "\n".join(record) + "\n"}.items():
            z.writestr(name, text)
    return path


def serve_index(wheel: Path, user: str, password: str):
    """A PEP 503 simple index on 127.0.0.1 that answers only with these credentials; returns
    (server, port, authorized requests seen)."""
    import base64
    import hashlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pages = {"/simple/": b'<a href="tk-probe/">tk-probe</a>',
             "/simple/tk-probe/": f'<a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>'.encode(),
             f"/files/{wheel.name}": wheel.read_bytes()}
    seen = []

    class Index(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.do_GET(send_body=False)

        def do_GET(self, send_body: bool = True):
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
                self.end_headers()
                return
            body = pages.get(self.path)
            seen.append(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html" if self.path.startswith("/simple") else "application/octet-stream")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            if send_body:
                self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1], seen


def test_index_credentials_reach_uv_but_no_record_and_no_command_line(workspace, tmp_path):
    """Credentials in environment.index_url (given as `${oc.env:...}`, so that the command itself holds
    none) authenticate uv against a real index, and never appear in config.yaml, spec.json,
    environment.json, the environment's spec.json or any process's command line meanwhile."""
    import os
    import threading

    import uuid

    secret = f"s3cret-{uuid.uuid4().hex}"     # in no file, this one included
    server, port, seen = serve_index(make_wheel(tmp_path / "wheels"), "trainkit", secret)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "probe.py").write_text("import tk_probe\nprint('tk_probe', tk_probe.VERSION, 'from', tk_probe.__file__)\n")
    stop, leaks = threading.Event(), set()

    def watch():   # every process's command line, while the run builds and trains
        while not stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    if secret.encode() in cmdline.read_bytes():
                        leaks.add(cmdline.parent.name)
                except OSError:
                    pass
            stop.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        proc = run_trainkit(["+debug=smoke", "entry=script", f"entry.source_dir={proj}", "entry.script=probe.py",
                             "entry.model_path=null", "run.resume=never", 'environment.pip=["tk-probe==0.1"]',
                             f"environment.index_url=http://trainkit:${{oc.env:TK_INDEX_TOKEN}}@127.0.0.1:{port}/simple/"],
                            {"TK_INDEX_TOKEN": secret})
    finally:
        stop.set()
        watcher.join()
        server.shutdown()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "tk_probe 0.1 from" in proc.stdout and "/files/tk_probe-0.1-py3-none-any.whl" in seen
    assert not leaks, f"the secret was on the command line of process(es) {leaks}"
    written = [p for p in workspace.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size < 5e6
               and secret.encode() in p.read_bytes()]
    assert not written, written
    run = run_dir(proc.stdout)
    info = json.loads((run / "environment.json").read_text())["built_environment"]
    assert info["spec"]["index_url"] == f"http://***@127.0.0.1:{port}/simple/"
    assert info["spec"]["interpreter"].endswith(f"({'.'.join(map(str, __import__('sys').version_info[:3]))})")
    assert "http://***@127.0.0.1" in (run / "config.yaml").read_text()
    assert os.environ.get("TK_INDEX_TOKEN") is None


def test_a_leftover_environment_directory_or_another_python_never_breaks_or_shares_a_build(tmp_path):
    """A prune killed midway left <hash>/ without ready.json and broke that spec for good (`mv:
    Directory not empty`); an environment built on one Python was reused for another."""
    import shutil
    import sys

    from trainkit.compute.envs import build_here

    env_cfg = {"pip": ["tk-probe==0.1"], "find_links": [str(make_wheel(tmp_path / "wheels").parent)], "no_index": True}
    root = tmp_path / "environments"
    first = build_here(root, env_cfg, echo=lambda *a: None)
    env = Path(first["path"])
    (env / "ready.json").unlink()                 # what a prune killed midway leaves: no ready.json, half a tree
    shutil.rmtree(env / "bin")
    (env / f"{env.name}.tmp").mkdir()
    again = build_here(root, env_cfg, echo=lambda *a: None)
    assert again["hash"] == first["hash"] and not again["reused"]
    assert (env / "ready.json").exists() and (env / "bin" / "python").exists() and not (env / f"{env.name}.tmp").exists()
    other = shutil.which("python3", path="/usr/bin")
    assert other and other != sys.executable
    built_on_other = build_here(root, env_cfg, base=other, echo=lambda *a: None)
    assert built_on_other["hash"] != first["hash"] and built_on_other["spec"]["interpreter"].startswith(f"{other} (")
    assert first["spec"]["interpreter"].startswith(f"{sys.executable} (")


def test_requirements_file_lines_are_validated_like_pip_items(workspace, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# pinned\ntabulate==0.9.0\n--index-url https://user:pw@example.org/simple\n")
    proc = run_trainkit([*TABULATE, f"environment.requirements_file={req}"])
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"environment.requirements_file: {req} line 3: expected a requirement like 'tabulate==0.9.0', got " \
           "'--index-url https://***@example.org/simple'" in proc.stderr and "user:pw" not in proc.stderr
    assert not (workspace / "experiments").exists() and not (workspace / "environments").exists()
