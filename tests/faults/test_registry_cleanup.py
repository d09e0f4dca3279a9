"""Issue 15, item 7: cleanup must never delete a live registration. Liveness is a heartbeat file's
content (not a directory mtime, not a pid read in another container), and a version is published
only once every manifest artifact is in its directory."""
from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from trainkit.errors import IntegrityError
from trainkit.registry import store
from trainkit.registry.store import Registry

from .helpers import PAUSED_REGISTER, container_prefix, dead_pid_here, popen, python, wait_for


def test_a_registration_in_another_container_with_the_same_host_name_is_not_deleted(tmp_path, small_artifacts):
    """The attack of the review: two containers share a host name; the second one's cleanup saw
    the first one's pid as dead (pids are per container) and deleted its half-published version,
    which then became visible with no artifacts."""
    pid = dead_pid_here()
    prefix = container_prefix(pid)
    if prefix is None:
        pytest.skip("cannot create a pid namespace here (needs unshare and root or user namespaces)")
    root, ready, go = tmp_path / "reg", tmp_path / "ready", tmp_path / "go"
    src = small_artifacts["model.keras"]
    child = popen(prefix + python(PAUSED_REGISTER, root, "m", src, ready, go))
    wait_for(ready, child)                                   # versions/1/artifacts moved, no entry.json yet
    assert int(child.stdout.readline()) == pid and not os.path.exists(f"/proc/{pid}")
    assert os.listdir(root / "m" / ".staging")[0].startswith(socket.gethostname() + "__")   # same host name
    reg = Registry(str(root))
    assert reg.register("m", {"model.keras": src}, {"pid": os.getpid()})["version"] == 2   # runs the cleanup
    go.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert int(out.split()[-1]) == 1
    assert reg.versions("m") == [1, 2]
    assert reg.verify("m", 1) == [] and reg.verify("m", 2) == []
    assert reg.entry("m:1")["pid"] == pid


def test_a_version_is_not_published_when_an_artifact_vanished_before_entry_json(tmp_path, small_artifacts):
    root, ready, go = tmp_path / "reg", tmp_path / "ready", tmp_path / "go"
    child = popen(python(PAUSED_REGISTER, root, "m", small_artifacts["model.keras"], ready, go))
    wait_for(ready, child)
    (root / "m" / "versions" / "1" / "artifacts" / "model.keras").unlink()   # what the bad cleanup did
    go.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode != 0 and "IntegrityError" in err and "model.keras" in err, (out, err)
    reg = Registry(str(root))
    assert reg.versions("m") == []                                      # nothing visible
    assert reg.register("m", small_artifacts, {})["version"] == 2        # 1 stays used, the next works
    assert reg.verify("m", 2) == []
    assert sorted(os.listdir(root / "m" / "versions")) == ["2"]


def _staging_dir(root, owner: str, beat: float | None, dir_mtime: float | None = None) -> None:
    d = root / "m" / ".staging" / owner
    (d / "artifacts").mkdir(parents=True)
    (d / "artifacts" / "model.keras").write_bytes(b"partial")
    if beat is not None:
        (d / "heartbeat").write_text(json.dumps({"owner": owner, "time": beat}))
    if dir_mtime is not None:
        os.utime(d, (dir_mtime, dir_mtime))


def test_cleanup_judges_other_hosts_by_the_heartbeat_content_not_the_directory_mtime(tmp_path):
    root, now = tmp_path / "reg", time.time()
    days_ago = int(now - 3 * 86400)
    alive, dead = f"gpu7__41__{days_ago}__0123456789ab__aaaaaaaa", f"gpu8__42__{days_ago}__0123456789ab__bbbbbbbb"
    _staging_dir(root, alive, beat=now, dir_mtime=now - 3 * 86400)               # slow, but beating
    _staging_dir(root, dead, beat=now - 2 * store.STALE_S, dir_mtime=now)        # silent for 20 min
    removed = Registry(str(root)).clean_leftovers("m")
    assert sorted(os.listdir(root / "m" / ".staging")) == [alive]
    assert [p.rsplit("/", 1)[-1] for p in removed] == [dead]


def test_a_staging_directory_without_a_heartbeat_yet_is_judged_by_its_name(tmp_path):
    """A kill between creating the directory and writing the first heartbeat (SIGKILL found it)."""
    root, now, here = tmp_path / "reg", int(time.time()), store._namespace()
    dead_here = f"{socket.gethostname()}__{dead_pid_here()}__{now}__{here}__aaaaaaaa"
    starting_elsewhere = f"{socket.gethostname()}__{dead_pid_here()}__{now}__0123456789ab__bbbbbbbb"
    legacy = f"{socket.gethostname()}__{dead_pid_here()}__cccccccc"             # written by trainkit < issue 15
    for owner in (dead_here, starting_elsewhere, legacy):
        _staging_dir(root, owner, beat=None)
    Registry(str(root)).clean_leftovers("m")
    assert os.listdir(root / "m" / ".staging") == [starting_elsewhere]


def test_a_slow_registration_keeps_its_heartbeat_fresh(tmp_path, small_artifacts, monkeypatch):
    monkeypatch.setattr(store, "HEARTBEAT_S", 0.05)
    reg, beats = Registry(str(tmp_path / "reg")), []

    def slow_upload():                      # called between staging and claiming
        staging = next((tmp_path / "reg" / "m" / ".staging").iterdir())
        for _ in range(3):
            beats.append(json.loads((staging / "heartbeat").read_text())["time"])
            time.sleep(0.2)

    reg.register("m", small_artifacts, {}, on_staged=slow_upload)
    assert beats == sorted(beats) and beats[-1] - beats[0] >= 0.3, beats
    assert list((tmp_path / "reg" / "m" / ".staging").iterdir()) == []


def test_a_failed_publish_check_raises_an_integrity_error(tmp_path, small_artifacts, monkeypatch):
    reg = Registry(str(tmp_path / "reg"))
    real_move = Registry._move

    def lose_one(self, src, dst):
        real_move(self, src, dst)
        if dst.endswith("/artifacts") and "/versions/" in dst:
            os.unlink(f"{dst}/saved_model/saved_model.pb")

    monkeypatch.setattr(Registry, "_move", lose_one)
    with pytest.raises(IntegrityError, match=r"saved_model/saved_model.pb \(expected 1048576 bytes"):
        reg.register("m", small_artifacts, {})
    assert reg.versions("m") == [] and not (tmp_path / "reg" / "m" / "versions" / "1").exists()


def test_sigkill_between_the_move_and_entry_json_leaves_nothing_visible_and_is_cleaned_up(tmp_path, small_artifacts):
    """The narrowest window, hit on purpose (the random kills of test_kill.py rarely land in it)."""
    root, ready, go = tmp_path / "reg", tmp_path / "ready", tmp_path / "go"
    child = popen(python(PAUSED_REGISTER, root, "m", small_artifacts["model.keras"], ready, go))
    wait_for(ready, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    reg = Registry(str(root))
    assert reg.versions("m") == [] and (root / "m" / "versions" / "1" / "artifacts" / "model.keras").exists()
    assert reg.register("m", small_artifacts, {})["version"] == 2
    assert sorted(os.listdir(root / "m" / "versions")) == ["2"] and os.listdir(root / "m" / ".staging") == []
