"""The real config tree composes, and bad overrides fail fast (exit 2, no TF, no run dir)."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainkit.config.validate import check_config, validate
from trainkit.errors import ConfigError

from ..conftest import compose, run_trainkit


@pytest.mark.parametrize("experiment,dataset", [("mnist_dnn", "mnist"), ("fashion_mnist_dnn", "fashion_mnist")])
def test_every_experiment_composes_and_validates(experiment, dataset):
    cfg = validate(compose([f"+experiment={experiment}"]))
    assert cfg["dataset"]["name"] == dataset
    assert cfg["model"]["hidden"] == {"mnist_dnn": [300, 100], "fashion_mnist_dnn": [400, 200]}[experiment]
    assert cfg["model"]["_target_"] == "trainkit.models.mnist_dnn.build"
    assert cfg["run"]["experiment"] == experiment
    assert cfg["trainer"]["epochs"] == {"mnist_dnn": 20, "fashion_mnist_dnn": 30}[experiment]
    assert [f["role"] for f in cfg["dataset"]["files"]] == ["train_images", "train_labels", "test_images", "test_labels"]


def test_default_and_debug_smoke_compose():
    cfg = validate(compose(["+debug=smoke"]))
    assert cfg["dataset"]["name"] == "fashion_mnist"   # the offline default
    assert cfg["trainer"]["epochs"] == 1 and cfg["dataset"]["limit_train"] == 3000
    assert cfg["compute"]["name"] == "local" and cfg["distribution"]["name"] == "single"


def test_environment_presets_compose():
    for env in ("tensorflow-2.21-cpu", "tensorflow-2.21-gpu"):
        assert validate(compose([f"environment={env}"]))["environment"]["name"] == env


def test_cross_field_checks_report_every_problem_at_once():
    cfg = validate(compose())
    cfg["trainer"]["epochs"] = 0
    cfg["trainer"]["optimizer"] = "adagradd"
    cfg["trainer"]["optimizer_args"] = {"learning_rate": 0.1}
    cfg["model"]["dropot"] = 0.5
    cfg["distribution"] = {"name": "multi_worker_mirrored", "workers": 5, "communication": "auto"}
    problems = check_config(cfg)
    assert "trainer.epochs: expected an integer >= 1, got 0" in problems
    assert any(p.startswith("trainer.optimizer: expected a Keras optimizer name (adadelta, ") and "'adagradd'" in p
               for p in problems)
    assert any(p.startswith("trainer.optimizer_args.learning_rate: expected it unset") for p in problems)
    assert any(p.startswith("model.dropot: not an argument of trainkit.models.mnist_dnn.build (it takes: "
                            "input_shape, num_classes, hidden,") for p in problems)
    assert any("compute.slots=4" in p and "needs 5 processes" in p for p in problems)
    assert "trainer.batch_size: the global batch must split evenly over 5 replicas of " \
           "distribution=multi_worker_mirrored, got 64" in problems
    assert any(p.startswith("trainer.warmup_epochs: expected a number in [0, trainer.epochs=0)") for p in problems)
    assert len(problems) == 7, problems


def test_task_settings_from_keras_names_and_classes():
    ok = validate(compose(["trainer.loss=huber", "+trainer.loss_args={delta: 2.0}",
                           "trainer.metrics=[mae,{name: auc, args: {num_thresholds: 50}}]",
                           "trainer.optimizer=adamw", "+trainer.optimizer_args={weight_decay: 0.004}",
                           "trainer.lr_schedule=cosine", "trainer.warmup_epochs=1", "trainer.mixed_precision=auto"]))
    assert ok["trainer"]["loss_args"] == {"delta": 2.0} and ok["trainer"]["optimizer"] == "adamw"
    cfg = validate(compose())
    cfg["trainer"].update(loss="keras.losses:Huber", loss_args={"deltaa": 1}, lr_schedule="warmup",
                          metrics=["accuracy", {"name": "auc", "args": {"curv": "PR"}}, "nosuch", {"nme": "x"}],
                          mixed_precision="fp8")
    problems = check_config(cfg)
    assert any(p.startswith("trainer.loss_args.deltaa: not an argument of keras.losses:Huber (it takes: ") for p in problems)
    assert any(p.startswith("trainer.metrics[1].args.curv: not an argument of keras.metrics.AUC (it takes: num_thresholds")
               for p in problems)
    assert any(p.startswith("trainer.metrics[2]: expected a Keras metric name (") and "'nosuch'" in p for p in problems)
    assert any(p.startswith("trainer.metrics[3]: expected a name or {name: ..., args: {...}}") for p in problems)
    assert "trainer.warmup_epochs: expected a number > 0 for lr_schedule=warmup, got 0.0" in problems
    assert any(p.startswith("trainer.mixed_precision: expected one of ['off', 'auto'") for p in problems)
    assert len(problems) == 6, problems


def test_registry_defaults_follow_the_workspace_and_experiment(workspace):
    cfg = validate(compose(["+experiment=fashion_mnist_dnn"]))
    assert cfg["registry"]["root"] == f"{workspace}/models"
    assert cfg["registry"]["enabled"] is True and cfg["registry"]["model_name"] is None
    assert cfg["export"]["onnx"] == {"enabled": True, "opset": 17, "parity_samples": None,
                                     "max_abs_diff": 1e-5, "min_argmax_agreement": 1.0}
    cfg["registry"]["aliases"] = ["production", "7", "a/b"]
    problems = check_config(cfg)
    assert [p.split(":")[0] for p in problems] == ["registry.aliases[1]", "registry.aliases[2]"]


def test_custom_environment_needs_a_requirements_file(tmp_path):
    with pytest.raises(ConfigError, match="environment.requirements_file: expected an existing"):
        validate(compose(["environment=custom"]))
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n")
    assert validate(compose(["environment=custom", f"environment.requirements_file={req}"]))


@pytest.fixture
def poisoned_tensorflow(tmp_path) -> dict:
    """A PYTHONPATH on which `import tensorflow` fails loudly, to prove config errors never import it."""
    pkg = tmp_path / "poison" / "tensorflow"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('TENSORFLOW WAS IMPORTED')\n")
    return {"PYTHONPATH": str(pkg.parent)}


@pytest.mark.parametrize("override,expected", [
    ("trainer.epochz=3", ["trainer.epochz: expected a key of trainer (epochs,", "(did you mean trainer.epochs?)"]),
    ("+trainer.epochz=3", ["trainer.epochz: unknown key of TrainerConfig (did you mean trainer.epochs?)"]),
    ("trainer.checkpoint.kep=3", ["(did you mean trainer.checkpoint.keep?)"]),
    ("model=mnist_dnnn", ["got 'mnist_dnnn' (did you mean model=mnist_dnn?)"]),
    ("trainer.epochs=abc", ["trainer.epochs", "'abc'", "could not be converted to Integer"]),
    ("model._target_=???", ["model._target_: expected a value, got ???"]),
    ("model.widht=3", ["model.widht", "not in struct"]),
    ("+model.widht=3", ["model.widht: not an argument of trainkit.models.mnist_dnn.build (it takes: input_shape,"]),
    ("model._target_=nosuchpkg.build", ["model._target_: module 'nosuchpkg' not found"]),
    ("trainer.loss=msee", ["trainer.loss: expected a Keras loss name (", "got 'msee'"]),
    ("distribution=nope", ["distribution=nope: expected an option of config group 'distribution' (horovod,", "got 'nope'"]),
    ("trainer.epochs=-1", ["trainer.epochs: expected an integer >= 1, got -1"]),
    ("trainer.jit_compile=sometimes", ["trainer.jit_compile: expected auto, true or false, got 'sometimes'"]),
    ("dataset=imagenet", ["dataset=imagenet: expected an option of config group 'dataset' (", "fashion_tfrecord, mnist)"]),
    ("-m distribution=single,hvd", ["distribution=hvd: expected an option", "got 'hvd'"]),
    ("registry.model_name=../../etc", ["registry.model_name: expected null or 1-128 letters", "'../../etc'"]),
    ("export.onnx.opset=25", ["export.onnx.opset: expected an integer in [13, 18]", "got 25"]),
    ("distribution=horovod distribution.compression=bf16",
     ["distribution.compression: expected one of none, fp16 (Horovod's allreduce has no bfloat16), got 'bf16'"]),
    ("distribution=multi_worker_mirrored distribution.compression=int8",
     ["distribution.compression: expected one of none, fp16, bf16, got 'int8'"]),
    ("distribution=parameter_server distribution.ps=0", ["distribution.ps: expected an integer >= 1 (parameter server needs a ps"]),
    ("registry.root=nosuchproto://x", ["registry.root: expected a path or an fsspec URL", "'nosuchproto://x'"]),
    ("workspace.root=nosuchproto://bucket/x", ["(1 problem(s))", "workspace.root: expected a path or an fsspec URL",
                                                "'nosuchproto://bucket/x'"]),
])
def test_bad_override_exits_2_fast_without_tensorflow_or_run_dir(override, expected, workspace, poisoned_tensorflow):
    # "Fast" is guaranteed structurally (TensorFlow is never imported), not by a timed assertion.
    proc = run_trainkit(override.split(), env=poisoned_tensorflow)
    assert proc.returncode == 2, proc.stderr
    for text in expected:
        assert text in proc.stderr + proc.stdout
    assert "TENSORFLOW WAS IMPORTED" not in proc.stderr
    assert not Path(workspace).exists(), "a bad override must not create anything"


def test_an_absolute_entry_script_inside_the_source_dir_runs_the_snapshot_copy(tmp_path):
    """Issue 23 item 7: an absolute entry.script inside entry.source_dir ran the original file (its
    later edits, not the run's snapshot); it is now the snapshot's path, relative to <run>/code."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text("print('hi')\n")
    cfg = validate(compose(["entry=script", f"entry.source_dir={tmp_path}", f"entry.script={tmp_path}/pkg/train.py"]))
    assert cfg["entry"]["script"] == "pkg/train.py"
    relative = validate(compose(["entry=script", f"entry.source_dir={tmp_path}", "entry.script=pkg/train.py"]))
    assert relative["entry"]["script"] == "pkg/train.py"
    with pytest.raises(ConfigError, match="outside the source directory"):
        validate(compose(["entry=script", f"entry.source_dir={tmp_path}/pkg", f"entry.script={tmp_path}/other.py"]))
