"""Issue 15, item 9: on a filesystem whose "xb" silently overwrites, two registrations must not
take the same version number."""
from __future__ import annotations

from trainkit.registry.store import ModelRef, Registry

from ..conftest import max_overlap, wait_ready
from .helpers import popen, python
from .overwriting_fs import PROTOCOL

CONCURRENT = """
import os, sys, time
import tests.faults.overwriting_fs
from trainkit.registry.store import Registry
root, src, go = sys.argv[1:4]
open(f"{go}.ready-{os.getpid()}", "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
started = time.time()
version = Registry(root).register("m", {"model.keras": src}, {"pid": os.getpid()})["version"]
print(version, started, time.time(), flush=True)
"""


def test_the_test_filesystem_really_overwrites_on_exclusive_create(tmp_path):
    import fsspec

    fs, path = fsspec.core.url_to_fs(f"{PROTOCOL}://{tmp_path}/f")
    for data in (b"first", b"second"):
        with fs.open(path, "xb") as f:                        # no FileExistsError the second time
            f.write(data)
    assert (tmp_path / "f").read_bytes() == b"second"


def test_concurrent_registrations_on_an_overwriting_filesystem_get_distinct_versions(tmp_path, small_artifacts):
    url = f"{PROTOCOL}://{tmp_path / 'reg'}"
    for round_ in range(3):
        go = tmp_path / f"go{round_}"
        procs = [popen(python(CONCURRENT, url, small_artifacts["model.keras"], go)) for _ in range(6)]
        wait_ready(go, 6)                                      # every interpreter waits on the flag
        go.touch()
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
        got = [int(o[0].split()[0]) for o in outs]
        spans = [(float(o[0].split()[1]), float(o[0].split()[2])) for o in outs]
        assert max_overlap(spans) >= 2, f"round {round_}: the registrations never overlapped: {spans}"
        assert len(set(got)) == len(got), f"round {round_}: two registrations took one number: {sorted(got)}"
    reg = Registry(url)
    versions = reg.versions("m")
    assert len(versions) == 18
    assert len({reg.entry(ModelRef("m", v))["pid"] for v in versions}) == 18      # none overwritten
    assert all(reg.verify("m", v) == [] for v in versions)
    assert not [p for p in (tmp_path / "reg" / "m" / "claims").iterdir() if ".bid-" in p.name]


def test_local_roots_keep_the_exclusive_create_and_dense_numbers(tmp_path, small_artifacts):
    reg = Registry(str(tmp_path / "reg"))
    assert reg.exclusive and not Registry(f"{PROTOCOL}://{tmp_path / 'x'}").exclusive
    assert not Registry("memory://claims-test").exclusive       # memory:// checks, then creates
    assert [reg.register("m", small_artifacts, {})["version"] for _ in range(3)] == [1, 2, 3]


def test_a_registry_on_memory_still_works_sequentially():
    reg = Registry("memory://claims-seq")
    src = {"a.bin": __file__}
    assert [reg.register("m", src, {})["version"] for _ in range(3)] == [1, 2, 3]
    reg.fs.rm(reg.root, recursive=True)




def test_a_bid_left_by_a_crashed_registration_burns_its_number_and_blocks_nothing(tmp_path, small_artifacts):
    claims = tmp_path / "reg" / "m" / "claims"
    claims.mkdir(parents=True)
    (claims / "1.bid-deadhost__7__1700000000__abcd1234").write_text("{}")
    reg = Registry(f"{PROTOCOL}://{tmp_path / 'reg'}")
    assert reg.register("m", small_artifacts, {})["version"] == 2
    assert reg.verify("m", 2) == [] and sorted(p.name for p in claims.iterdir()) == [
        "1.bid-deadhost__7__1700000000__abcd1234", "2"]
