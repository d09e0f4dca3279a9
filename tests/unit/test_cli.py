"""The `trainkit` command as a user meets it: one exit code per kind of error in every subcommand
(2 a bad argument, 4 an unknown run, model, dataset, sweep or environment), `--json` everywhere a
listing is, and `trainkit train` as `python -m trainkit`."""
from __future__ import annotations

import json

import pytest

from ..conftest import run_cli

BAD_ARGUMENTS = [
    ["runs"], ["runs", "list", "--nope"], ["runs", "logs", "x", "--stream", "bogus"], ["runs", "compare", "x"],
    ["jobs", "logs"], ["jobs", "list", "--limit", "many"], ["sweeps", "show", "x", "--mode", "sideways"],
    ["models", "download", "m", "--nope"], ["models", "alias"], ["models", "delete", "m"],
    ["models", "serve"], ["models", "register", "m"], ["datasets", "show", "d:latest"],
    ["environments", "build"], ["frobnicate"], ["init"],
]
UNKNOWN = [
    ["runs", "show", "20990101-000000-abcdef"], ["runs", "logs", "20990101-000000-abcdef"],
    ["runs", "download", "20990101-000000-abcdef"], ["jobs", "status", "20990101-000000-abcdef"],
    ["jobs", "logs", "20990101-000000-abcdef"], ["jobs", "cancel", "20990101-000000-abcdef"],
    ["models", "show", "nope"], ["models", "list", "nope"], ["models", "download", "nope"],
    ["models", "verify", "nope"], ["models", "delete", "nope:1"], ["models", "alias", "nope", "prod"],
    ["models", "predict", "nope", "--input", "x.npy"], ["sweeps", "show", "nope"], ["sweeps", "best", "nope"],
    ["datasets", "show", "nope"], ["datasets", "download", "nope"], ["environments", "show", "0123456789abcdef"],
    ["models", "register", "m", "--run", "20990101-000000-abcdef"],
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=lambda a: " ".join(a))
def test_a_bad_argument_exits_2_in_every_subcommand(args, workspace):
    res = run_cli(args)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and res.stderr.strip()


@pytest.mark.parametrize("args", UNKNOWN, ids=lambda a: " ".join(a))
def test_an_unknown_run_model_dataset_or_sweep_exits_4(args, workspace):
    res = run_cli(args)
    assert res.returncode == 4, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr


@pytest.mark.parametrize("args", [["runs", "list"], ["jobs", "list"], ["sweeps", "list"], ["models", "list"],
                                  ["datasets", "list"], ["environments", "list"]])
def test_every_listing_prints_json(args, workspace):
    res = run_cli([*args, "--json"])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []


def test_trainkit_train_is_python_m_trainkit(workspace):
    res = run_cli(["train", "trainer.epochs=0"])
    assert res.returncode == 2 and "trainer.epochs: expected an integer >= 1, got 0" in res.stderr
    res = run_cli(["train", "trainer.epochz=3"])
    assert res.returncode == 2 and "trainer.epochz" in res.stderr


def test_the_error_to_exit_code_map_is_one_table():
    from trainkit import errors

    assert errors.exit_code(errors.UsageError("x")) == errors.exit_code(errors.ConfigError(["x"])) == 2
    assert errors.exit_code(errors.DataFormatError("f", "w", 1, 2)) == 3
    assert errors.exit_code(errors.NotFoundError("x")) == 4
    assert errors.exit_code(errors.CheckpointError("x")) == 2 and errors.exit_code(ValueError()) == 1
    assert errors.ConfigError(["x"]).exit_code == 2
