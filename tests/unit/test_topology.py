"""Topology is pure: rank tables, TF_CONFIG and Horovod host lists against literal expectations."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import compose
from trainkit.topology import (Role, WorkerEnv, assign_slots, cluster_spec, horovod_hosts, process_count,
                               roles, tf_configs)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


@pytest.mark.parametrize("dist,expected", [
    ({"name": "single"}, 1),
    ({"name": "mirrored", "logical_cpus": 4}, 1),
    ({"name": "multi_worker_mirrored", "workers": 3}, 3),
    ({"name": "parameter_server", "workers": 2, "ps": 1}, 4),
    ({"name": "horovod", "processes": 5}, 5),
])
def test_process_counts(dist, expected):
    assert process_count(dist) == expected


def test_parameter_server_rank_table():
    assert roles({"name": "parameter_server", "workers": 2, "ps": 2}) == [
        Role(0, "chief", 0, False),
        Role(1, "worker", 0, True),
        Role(2, "worker", 1, True),
        Role(3, "ps", 0, True),
        Role(4, "ps", 1, True),
    ]


def test_multi_worker_rank_table_has_worker_0_as_chief():
    table = roles({"name": "multi_worker_mirrored", "workers": 3})
    assert [(r.rank, r.task_type, r.task_index, r.server, r.is_chief) for r in table] == [
        (0, "worker", 0, False, True), (1, "worker", 1, False, False), (2, "worker", 2, False, False)]


@pytest.mark.parametrize("name,dist", [
    ("tf_config_multi_worker_mirrored.json", {"name": "multi_worker_mirrored", "workers": 2}),
    ("tf_config_parameter_server.json", {"name": "parameter_server", "workers": 2, "ps": 1}),
])
def test_tf_config_per_rank_matches_golden(name, dist):
    addresses = [f"10.0.0.{i + 1}:{2222 + i}" for i in range(process_count(dist))]
    got = [json.loads(c) for c in tf_configs(dist, addresses)]
    assert got == json.loads((GOLDEN / name).read_text())


def test_no_tf_config_for_in_process_strategies():
    assert tf_configs({"name": "single"}, ["a:1"]) is None
    assert tf_configs({"name": "horovod", "processes": 2}, ["a:1", "b:2"]) is None


def test_cluster_spec_needs_one_address_per_rank():
    with pytest.raises(ValueError, match="expected 4 addresses"):
        cluster_spec(roles({"name": "parameter_server", "workers": 2, "ps": 1}), ["a:1"])


def test_slot_assignment_and_horovod_hosts():
    assert assign_slots([("h1", 2), ("h2", 2)], 3) == [("h1", 0), ("h1", 1), ("h2", 0)]
    assert horovod_hosts(assign_slots([("h1", 2), ("h2", 2)], 3)) == "h1:2,h2:1"
    assert horovod_hosts(assign_slots([("localhost", 2)], 2)) == "localhost:2"
    with pytest.raises(ValueError, match="5 processes need 5 slots, the hosts have 4"):
        assign_slots([("h1", 2), ("h2", 2)], 5)


def test_worker_env_prefers_horovod_then_trainkit_variables():
    assert WorkerEnv.detect({}) == WorkerEnv(0, 1, 0)
    assert WorkerEnv.detect({"TRAINKIT_RANK": "2", "TRAINKIT_WORLD_SIZE": "4", "TRAINKIT_LOCAL_RANK": "0"}) == \
        WorkerEnv(2, 4, 0)
    # horovodrun's ranks inherit the launcher's environment: HOROVOD_* wins
    assert WorkerEnv.detect({"TRAINKIT_RANK": "0", "HOROVOD_RANK": "1", "HOROVOD_SIZE": "2",
                             "HOROVOD_LOCAL_RANK": "1"}) == WorkerEnv(1, 2, 1)


def test_horovod_missing_is_refused_before_anything_is_created(monkeypatch, tmp_path):
    from trainkit.compute import hostinfo, local
    from trainkit.errors import TrainkitError

    monkeypatch.setattr(hostinfo, "horovodrun", lambda: tmp_path / "no-horovodrun")   # the one seam
    backend = local.LocalBackend({"name": "local"})
    with pytest.raises(TrainkitError, match="horovod is not installed.*\n  bash scripts/build_horovod.sh"):
        backend.preflight({"distribution": {"name": "horovod", "processes": 2}})
    backend.preflight({"distribution": {"name": "multi_worker_mirrored", "workers": 2}})


def test_local_plan_sets_rank_and_tf_config_per_process(tmp_path):
    from omegaconf import OmegaConf

    from trainkit.compute.local_node import plan
    from trainkit.records.spec import JobSpec

    base = OmegaConf.to_container(compose([]), resolve=True)
    base.pop("hydra", None)

    def spec(dist, n):
        return JobSpec(run_id="r", experiment="e", run_dir=str(tmp_path), workspace=str(tmp_path),
                       config={**base, "distribution": dist, "environment": {**base["environment"], "env_vars": {"A": "1"}}},
                       overrides=[],
                       config_hash="h", dataset={}, project_root=str(tmp_path), world_size=n)

    procs = plan(spec({"name": "parameter_server", "workers": 2, "ps": 1}, 4))
    assert [ranks for ranks, _, _ in procs] == [[0], [1], [2], [3]]
    configs = [json.loads(env["TF_CONFIG"]) for _, _, env in procs]
    assert [c["task"] for c in configs] == [{"type": "chief", "index": 0}, {"type": "worker", "index": 0},
                                            {"type": "worker", "index": 1}, {"type": "ps", "index": 0}]
    ports = [a.rsplit(":", 1)[1] for a in configs[0]["cluster"]["worker"] + configs[0]["cluster"]["ps"]]
    assert len(set(ports)) == 3 and all(env["A"] == "1" and env["GRPC_FAIL_FAST"] == "use_caller"
                                        for _, _, env in procs)
    [(ranks, cmd, env)] = plan(spec({"name": "horovod", "processes": 2, "backend": "gloo"}, 2))
    assert ranks == [0, 1] and cmd[1:6] == ["-np", "2", "-H", "localhost:2", "--gloo"]
    assert "TRAINKIT_RANK" not in env and "TF_CONFIG" not in env


def test_core_share_gives_each_local_rank_its_own_block_of_the_allowed_cores():
    from trainkit.topology import core_share

    assert [core_share({0, 1}, r, 2) for r in range(2)] == [[0], [1]]
    assert [core_share(range(8), r, 2) for r in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [core_share([3, 5], r, 4) for r in range(4)] == [[3], [5], [3], [5]]   # more processes than cores
    assert core_share([2, 3], 0, 1) == [2, 3]
    with pytest.raises(ValueError, match="at least one allowed core"):
        core_share([], 0, 1)


@pytest.mark.parametrize("count,gb,k", [(60000, 64, 50), (442, 32, 50), (100, 10, 5), (64, 64, 50)])
def test_group_indices_cover_each_epoch_once_in_fixed_shapes(count, gb, k):
    """In-memory step groups: every group has k steps (the last padded), the real steps use each
    of the first steps*gb permuted indices once, and replicas get their columns in order."""
    import numpy as np

    from trainkit.train.loop import group_indices

    steps = count // gb
    idx, real = group_indices(count, gb, k, 7, 0, 1, gb)
    assert idx.shape == (-(-steps // k), k, gb) and real.sum() == steps and (real <= k).all()
    used = np.concatenate([g[:n].ravel() for g, n in zip(idx, real)])
    assert len(used) == steps * gb and len(set(used.tolist())) == steps * gb and used.max() < count
    assert not np.array_equal(used, np.arange(steps * gb))                         # shuffled
    halves, real2 = group_indices(count, gb, k, 7, 0, 2, gb // 2)                   # 2 replicas, 1 pipeline
    np.testing.assert_array_equal(halves[0::2], idx[:, :, :gb // 2])
    np.testing.assert_array_equal(halves[1::2], idx[:, :, gb // 2:])
    np.testing.assert_array_equal(real2, np.repeat(real, 2))
    second, _ = group_indices(count, gb, k, 7, gb // 2, 1, gb // 2)                # worker 1 of 2
    np.testing.assert_array_equal(second, idx[:, :, gb // 2:])
