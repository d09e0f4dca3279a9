"""Under CI a skip fails the session unless it is allow-listed (tests/conftest.py SkipGuard): run a
small suite with the real hook, in 2 xdist processes as the real suite runs."""
from __future__ import annotations

import os
import subprocess
import sys

from ..conftest import ROOT

CONFTEST = """
import tests.conftest as suite
from tests.conftest import pytest_configure   # registers the SkipGuard in the controlling process
suite.SKIP_ALLOWED["test_few.py::test_allowed"] = "allowed here: the test of the allow-list"
"""
TESTS = """
import pytest

def test_passes():
    assert True

def test_allowed():
    pytest.skip("a tool this machine may lack")

@pytest.mark.skipif(True, reason="the feature's package is missing")
def test_skipped():
    pass
"""


MODULE_SKIPPED = """
import pytest

pytest.importorskip("no_such_module_anywhere")     # a whole module skipped at collection


def test_never_collected():
    pass
"""


def run_suite(tmp_path, ci: str | None, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_few.py").write_text(TESTS)
    (tmp_path / "test_module.py").write_text(MODULE_SKIPPED)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci is not None else {})
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_under_ci_an_unexpected_skip_fails_the_session_and_is_named(tmp_path):
    res = run_suite(tmp_path, "true", "-n", "2")
    assert res.returncode == 1, res.stdout
    assert "SKIPPED (not allowed under CI): test_few.py::test_skipped: the feature's package is missing" in res.stdout
    assert "SKIPPED (not allowed under CI): test_module.py: could not import 'no_such_module_anywhere'" in res.stdout
    assert "allowed skip: test_few.py::test_allowed (allowed here: the test of the allow-list)" in res.stdout
    assert "test_few.py::test_allowed: " not in res.stdout          # the allowed one is not a failure


def test_outside_ci_a_skip_is_only_a_skip(tmp_path):
    res = run_suite(tmp_path, "false", "-n", "0")
    assert res.returncode == 0, res.stdout
    assert "1 passed, 3 skipped" in res.stdout and "not allowed under CI" not in res.stdout


def test_under_ci_only_allowed_skips_pass(tmp_path):
    res = run_suite(tmp_path, "true", "-n", "0", "test_few.py::test_passes", "test_few.py::test_allowed")
    assert res.returncode == 0, res.stdout
    assert "allowed skip: test_few.py::test_allowed" in res.stdout
