"""A team's own project: trainkit from a wheel in a fresh venv, `trainkit init`, the project's conf/
overlaying trainkit's, its own model with its own parameters, on several strategies."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]

WIDE = '''"""A project's own model: any parameters it likes."""


def build(input_shape, num_classes, width, depth):
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    for _ in range(depth):
        x = keras.layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x))
'''


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    [whl] = out.glob("trainkit-*.whl")
    return whl


def test_the_wheel_holds_trainkit_its_configs_and_models_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    # trainkit_azureml.pth: one line that does nothing unless $TRAINKIT_AZUREML=1 (setup.py)
    assert {t for t in tops if not t.endswith(".dist-info")} == {"trainkit", "hydra_plugins", "trainkit_azureml.pth"}
    assert "trainkit/conf/config.yaml" in names and "trainkit/models/mnist_dnn.py" in names
    assert {f"trainkit/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")} <= set(names)
    assert not any(n.startswith(("models/", "conf/", "tests/", "scripts/")) for n in names)


def test_from_a_fresh_venv_init_a_project_that_trains_registers_and_exports(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    res = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True,
                         timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TRAINKIT_WORKSPACE=str(tmp_path / "ws"), PATH=f"{venv / 'bin'}:{env['PATH']}")
    init = subprocess.run(["trainkit", "init", "proj"], cwd=empty, env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    proc = subprocess.run(["python", "-m", "trainkit", "+experiment=example", "+debug=smoke"], cwd=empty / "proj", env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "registered example:1; ONNX opset 17" in proc.stdout
    assert "WARNING: All log messages before absl" not in proc.stdout + proc.stderr     # quiet by default
    run = Path(re.search(r"run \S+ completed: .* -> (\S+)", proc.stdout).group(1))
    files = sorted(p.relative_to(run / "source" / "files").as_posix() for p in (run / "source" / "files").rglob("*")
                   if p.is_file())
    assert files == [".trainkitignore", "README.md", "conf/experiment/example.yaml", "conf/model/example.yaml",
                     "proj/__init__.py", "proj/model.py"]                             # the project's, not trainkit's
    entry = json.loads(subprocess.run(["trainkit", "models", "show", "example", "--json"], env=env, cwd=empty,
                                      capture_output=True, text=True).stdout)
    assert entry["onnx"]["status"] == "ok" and entry["version"] == 1
    record = (next((venv / "lib").glob("python3.*/site-packages/trainkit-*.dist-info")) / "RECORD").read_text()
    installed = {line.split(",")[0].split("/")[0] for line in record.splitlines()}
    assert {t for t in installed if not t.endswith(".dist-info") and t != ".."} == {"trainkit", "hydra_plugins",
                                                                                  "trainkit_azureml.pth"}


def wide_project(tmp_path: Path, width: int = 64, depth: int = 3) -> Path:
    """`trainkit init` tmp_path/team, plus the project's own model (mymodels/wide.py) and its
    config group option model=wide; the Slurm and ssh tests use it too."""
    res = run_cli(["init", str(tmp_path / "team")])
    assert res.returncode == 0, res.stderr
    root = tmp_path / "team"
    (root / "mymodels").mkdir()
    (root / "mymodels" / "__init__.py").write_text("")
    (root / "mymodels" / "wide.py").write_text(WIDE)
    (root / "conf" / "model" / "wide.yaml").write_text(
        f"_target_: mymodels.wide.build\nname: wide\nwidth: {width}\ndepth: {depth}\n")
    return root


@pytest.fixture
def project(tmp_path) -> Path:
    return wide_project(tmp_path)


def run_in(project: Path, args: list[str], **kw) -> subprocess.CompletedProcess:
    return run_trainkit(["+experiment=example", "+debug=smoke", *args], cwd=project, **kw)


def test_a_project_model_takes_its_own_parameters_and_a_typo_names_the_key(project, workspace):
    ok = run_in(project, ["model=wide", "model.width=32"])
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    [run] = json.loads(run_cli(["runs", "list", "--json"]).stdout)
    config = (Path(run["path"]) / "config.yaml").read_text()
    assert "_target_: mymodels.wide.build" in config and "width: 32" in config and "depth: 3" in config
    params = json.loads(run_cli(["models", "show", "example", "--json"]).stdout)["signature"]
    assert params["inputs"][0]["shape"] == [None, 28, 28]
    for typo in (["model=wide", "model.widht=32"], ["model=wide", "+model.widht=32"]):
        bad = run_in(project, typo)
        assert bad.returncode == 2 and "model.widht" in bad.stderr, bad.stderr
    missing = run_in(project, ["model=wide", "~model.width"])
    assert missing.returncode == 2
    assert "model.width: mymodels.wide.build requires it, and it is not set" in missing.stderr
    assert len(json.loads(run_cli(["runs", "list", "--json"]).stdout)) == 1      # the bad ones created nothing


def test_the_project_overrides_a_builtin_option_by_name_and_its_model_runs_multi_worker(project, workspace):
    (project / "conf" / "model" / "mnist_dnn.yaml").write_text("_target_: mymodels.wide.build\nname: mine\nwidth: 16\ndepth: 1\n")
    shown = run_trainkit(["model=mnist_dnn", "--cfg", "job"], cwd=project)
    assert "_target_: mymodels.wide.build" in shown.stdout and "width: 16" in shown.stdout
    proc = run_in(project, ["model=wide", "distribution=multi_worker_mirrored", "distribution.workers=2"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[rank 1] " in proc.stdout and "registered example:1" in proc.stdout


def test_adamw_with_weight_decay_and_a_cosine_schedule_from_the_command_line(project, workspace):
    import math

    proc = run_in(project, ["trainer.epochs=4", "trainer.optimizer=adamw", "+trainer.optimizer_args={weight_decay: 0.004}",
                            "trainer.lr_schedule=cosine", "trainer.learning_rate=0.002", "trainer.steps_per_call=5"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    [run] = json.loads(run_cli(["runs", "list", "--json"]).stdout)
    history = json.loads(run_cli(["runs", "show", run["id"], "--json"]).stdout)["history"]
    steps = 2500 // 64
    for h in history:   # the learning rate each epoch ends at, as the cosine schedule says
        expected = 0.002 * 0.5 * (1 + math.cos(math.pi * h["epoch"] * steps / (4 * steps)))
        assert h["learning_rate"] == pytest.approx(expected, rel=1e-4, abs=1e-9), h
    config = (Path(run["path"]) / "config.yaml").read_text()
    assert "optimizer: adamw" in config and "weight_decay: 0.004" in config
