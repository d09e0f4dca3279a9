"""trainkit's Azure ML SDK v1 layer without TensorFlow: what a notebook's objects become (overrides,
notes, sweeper configs), the shapes Azure returned (metrics, statuses, file names), what raises
NotImplementedError naming the trainkit equivalent, and the refusal to shadow a real azureml."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainkit.shimpath import PATH as SHIM

from ..conftest import ROOT, write_idx_set


@pytest.fixture
def az(workspace, monkeypatch, tmp_path):
    """`import azureml` as a notebook with the extension loaded sees it (the shim first on sys.path)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(SHIM))
    for name in [m for m in sys.modules if m == "azureml" or m.startswith("azureml.")]:
        monkeypatch.delitem(sys.modules, name)
    import azureml.core

    yield azureml
    for name in [m for m in sys.modules if m == "azureml" or m.startswith("azureml.")]:
        del sys.modules[name]


@pytest.fixture
def ws(az):
    from azureml.core import Workspace

    return Workspace.from_config()


def registered(ws, tmp_path, name="mnist-dataset"):
    """A FileDataset of real (tiny) IDX files uploaded to the default datastore, registered."""
    from azureml.core import Dataset

    files = write_idx_set(tmp_path / "idx")
    store = ws.get_default_datastore()
    store.upload(src_dir=str(files["t10k-images-idx3-ubyte.gz"].parent), target_path="mnist", show_progress=False)
    return Dataset.File.from_files(path=(store, "mnist")).register(ws, name)


# ------------------------------------------------------------------ ScriptRunConfig -> overrides
def test_script_run_config_overrides_dataset_environment_compute_and_horovod(ws, tmp_path):
    from azureml._submit import arguments_override, plan_script
    from azureml.core import Environment, Experiment, ScriptRunConfig
    from azureml.core.runconfig import MpiConfiguration

    ds = registered(ws, tmp_path)
    (tmp_path / "azureml.yaml").write_text("clusters:\n  gpu-cluster: {compute: local, slots: 2}\n")
    src = ScriptRunConfig(source_directory=".", script="train.py",
                          arguments=["--data-folder", ds.as_named_input("mnist").as_mount(), "--lr", 0.01, "it's ${x}"],
                          compute_target="gpu-cluster", environment=Environment.get(ws, "AzureML-TensorFlow-2.3-GPU"),
                          distributed_job_config=MpiConfiguration(process_count_per_node=2, node_count=2))
    plan = plan_script(Experiment(ws, "Tutorial TF"), src)
    assert plan.overrides == [
        "entry=script", "entry.script='train.py'", "entry.azureml_compat=true", "entry.model_path=null",
        "run.experiment=Tutorial-TF", "run.resume=never", "run.snapshot_source=false",
        "environment=tensorflow-2.21-keras2-gpu", "compute=local", "compute.slots=2",
        "distribution=horovod", "distribution.processes=4", "compute.nodes=2", "compute.tasks_per_node=2",
        "dataset=mnist-dataset", "dataset.version=1", "++environment.env_vars.TRAINKIT_DATASET_INPUT='mnist'"]
    assert arguments_override(plan.items) == \
        "entry.arguments=['--data-folder','${dataset.path}','--lr','0.01','it\\'s \\${x}']"
    assert plan.arguments == ["--data-folder", "DatasetConsumptionConfig:mnist", "--lr", "0.01", "it's ${x}"]
    assert plan.keras == "2" and any("TensorFlow 2.3 came with Keras 2" in n for n in plan.notes)


def test_the_overrides_compose_to_the_run_the_notebook_asked_for(ws, tmp_path):
    """What Hydra and trainkit's validation make of them: the script's arguments resolve as given."""
    from azureml._datasets import searchpath
    from azureml._submit import arguments_override, plan_script
    from azureml.core import Experiment, ScriptRunConfig
    from azureml.core.runconfig import TensorflowConfiguration

    from trainkit.config.compose import compose_job

    ds = registered(ws, tmp_path)
    (tmp_path / "train.py").write_text("print('hi')\n")
    src = ScriptRunConfig(source_directory=str(tmp_path), script="train.py",
                          arguments=["--data", ds.as_mount(), "--note", "it's ${x} a\\"],
                          distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0))
    plan = plan_script(Experiment(ws, "exp"), src)
    cfg = compose_job([*plan.overrides, arguments_override(plan.items), f"entry.source_dir={tmp_path}",
                       *searchpath(ws._tk.root)])
    assert cfg["entry"]["arguments"] == ["--data", "<dataset.path>", "--note", "it's ${x} a\\"]
    assert cfg["distribution"]["name"] == "multi_worker_mirrored" and cfg["distribution"]["workers"] == 2
    assert (cfg["compute"]["nodes"], cfg["compute"]["tasks_per_node"]) == (2, 1)
    assert cfg["dataset"]["name"] == "mnist-dataset" and cfg["dataset"]["version"] == 1


def test_tensorflow_configuration_keeps_azures_default_of_one_parameter_server(ws):
    from azureml._mapping import distribution
    from azureml.core.runconfig import TensorflowConfiguration

    cfg = TensorflowConfiguration(worker_count=2)
    assert distribution("tensorflow", 1, 1, cfg.worker_count, cfg.parameter_server_count)[0] == [
        "distribution=parameter_server", "distribution.workers=2", "distribution.ps=1"]


def test_environment_pins_of_azures_images_map_as_migrate_maps_them_each_change_a_note(ws, tmp_path):
    from azureml.core import Environment

    spec = tmp_path / "conda_dependencies.yml"
    spec.write_text("channels: [conda-forge]\ndependencies:\n- python=3.7\n- pip:\n  - azureml-defaults\n"
                    "  - tensorflow==2.2.0\n  - keras<=2.3.1\n  - h5py<=2.10.0\n  - not-in-the-base==1.2\n")
    env = Environment.from_conda_specification("tf22", str(spec))
    env.docker.base_image = "mcr.microsoft.com/azureml/openmpi3.1.2-cuda10.1-cudnn7-ubuntu18.04"
    choice, _ = env._choice()
    assert choice.preset() == "tensorflow-2.21-keras2-gpu" and choice.pip == ["not-in-the-base==1.2"]
    notes = "\n".join(choice.notes)
    for text in ("python=3.7: trainkit's environments use Python 3.11", "azureml-defaults: not needed",
                 "tensorflow==2.2.0: TensorFlow 2.2 came with Keras 2", "keras<=2.3.1: Keras 2",
                 "h5py<=2.10.0: the base environment has h5py", "Docker image mcr.microsoft.com/azureml/openmpi3.1.2"):
        assert text in notes, notes
    assert "not-in-the-base" not in notes                       # honoured as written


# ------------------------------------------------------------------ the shapes Azure returned
def test_get_metrics_is_a_scalar_for_one_value_a_list_for_several():
    from trainkit.azureml_shim.azureml._records import metrics_of

    rows = [{"step": 0, "loss": 0.5, "time": 1}, {"step": 1, "loss": 0.25, "time": 2}, {"step": 0, "final": 0.9},
            {"step": 0, "image": "plot", "path": "logs/images/plot/0.png"}, {"step": 0, "tbl/a": 1}]
    assert metrics_of(rows) == {"loss": [0.5, 0.25], "final": 0.9, "plot": "logs/images/plot/0.png", "tbl/a": 1}


@pytest.mark.parametrize("state,azure", [("completed", "Completed"), ("failed", "Failed"), ("cancelled", "Canceled"),
                                         ("pruned", "Canceled"), ("queued", "Queued"), ("running", "Running")])
def test_get_status_answers_in_azures_words(ws, state, azure):
    from azureml.core import Experiment, Run

    from trainkit.records.runs import write_status
    from trainkit.records.workspace import RunPaths

    paths = RunPaths(ws._tk.paths.run_dir("exp", "20260101-000000-abcdef"))
    paths.root.mkdir(parents=True)
    write_status(paths, state, pid=os.getpid(), host=os.uname().nodename)
    run = Run(Experiment(ws, "exp"), "20260101-000000-abcdef")
    assert run.get_status() == azure and run.number == 1


def test_file_names_are_the_scripts_files_with_the_driver_logs_under_their_azure_names(tmp_path):
    from trainkit.azureml_shim.azureml._records import file_names, resolve

    for rel in ("outputs/model/saved_model.pb", "logs/stdout.log", "logs/rank-1.log", "logs/console.log",
                "status.json", "code/train.py", "job_spec.json", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert file_names(tmp_path, 2) == ["azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt",
                                       "logs/console.log", "logs/rank-1.log", "logs/stdout.log", "notes.txt",
                                       "outputs/model/saved_model.pb"]
    assert resolve(tmp_path, "azureml-logs/70_driver_log_1.txt", 2) == tmp_path / "logs" / "rank-1.log"
    assert file_names(tmp_path, 1)[0] == "azureml-logs/70_driver_log.txt"
    assert resolve(tmp_path, "status.json", 1) is None and resolve(tmp_path, "../x", 1) is None


# ------------------------------------------------------------------ datasets, datastores, compute targets
def test_a_registered_dataset_is_a_trainkit_dataset_and_an_unknown_name_a_user_error(ws, tmp_path):
    from azureml.core import Dataset
    from azureml.exceptions import UserErrorException

    ds = registered(ws, tmp_path)
    assert (ds.name, ds.version) == ("mnist-dataset", 1)
    config = (ws._tk.root / "azureml" / "conf" / "dataset" / "mnist-dataset.yaml").read_text()
    assert "format: idx" in config and f"file://{ws._tk.root}/azureml/datastores/workspaceblobstore/mnist/" in config
    again = Dataset.get_by_name(ws, "mnist-dataset", version=1)
    assert sorted(again.to_path()) == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz",
                                       "/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz"]
    got = again.download(target_path=str(tmp_path / "copy"))
    assert sorted(Path(p).name for p in got) == sorted(p.lstrip("/") for p in again.to_path())
    assert list(ws.datasets) == ["mnist-dataset"]
    with pytest.raises(UserErrorException, match="Cannot find dataset registered with name 'nope'"):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(UserErrorException, match="version: 2"):
        Dataset.get_by_name(ws, "mnist-dataset", version=2)
    other = Dataset.File.from_files(path=[f"file://{tmp_path}/idx/t10k-images-idx3-ubyte.gz"])
    with pytest.raises(UserErrorException, match="already a dataset registered under name 'mnist-dataset'"):
        other.register(ws, "mnist-dataset")


def test_a_cluster_name_maps_through_azureml_yaml_and_an_unknown_one_raises(ws, tmp_path):
    from azureml.core.compute import AmlCompute, ComputeTarget
    from azureml.core.compute_target import ComputeTargetException

    with pytest.raises(ComputeTargetException, match="'gpu-cluster' is not in azureml.yaml"):
        ComputeTarget(workspace=ws, name="gpu-cluster")
    ws._tk.root.mkdir(parents=True, exist_ok=True)
    (ws._tk.root / "azureml.yaml").write_text("clusters:\n  gpu-cluster: {compute: slurm, partition: gpu}\n")
    target = ComputeTarget(workspace=ws, name="gpu-cluster")
    assert (type(target).__name__, target.compute, target.type) == ("AmlCompute", "slurm", "AmlCompute")
    made = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=3))
    assert made.compute == "local" and made.get_status().serialize()["scaleSettings"]["maxNodeCount"] == 3
    assert sorted(ws.compute_targets) == ["cpu", "gpu-cluster"]
    (tmp_path / "azureml.yaml").write_text("clusters:\n  gpu-cluster: local\n")   # the project's wins
    assert ComputeTarget(workspace=ws, name="gpu-cluster").compute == "local"


# ------------------------------------------------------------------ HyperDrive
def test_hyperdrive_space_policy_and_sampling_become_the_sweepers_config(ws):
    from azureml._hyperdrive import defaults, search_config, space
    from azureml._mapping import sweep_items
    from azureml.core import ScriptRunConfig
    from azureml.train.hyperdrive import (BanditPolicy, GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal,
                                          TruncationSelectionPolicy, choice, loguniform, quniform)

    ps = {"--batch-size": choice(32, 64), "learning_rate": loguniform(-6, -1), "--units": quniform(32, 128, 32)}
    items, names = sweep_items(["--batch-size", "64", "--epochs", "2"], ps)
    assert items == ["--batch-size", "${params.batch_size}", "--epochs", "2", "--learning_rate",
                     "${params.learning_rate}", "--units", "${params.units}"]
    params, notes = space(ps, names)
    assert params["params.batch_size"] == {"type": "choice", "choices": [32, 64]}
    assert params["params.units"] == {"type": "int", "low": 32, "high": 128, "step": 32}
    assert params["params.learning_rate"]["type"] == "log_interval" and "natural-log bounds" in notes[0]
    assert defaults(["--batch-size", "64"], params, names) == {"batch_size": "64", "learning_rate": pytest.approx(0.00248, 1e-2),
                                                               "units": 32}
    hd = HyperDriveConfig(run_config=ScriptRunConfig(".", "t.py"), hyperparameter_sampling=GridParameterSampling(ps),
                          policy=BanditPolicy(evaluation_interval=2, slack_amount=0.05, delay_evaluation=4),
                          primary_metric_name="val_loss", primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
                          max_total_runs=6, max_concurrent_runs=3, resume_child_runs=["20260101-000001-bbbbbb"])
    data, _ = search_config(hd, "s", params, {})
    assert data["hydra"]["sweeper"]["warm_start"] == ["20260101-000001-bbbbbb"]
    sweeper = data["hydra"]["sweeper"]
    assert sweeper["pruner"] == {"name": "bandit", "evaluation_interval": 2, "slack_amount": 0.05, "delay_evaluation": 4}
    assert (sweeper["sampler"], sweeper["direction"], sweeper["n_trials"], sweeper["n_jobs"]) == ("grid", "minimize", 6, 3)
    truncation = TruncationSelectionPolicy(truncation_percentage=20, exclude_finished_jobs=True).pruner()
    assert truncation[0]["truncation_percentage"] == 20 and "exclude_finished_jobs" in truncation[1]


def test_warm_start_takes_earlier_sweeps_and_trials_ids(ws):
    from types import SimpleNamespace

    from azureml._hyperdrive import warm_start

    hd = SimpleNamespace(resume_from=[SimpleNamespace(id="20260101-000000-aa-exp")],
                         resume_child_runs=[SimpleNamespace(id="20260101-000001-bbbbbb"), "20260101-000002-cccccc"])
    assert warm_start(hd) == ["20260101-000000-aa-exp", "20260101-000001-bbbbbb", "20260101-000002-cccccc"]


# ------------------------------------------------------------------ not supported: say what to use
@pytest.mark.parametrize("call,instead", [
    (lambda az: az.core.Run._of(api=None, ctx=object()).restore_snapshot, "<run>/code"),
    (lambda az: az.core.Environment("e").build, "environment.pip"),
    (lambda az: az.core.Datastore.register_azure_blob_container, "a folder or URL as a dataset source"),
    (lambda az: az.core.runconfig.PyTorchConfiguration(), "distribution=horovod"),
    (lambda az: az.core.ScriptRunConfig(".", command=["python", "t.py"]), "entry.script"),
    (lambda az: az.train.dnn.Gloo(), "distribution=horovod"),
    (lambda az: az.core.Dataset.Tabular.from_sql_query("q"), "CSV or Parquet"),
])
def test_what_is_not_supported_raises_not_implemented_naming_the_equivalent(az, ws, call, instead):
    import importlib

    importlib.import_module("azureml.core.runconfig")
    importlib.import_module("azureml.train.dnn")
    with pytest.raises(NotImplementedError, match=instead.replace("(", r"\(").replace(".", r"\.")):
        value = call(az)
        value() if callable(value) else None


def test_an_unsupported_member_is_not_an_attribute_error_but_a_typo_is(ws):
    from azureml.core import Experiment

    exp = Experiment(ws, "e")
    with pytest.raises(NotImplementedError, match="the trainkit equivalent: trainkit runs delete RUN"):
        exp.archive()
    with pytest.raises(AttributeError, match="no attribute 'archiv'"):
        exp.archiv()


def test_a_normal_distribution_is_refused_at_submission_naming_the_sweepers_kinds(ws):
    from azureml._hyperdrive import space
    from azureml.train.hyperdrive import normal

    with pytest.raises(NotImplementedError, match="choice.*uniform/loguniform/quniform/qloguniform/randint"):
        space({"--lr": normal(0.1, 0.01)}, {"lr": "--lr"})


def test_telemetry_is_a_no_op(az):
    from azureml.telemetry import set_diagnostics_collection

    assert set_diagnostics_collection(send_diagnostics=True) is None


# ------------------------------------------------------------------ activation, and never over a real azureml
def fake_azureml(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "azureml" / "core").mkdir(parents=True)
    (site / "azureml" / "__init__.py").write_text("")
    (site / "azureml" / "core" / "__init__.py").write_text("REAL = True\n")
    return site


def python(code: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRAINKIT_AZUREML")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}, cwd=ROOT)


def test_load_ext_refuses_to_shadow_a_real_azureml_and_changes_nothing(tmp_path):
    site = fake_azureml(tmp_path)
    code = ("import trainkit.azureml as a\ntry:\n    a.load_ipython_extension(None)\nexcept a.RealAzureMLInstalled as e:\n"
            "    print('REFUSED', e)\nimport azureml.core\nprint('REAL', azureml.core.REAL)")
    res = python(code, {"PYTHONPATH": str(site), "TRAINKIT_WORKSPACE": str(tmp_path / "ws")})
    assert res.returncode == 0, res.stderr
    assert f"REFUSED a real Azure ML SDK is installed ({site / 'azureml'})" in res.stdout
    assert "REAL True" in res.stdout


def test_load_ext_activates_without_a_real_azureml(tmp_path):
    res = python("import trainkit.azureml as a\na.load_ipython_extension(None)\nimport azureml.core\n"
                 "print(azureml.core.__file__)\nprint(a.settings.fix_scripts)",
                 {"TRAINKIT_WORKSPACE": str(tmp_path / "ws")})
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1:] == [str(SHIM / "azureml" / "core" / "__init__.py"), "True"]
    assert f"workspace {tmp_path / 'ws'}" in res.stdout.splitlines()[0]


def test_the_pth_line_activates_only_with_the_variable_and_never_over_a_real_azureml(tmp_path):
    line = (SHIM / "trainkit_azureml.pth").read_text()
    code = f"exec({line!r})\nimport importlib.util\ns = importlib.util.find_spec('azureml')\nprint(s and s.origin)"
    assert python(code, {}).stdout.strip() == "None"
    on = python(code, {"TRAINKIT_AZUREML": "1"})
    assert on.stdout.strip() == str(SHIM / "azureml" / "__init__.py") and on.stderr == ""
    real = python(code, {"TRAINKIT_AZUREML": "1", "PYTHONPATH": str(fake_azureml(tmp_path))})
    assert real.stdout.strip() == str(tmp_path / "site" / "azureml" / "__init__.py")
    assert "a real Azure ML SDK is installed" in real.stderr and real.returncode == 0


def test_the_package_build_puts_the_pth_at_the_top_of_site_packages(tmp_path, monkeypatch):
    import importlib.util

    from setuptools import Distribution

    monkeypatch.chdir(ROOT)
    spec = importlib.util.spec_from_file_location("trainkit_setup", ROOT / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)
    cmd = setup.build_py_with_pth(Distribution({"name": "t", "packages": []}))
    cmd.build_lib = str(tmp_path)
    cmd.ensure_finalized()
    cmd.run()
    assert (tmp_path / "trainkit_azureml.pth").read_text() == (SHIM / "trainkit_azureml.pth").read_text()
    assert str(tmp_path / "trainkit_azureml.pth") in cmd.get_outputs()
    written = {}

    class Wheel:
        def writestr(self, name, data):
            written[name] = data

    class Strategy:   # setuptools' own strategy (the one seam): writes its __editable__ .pth
        def __call__(self, wheel, files, mapping):
            wheel.writestr("__editable__.t.pth", b"x")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    from setuptools.command.editable_wheel import editable_wheel

    monkeypatch.setattr(editable_wheel, "_select_strategy", lambda self, *a, **k: Strategy())
    command = setup.editable_wheel_with_pth()(Distribution({"name": "t", "packages": []}))
    with command._select_strategy("t", "py3-none-any", str(tmp_path)) as strategy:
        strategy(Wheel(), [], {})
    assert written == {"__editable__.t.pth": b"x", "trainkit_azureml.pth": (SHIM / "trainkit_azureml.pth").read_bytes()}


def test_an_azureml_json_round_trip_of_the_submission_record(tmp_path):
    """What the notebook submitted is kept beside the run for get_details (runDefinition)."""
    from trainkit.azureml_shim.azureml._records import run_definition

    config = {"entry": {"script": "t.py", "arguments": ["--data", "<dataset.path>", "--n", "3"]},
              "dataset": {"name": "mnist"}, "distribution": {"name": "horovod", "processes": 2},
              "compute": {"name": "local"}, "environment": {"name": "tensorflow-2.21-cpu"}}
    got = run_definition(config, {})
    assert got["arguments"] == ["--data", "DatasetConsumptionConfig:mnist", "--n", "3"]
    assert (got["script"], got["communicator"], got["target"]) == ("t.py", "Mpi", "local")
    assert run_definition(config, json.loads(json.dumps({"input_name": "x"})))["arguments"][1] == \
        "DatasetConsumptionConfig:x"
    config["environment"]["env_vars"] = {"TRAINKIT_DATASET_INPUT": "digits"}   # a HyperDrive trial's own config
    assert run_definition(config, {})["arguments"][1] == "DatasetConsumptionConfig:digits"


def test_an_interactive_run_of_the_notebook_is_a_trainkit_run(ws):
    """exp.start_logging(): what the notebook logs is a run of the experiment until it completes."""
    from azureml.core import Experiment

    from trainkit.api.workspace import Workspace

    with Experiment(ws, "summary").start_logging(snapshot_directory=None) as summary:
        summary.log_row("grid", run_id="20260101-000001-bbbbbb", val_accuracy=0.9)
        summary.log_row("grid", run_id="20260101-000002-cccccc", val_accuracy=0.8)
        summary.log("best", 0.9)
        summary.tag("summary_of", "sweep-1")
        assert summary.get_status() == "Running"
    assert summary.get_status() == "Completed"
    assert summary.get_metrics() == {"grid/run_id": ["20260101-000001-bbbbbb", "20260101-000002-cccccc"],
                                     "grid/val_accuracy": [0.9, 0.8], "best": 0.9}
    assert summary.get_tags() == {"summary_of": "sweep-1"}
    [run] = Workspace().runs(experiment="summary")
    assert run.id == summary.id and run.status == "completed"
    exp = Experiment(ws, "summary")
    assert [r.id for r in exp.get_runs(tags="summary_of")] == [summary.id]
    assert [r.id for r in exp.get_runs(tags={"summary_of": "sweep-1"})] == [summary.id]
    assert list(exp.get_runs(tags={"summary_of": "other"})) == [] and list(exp.get_runs(tags="nope")) == []


def test_the_tensorflow_estimator_runs_as_the_script_run_config_it_stands_for(ws, tmp_path):
    from azureml._submit import arguments_override, plan_script
    from azureml.core import Experiment
    from azureml.data import OutputFileDatasetConfig
    from azureml.train.dnn import Mpi, TensorFlow

    ds = registered(ws, tmp_path)
    out = OutputFileDatasetConfig(destination=(ws.get_default_datastore(), "results"))
    est = TensorFlow(source_directory=".", entry_script="train.py", compute_target="local",
                     script_params={"--batch-size": 50, "--verbose": "", "--out": out},
                     pip_packages=["keras"], framework_version="2.1", use_gpu=True,
                     distributed_training=Mpi(process_count_per_node=2), inputs=[ds.as_named_input("digits")])
    plan = plan_script(Experiment(ws, "est"), est._script_run_config())
    assert "environment=tensorflow-2.21-keras2-gpu" in plan.overrides
    assert ["distribution=horovod", "distribution.processes=2"] == [o for o in plan.overrides if o.startswith("distr")]
    assert plan.overrides[-3:] == ["dataset=mnist-dataset", "dataset.version=1",
                                   "++environment.env_vars.TRAINKIT_DATASET_INPUT='digits'"]
    results = ws._tk.root / "azureml" / "datastores" / "workspaceblobstore" / "results"
    assert arguments_override(plan.items) == f"entry.arguments=['--batch-size','50','--verbose','--out','{results}']"
    assert results.is_dir()


def test_authentication_objects_are_accepted_and_ask_for_nothing(az):
    from azureml.core import Workspace
    from azureml.core.authentication import InteractiveLoginAuthentication

    auth = InteractiveLoginAuthentication(tenant_id="t")
    assert Workspace.from_config(auth=auth).location == "local"
    with pytest.raises(NotImplementedError, match="the trainkit workspace is local"):
        auth.get_authentication_header()
