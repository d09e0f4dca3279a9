"""Issue 15, item 1: a tampered entry.json must not make `models download` (or verify/update) touch
anything outside the version's directory or the download destination."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from trainkit.errors import IntegrityError
from trainkit.registry.store import Registry

from ..conftest import run_cli

PAYLOAD = b"#!/bin/sh\necho pwned\n"


def tamper(reg_root: Path, rel: str) -> Path:
    """Add `rel` to version 1's manifest, with a matching file where the old code would read it."""
    version = reg_root / "m" / "versions" / "1"
    planted = Path(os.path.normpath(f"{version}/artifacts/{rel}"))
    if not planted.is_dir():                 # "" and "." name the artifacts directory itself
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_bytes(PAYLOAD)
    entry = json.loads((version / "entry.json").read_text())
    entry["manifest"][rel] = {"sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": len(PAYLOAD)}
    (version / "entry.json").write_text(json.dumps(entry))
    return planted


@pytest.mark.parametrize("rel", ["../evil.sh", "../../../../../../../../{tmp}/abs_evil.sh", "{tmp}/abs_evil.sh",
                                 "a/./b", "a//b", "a\\..\\evil.sh", "", "."])
def test_unsafe_manifest_paths_are_refused_and_nothing_is_written_outside(tmp_path, small_artifacts, rel):
    rel = rel.replace("{tmp}", str(tmp_path).lstrip("/")) if rel.startswith("../") else rel.replace("{tmp}", str(tmp_path))
    reg = Registry(str(tmp_path / "reg"))
    reg.register("m", {"model.keras": small_artifacts["model.keras"]}, {})
    tamper(tmp_path / "reg", rel)
    dest = tmp_path / "out" / "dl"
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(IntegrityError, match="manifest path"):
        reg.download("m", 1, dest)
    for call in (lambda: reg.entry("m:1"), lambda: reg.verify("m", 1),
                 lambda: reg.update("m", 1, {"x": 1})):
        with pytest.raises(IntegrityError, match="manifest path"):
            call()
    written = {p for p in tmp_path.rglob("*")} - before
    assert not [p for p in written if not p.is_relative_to(dest)], written


def test_cli_download_of_a_tampered_entry_exits_6_and_writes_nothing_outside(tmp_path, small_artifacts):
    reg = Registry(str(tmp_path / "reg"))
    reg.register("m", {"model.keras": small_artifacts["model.keras"]}, {})
    tamper(tmp_path / "reg", "../../evil.sh")
    work = tmp_path / "home" / "work"
    work.mkdir(parents=True)
    res = run_cli(["models", "--registry", str(tmp_path / "reg"), "download", "m:1", "--to", str(work / "dl")])
    assert res.returncode == 6, res.stderr
    assert "'../../evil.sh'" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "home" / "evil.sh").exists() and not (work / "evil.sh").exists()


def test_a_symlink_inside_the_destination_cannot_redirect_a_download(tmp_path, small_artifacts):
    reg = Registry(str(tmp_path / "reg"))
    reg.register("m", {"saved_model": small_artifacts["saved_model"]}, {})
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "saved_model").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IntegrityError, match="outside the destination"):
        reg.download("m", 1, dest)
    assert list(outside.iterdir()) == []


def test_safe_downloads_still_work_and_leave_no_temporary_files(tmp_path, small_artifacts):
    reg = Registry(str(tmp_path / "reg"))
    reg.register("m", small_artifacts, {})
    files = reg.download("m", 1, tmp_path / "dl")
    assert sorted(str(p.relative_to(tmp_path / "dl")) for p in files) == [
        "model.keras", "saved_model/saved_model.pb", "saved_model/variables/variables.index"]
    assert not [p for p in (tmp_path / "dl").rglob(".*")]
    assert (tmp_path / "dl" / "model.keras").read_bytes() == small_artifacts["model.keras"].read_bytes()


def test_a_file_whose_name_could_not_be_read_back_is_refused_at_registration(tmp_path, small_artifacts):
    from trainkit.errors import UsageError

    (small_artifacts["saved_model"] / "assets").mkdir()
    (small_artifacts["saved_model"] / "assets" / "a\\..\\b").write_bytes(b"x")
    reg = Registry(str(tmp_path / "reg"))
    with pytest.raises(UsageError, match=r"saved_model/assets/a\\\\..\\\\b"):
        reg.register("m", small_artifacts, {})
    assert reg.versions("m") == [] and list((tmp_path / "reg" / "m" / ".staging").iterdir()) == []
    with pytest.raises(UsageError, match="artifact name"):
        reg.register("m", {"../x": small_artifacts["model.keras"]}, {})
