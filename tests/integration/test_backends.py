"""The backend contract (contract.py) on every compute target, each real: this machine, a one-node
Slurm, two sshd hosts in network namespaces (their default layout: the shared ~/trainkit-remote),
and a two-node Ray cluster (head on 10.77.0.1, a node in namespace tkh1)."""
from __future__ import annotations

import pytest

from ..conftest import FASHION
from .clusters import NS_HOSTS, ssh_overrides, start
from .contract import BackendContract

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]


class TestLocal(BackendContract):
    overrides = ["compute=local"]

    @pytest.fixture
    def target(self):
        yield


class TestSlurm(BackendContract):
    overrides = ["compute=slurm"]

    @pytest.fixture(scope="class")
    def target(self):
        start("slurm_up.sh")


class TestSsh(BackendContract):
    overrides = ssh_overrides([{"host": a, "user": "root", "slots": 1} for a in NS_HOSTS])

    @pytest.fixture(scope="class")
    def target(self):
        start("ssh_up.sh")


class TestRay(BackendContract):
    overrides = ["compute=ray", "compute.address=10.77.0.1:6379"]

    @pytest.fixture(scope="class")
    def target(self):
        pytest.importorskip("ray", reason="compute=ray needs the ray extra (scripts/setup.sh installs it)")
        start("ray_up.sh")
