"""environment.keras "2" without TensorFlow: validation, the spec and its hash, the build's
arguments and its bash recipe (a stand-in uv records what it was asked), the offline wheel cache,
the script's variables, the import hooks (a real interpreter, a small stand-in tf_keras package),
the learning-rate translation, and telling saved formats apart by their files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainkit.config.validate import check_config, validate
from trainkit.errors import ConfigError
from trainkit.keras2_shim import PATH, is_keras2, requirement, wheel_glob
from trainkit.compute import envs

from ..conftest import ROOT, compose

SCRIPT = ["entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}", "entry.script=keras2_mnist.py"]
sys.path.insert(0, str(PATH))
import _trainkit_keras2 as hooks  # noqa: E402  (the shim's own module, as a script imports it)

sys.path.remove(str(PATH))


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("preset", ["tensorflow-2.21-keras2-cpu", "tensorflow-2.21-keras2-gpu"])
def test_the_keras2_presets_compose_for_a_script(preset):
    env = validate(compose([f"environment={preset}", *SCRIPT]))["environment"]
    assert env["keras"] == "2" and env["name"] == preset and env["tensorflow"] == "2.21"
    assert env["device"] == preset.rsplit("-", 1)[1]


@pytest.mark.parametrize("value, problem", [
    ("4", "environment.keras: expected '2' (Keras 2 for your script, tf-keras), '3' or null, got '4'"),
    ("two", "environment.keras: expected '2' (Keras 2 for your script, tf-keras), '3' or null, got 'two'"),
])
def test_a_keras_version_other_than_2_or_3_is_refused_naming_the_key(value, problem):
    assert problem in check_config(validate_free([f"environment.keras={value}", *SCRIPT]))


def test_keras2_is_for_scripts_trainkits_own_loop_is_keras3():
    problems = check_config(validate_free(["environment=tensorflow-2.21-keras2-cpu"]))
    assert any(p.startswith("environment.keras: '2' runs your own script with Keras 2 (entry=script)") and
               "got entry='trainer'" in p for p in problems), problems
    for ok in (["environment.keras=3"], ["environment.keras=3.15"], ["environment.keras=null"],
               ["environment.keras=2.21", *SCRIPT]):
        assert not [p for p in check_config(validate_free(ok)) if p.startswith("environment.keras")], ok
    with pytest.raises(ConfigError, match="environment.keras"):
        validate(compose(["environment=tensorflow-2.21-keras2-cpu"]))


def validate_free(overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose(overrides), resolve=True)


# ------------------------------------------------------------------ spec, hash, build arguments
ENV3 = {"name": "tensorflow-2.21-cpu", "python": "3.11", "keras": "3", "pip": ["tabulate==0.9.0"]}
ENV2 = {**ENV3, "name": "tensorflow-2.21-keras2-cpu", "keras": "2"}


def test_a_keras2_spec_pins_tf_keras_to_tensorflows_minor_and_hashes_apart():
    spec = envs.spec_of(ENV2, "py (3.11.7)", "2.21.0")
    assert spec["keras"] == "2" and spec["no_deps"] == ["tf-keras~=2.21.0"] == [requirement("2.21.3")]
    assert spec["requirements"] == ["tabulate==0.9.0"]                 # the user's own, installed with dependencies
    assert envs.spec_hash(spec) != envs.spec_hash(envs.spec_of(ENV3, "py (3.11.7)"))
    assert envs.spec_hash(spec) != envs.spec_hash(envs.spec_of(ENV2, "py (3.11.7)", "2.22.0"))   # TensorFlow moved on
    assert envs.wanted({"keras": "2"}) and not envs.wanted({"keras": "3"})   # Keras 2 alone asks for a build


def test_keras3_specs_keep_the_hash_they_had():
    spec = envs.spec_of(ENV3, "py (3.11.7)", "2.21.0")
    assert "keras" not in spec and "no_deps" not in spec          # environments built before keep being reused
    assert envs.spec_hash(spec) == envs.spec_hash(
        {"python": "3.11", "requirements": ["tabulate==0.9.0"], "index_url": None, "extra_index_urls": [],
         "find_links": [], "no_index": False, "base": "trainkit", "interpreter": "py (3.11.7)"})


def test_keras2_without_tensorflow_in_the_base_is_a_config_error():
    with pytest.raises(ConfigError, match="environment.keras: '2' installs the tf-keras of the base interpreter's "
                                          "TensorFlow; expected TensorFlow installed in py"):
        envs.spec_of(ENV2, "py (3.11.7)", "")


def test_tf_keras_installs_without_dependencies_offline_from_the_wheel_cache_else_from_the_index():
    spec = envs.spec_of({**ENV2, "find_links": ["/wheels"]}, "py", "2.21.0")
    assert envs.install_args(spec, wheels="/cache") == [
        "--find-links", "/wheels", "tabulate==0.9.0", envs.NO_DEPS, "--offline", "--find-links", "/cache",
        "tf-keras~=2.21.0"]
    assert envs.install_args(spec) == ["--find-links", "/wheels", "tabulate==0.9.0", envs.NO_DEPS,
                                       "--find-links", "/wheels", "tf-keras~=2.21.0"]
    alone = envs.spec_of({"keras": "2", "no_index": True}, "py", "2.21.0")
    assert envs.install_args(alone) == [envs.NO_DEPS, "--no-index", "tf-keras~=2.21.0"]   # no empty first install


def test_the_wheel_cache_counts_only_with_a_matching_tf_keras_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINKIT_WHEEL_CACHE", str(tmp_path))
    spec = envs.spec_of({"keras": "2"}, "py", "2.21.0")
    (tmp_path / "tf_keras-2.20.0-py3-none-any.whl").write_bytes(b"")
    assert envs.wheel_cache(spec) is None
    (tmp_path / "tf_keras-2.21.0-py3-none-any.whl").write_bytes(b"")
    assert envs.wheel_cache(spec) == str(tmp_path) and wheel_glob("tf-keras~=2.21.0") == "tf_keras-2.21.*-py3-none-any.whl"
    assert envs.wheel_cache(envs.spec_of({"keras": "3"}, "py")) is None


FAKE_UV = """#!/bin/sh
# uv's stand-in: `venv` makes a real (pip-less) venv, `pip install` records its arguments, `pip freeze` lists them
case "$1 $2" in
  "venv --quiet") "$BASE" -m venv --without-pip "$5" ;;
  "pip install") shift 2; echo "$*" >> "$UV_LOG" ;;
  "pip freeze") ;;
esac
"""


def test_the_build_recipe_installs_the_requirements_then_tf_keras_without_dependencies(tmp_path):
    uv = tmp_path / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
    log = tmp_path / "uv.log"
    spec = envs.spec_of(ENV2, "py", "2.21.0")
    cmd = envs.build_command(str(tmp_path / "envs"), spec, sys.executable, str(uv), wheels="/cache")
    res = subprocess.run(cmd, capture_output=True, text=True, input="\n\n",
                         env={**os.environ, "UV_LOG": str(log), "BASE": sys.executable})
    assert res.returncode == 0, res.stderr
    first, second = log.read_text().splitlines()
    assert first.endswith(envs.spec_hash(spec) + ".tmp/bin/python tabulate==0.9.0") and "--no-deps" not in first
    assert second.startswith("--quiet --no-deps --python ") and second.endswith(
        "/bin/python --offline --find-links /cache tf-keras~=2.21.0")
    assert json.loads((tmp_path / "envs" / envs.spec_hash(spec) / "spec.json").read_text())["keras"] == "2"


def test_a_failed_tf_keras_install_names_environment_keras():
    spec = envs.spec_of(ENV2, "py", "2.21.0")
    err = envs.explain_failure(spec, "× No solution found when resolving dependencies:\n tf-keras~=2.21.0 unavailable", "")
    assert str(err.problems[0]).startswith("environment.keras: building requirement(s) 'tf-keras~=2.21.0' failed")


# ------------------------------------------------------------------ the script's process
def script_spec(keras: str | None, tmp_path: Path):
    """A real JobSpec of a script run whose environment asks for `keras`."""
    from trainkit.records.spec import JobSpec

    config = validate_free([*SCRIPT, f"environment.keras={'null' if keras is None else keras}"])
    return JobSpec(run_id="20261207-101500-ab12cd", experiment="k", run_dir=str(tmp_path), workspace=str(tmp_path),
                   config=config, overrides=[], config_hash="0", dataset={}, project_root="/proj")


@pytest.mark.parametrize("keras", ["2", "3", None])
def test_only_a_keras2_script_gets_legacy_keras_and_the_shim_first_on_its_path(keras, tmp_path, monkeypatch):
    from trainkit.records.workspace import RunPaths
    from trainkit.worker.script import script_env

    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    env = script_env(script_spec(keras, tmp_path), RunPaths(tmp_path), tmp_path / "code")
    path = env["PYTHONPATH"].split(os.pathsep)
    if is_keras2({"keras": keras}):
        assert env["TF_USE_LEGACY_KERAS"] == "1" and path[0] == str(PATH) and str(tmp_path / "code") in path
    else:
        assert "TF_USE_LEGACY_KERAS" not in env and str(PATH) not in path


FAKE_TF_KERAS = {   # what the hooks touch of tf_keras, nothing more
    "tf_keras/__init__.py": "from tf_keras import layers, utils\n__version__ = '2.99.0'\n",
    "tf_keras/layers/__init__.py": "class Dense: pass\n",
    "tf_keras/utils/__init__.py": "",
    "tf_keras/src/__init__.py": "",
    "tf_keras/src/utils/__init__.py": "",
    "tf_keras/src/utils/np_utils.py": "def to_categorical(y, n): return [[int(i == v) for i in range(n)] for v in y]\n",
    "tf_keras/optimizers/__init__.py": "from tf_keras.src.optimizers.rmsprop import RMSprop\nfrom tf_keras.optimizers import schedules\n",
    "tf_keras/optimizers/schedules.py": "class InverseTimeDecay:\n    def __init__(self, rate, decay_steps, decay_rate):\n"
                                        "        self.args = (rate, decay_steps, decay_rate)\n",
    "tf_keras/src/optimizers/__init__.py": "from tf_keras.src.optimizers import optimizer as base_optimizer\n"
                                           "from tf_keras.src.optimizers import rmsprop\n",
    "tf_keras/src/optimizers/optimizer.py": "class Optimizer:\n    def __init__(self, **kwargs):\n"
                                            "        if kwargs: raise TypeError(f'unexpected {sorted(kwargs)}')\n",
    "tf_keras/src/optimizers/rmsprop.py": "from tf_keras.src.optimizers.optimizer import Optimizer\n"
                                          "class RMSprop(Optimizer):\n    def __init__(self, learning_rate=0.001, rho=0.9, **kw):\n"
                                          "        super().__init__(**kw)\n        self.learning_rate = learning_rate\n",
    "other/sitecustomize.py": "import builtins; builtins.OTHER_SITECUSTOMIZE = True\n",
}


def run_with_shim(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    for rel, text in FAKE_TF_KERAS.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    path = os.pathsep.join([str(PATH), str(tmp_path), str(tmp_path / "other")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": path})


def test_import_keras_is_tf_keras_one_module_per_name(tmp_path):
    res = run_with_shim(tmp_path, """
        import builtins, tf_keras, keras
        from keras.layers import Dense
        from keras.utils import np_utils
        import keras.utils.np_utils as moved
        assert keras is tf_keras and Dense is tf_keras.layers.Dense and keras.__version__ == '2.99.0'
        assert keras.__spec__.name == 'tf_keras' and tf_keras.layers.__spec__.name == 'tf_keras.layers'
        assert np_utils is moved and np_utils.to_categorical([1], 2) == [[0, 1]]
        assert builtins.OTHER_SITECUSTOMIZE            # the sitecustomize ours hides still ran
        try:
            import keras.nothing_like_this
        except ModuleNotFoundError as e:
            print(e)
    """)
    assert res.returncode == 0, res.stderr
    assert "No module named 'keras.nothing_like_this' (Keras 2 is tf_keras here:" in res.stdout


def test_keras2_optimizer_arguments_are_taken_with_one_warning_line(tmp_path):
    res = run_with_shim(tmp_path, """
        from keras.optimizers import RMSprop
        print(RMSprop(lr=0.25).learning_rate, RMSprop(0.5, rho=0.8).learning_rate)
        print(RMSprop(lr=0.1, decay=0.01).learning_rate.args, RMSprop(decay=0.0).learning_rate)
        try:
            RMSprop(lr=0.1, learning_rate=0.2)
        except TypeError as e:
            print(e)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["0.25 0.5", "(0.1, 1, 0.01) 0.001",
                                       "RMSprop: got lr=0.1 and learning_rate=0.2; expected one of them"]
    assert res.stderr.splitlines() == [
        "trainkit (environment.keras=2): RMSprop: lr=0.25 as learning_rate=0.25, as Keras 2 did",
        "trainkit (environment.keras=2): RMSprop: lr=0.1 as learning_rate=0.1; decay=0.01 as learning_rate / "
        "(1 + 0.01 * iterations), as Keras 2 did",
        "trainkit (environment.keras=2): RMSprop: decay=0.0 (no decay), as Keras 2 did"]


def test_decay_with_a_schedule_is_refused_not_guessed(capsys):
    with pytest.raises(ValueError, match="Adam: got decay=0.1 with a learning-rate schedule"):
        hooks.keras2_learning_rate("Adam", lambda step: 0.1, 0.001, None, 0.1, schedule=lambda r, d: None)
    assert hooks.keras2_learning_rate("SGD", 0.3, 0.01, lr=0.3) == 0.3     # lr equal to learning_rate: fine
    assert capsys.readouterr().err.count("\n") == 1


# ------------------------------------------------------------------ what a script saved
def h5(path: Path, whole: bool) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        if whole:
            f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
    return path


def test_saved_formats_are_told_apart_by_their_files(tmp_path):
    from trainkit.keras2_shim.formats import locate, relative

    out = tmp_path / "outputs" / "model"
    out.mkdir(parents=True)
    arch = out / "model.json"
    arch.write_text(json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
    (out / "metrics.json").write_text("{}")                      # not a model's JSON
    weights = h5(out / "model.h5", whole=False)
    whole = h5(tmp_path / "outputs" / "whole.h5", whole=True)
    (tmp_path / "m.keras").write_bytes(b"zip")
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"pb")
    pair = {"format": "json+weights", "model": arch, "weights": weights}
    assert locate(out) == pair and locate(arch) == pair and locate(weights) == pair
    assert locate(whole) == {"format": "h5", "model": whole}
    assert locate(tmp_path / "m.keras")["format"] == "keras" and locate(tmp_path / "sm")["format"] == "saved_model"
    assert locate(tmp_path / "missing.keras") is None and locate(tmp_path) is None
    assert relative(pair, tmp_path) == {"format": "json+weights",
                                        "files": ["outputs/model/model.json", "outputs/model/model.h5"]}


def test_a_checkpoint_prefix_counts_as_weights_and_a_json_without_weights_is_refused(tmp_path):
    from trainkit.keras2_shim.formats import locate

    arch = tmp_path / "net.json"
    arch.write_text(json.dumps({"class_name": "Functional", "config": {}}))
    with pytest.raises(ConfigError, match=r"net.json is a model's JSON; expected one weights file beside it "
                                          r"\(net.h5, net.weights.h5 or the checkpoint net.index\), got none"):
        locate(arch)
    (tmp_path / "net.index").write_bytes(b"")
    assert locate(arch) == {"format": "json+weights", "model": arch, "weights": tmp_path / "net"}


def test_the_keras2_version_check_reads_tf_keras_and_skips_probes_that_ran_before_the_build():
    from trainkit.envinfo import version_mismatches

    env = {"name": "tensorflow-2.21-keras2-cpu", "tensorflow": "2.21", "keras": "2"}
    probe = {"tensorflow": "2.21.0", "keras": "3.15.1"}                      # the base interpreter, before the build
    assert version_mismatches(env, probe, "host a") == []
    assert version_mismatches(env, {**probe, "tf_keras": "2.21.0"}) == []
    assert version_mismatches(env, {**probe, "tf_keras": None}) == [
        "environment.keras: preset 'tensorflow-2.21-keras2-cpu' expects 2, installed is None"]
